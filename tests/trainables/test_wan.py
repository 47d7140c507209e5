"""Wan2.1 I2V: real diffusers/transformers classes at tiny sizes, checked against the pipeline it
mirrors (conditioning, image branch, sampling), its LoRA groups and the image branch's adapters.
What every backbone does (shapes, a falling loss, adapters stock diffusers loads, bit-exact
resumes, the hub-layout folder path) is in test_backbone_contract.py."""

import warnings

import numpy as np
import pytest
import torch

from tests.tolerances import assert_latents_close, assert_videos_close
from trainables.backbones import backbone_defaults, backbone_names, load
from trainables.backbones.wan import Wan
from trainables.lora import adapted_modules, add_lora

QKVO = {f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k", "to_v", "to_out.0")}
FF = {"ffn.net.0.proj", "ffn.net.2"}
IMAGE_BRANCH = {"attn2.add_k_proj", "attn2.add_v_proj"}


def video(frames: int = 9, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, size, size, 3), dtype=np.uint8)


def per_block(backbone, suffixes: set[str]) -> set[str]:
    layers = backbone.transformer.config.num_layers
    return {f"blocks.{i}.{s}" for i in range(layers) for s in suffixes}


def train_briefly(backbone, example, steps: int, lr: float, seed: int = 0) -> list[float]:
    """Plain AdamW on the LoRA parameters (no DeepSpeed): the objective alone."""
    batch = {key: torch.stack([value, value]) for key, value in example.items()}
    params = [p for p in backbone.transformer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    backbone.transformer.train()
    losses = []
    for _ in range(steps):
        loss = backbone.loss(backbone.transformer, batch, generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses


# -- LoRA groups -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("group", "suffixes"),
    [
        ("QK", {f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_q", "to_k")}),
        ("VO", {f"{a}.{p}" for a in ("attn1", "attn2") for p in ("to_v", "to_out.0")}),
        ("QKVO", QKVO),
        ("QKVO+FF", QKVO | FF),
        ("all-linear", QKVO | IMAGE_BRANCH | FF),
    ],
)
def test_each_group_adapts_exactly_its_named_modules(group, suffixes):
    backbone = load("wan")
    targets = add_lora(backbone, group, rank=4, alpha=4.0, seed=0)
    assert set(targets) == per_block(backbone, suffixes)
    assert set(adapted_modules(backbone.transformer)) == per_block(backbone, suffixes)


def test_all_linear_leaves_the_embedders_and_projections_outside_the_blocks_alone():
    backbone = load("wan")
    linear = {n for n, m in backbone.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    in_blocks = {n for n in linear if n.startswith("blocks.")}
    outside = linear - in_blocks  # peft's own "all-linear" would also have taken these
    assert "proj_out" in outside
    assert {"condition_embedder.time_proj", "condition_embedder.image_embedder.ff.net.2"} <= outside


def test_attention_groups_cover_cross_attention_but_only_all_linear_the_image_branch():
    backbone = load("wan")
    for group in ("QK", "VO", "QKVO", "QKVO+FF"):
        targets = set(backbone.lora_targets(group))
        assert any(".attn2." in name for name in targets), group
        assert not targets & per_block(backbone, IMAGE_BRANCH), group
    assert "blocks.0.attn2.to_q" in backbone.lora_targets("QKVO")
    assert per_block(backbone, IMAGE_BRANCH) <= set(backbone.lora_targets("all-linear"))


# -- conditioning and the image branch ---------------------------------------------------------
def test_prompt_is_512_tokens_and_the_image_branch_gets_the_clip_tokens():
    backbone = load("wan")
    embeds = backbone.prompt["prompt_embeds"]
    assert embeds.shape == (1, Wan.text_tokens, backbone.transformer.config.text_dim)
    example = backbone.prepare_example(video())
    tokens = (Wan.tiny_clip["image_size"] // Wan.tiny_clip["patch_size"]) ** 2 + 1
    assert example["image_embeds"].shape == (tokens, Wan.tiny_clip["hidden_size"])

    seen: list[int] = []
    hook = backbone.transformer.blocks[0].attn2.add_k_proj.register_forward_hook(
        lambda module, args, output: seen.append(args[0].shape[1])
    )
    batch = {key: value[None] for key, value in example.items()}
    with torch.no_grad():
        a = backbone.loss(backbone.transformer, batch, torch.Generator().manual_seed(0))
        batch["image_embeds"] = torch.randn_like(batch["image_embeds"])
        b = backbone.loss(backbone.transformer, batch, torch.Generator().manual_seed(0))
        # The trap this guards against: a shorter prompt is no error, the image gets 0 tokens.
        backbone.use_prompt({"prompt_embeds": embeds[:, :226].cpu()})
        backbone.loss(backbone.transformer, batch, torch.Generator().manual_seed(0))
    hook.remove()
    assert seen == [tokens, tokens, 0]
    assert not torch.equal(a, b)  # the CLIP features reach the output


def test_training_inputs_are_exactly_what_the_pipeline_feeds_the_transformer():
    backbone = load("wan")
    clip = video()
    example = backbone.prepare_example(clip)
    channels = backbone.vae.config.z_dim
    assert example["latents"].shape == (channels, 3, 4, 4)
    assert example["condition"].shape == (4 + channels, 3, 4, 4)
    # First-frame mask: 1 on the (4 frames of the) first latent frame, 0 after.
    assert example["condition"][:4, 0].eq(1).all() and example["condition"][:4, 1:].eq(0).all()

    calls: list[dict] = []
    hook = backbone.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append(kwargs), with_kwargs=True
    )
    backbone.sample(clip[0], 9, 2, seed=0)
    hook.remove()
    assert len(calls) == 2
    for kwargs in calls:
        assert torch.equal(kwargs["hidden_states"][0, channels:], example["condition"])
        assert torch.equal(kwargs["encoder_hidden_states_image"][0], example["image_embeds"])
        assert kwargs["encoder_hidden_states"].shape[1] == Wan.text_tokens


# -- adapters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["QKVO", "all-linear"])
def test_saved_adapter_loads_into_a_fresh_pipeline_and_reproduces_samples(tmp_path, group):
    """QKVO has no image-branch LoRA: diffusers' Wan loader then adds zero add_k/add_v LoRAs
    (a "T2V LoRA" on an I2V model), which must leave the samples unchanged."""
    trained = load("wan")
    add_lora(trained, group, rank=4, alpha=2.0, seed=0)  # α ≠ rank: read from the metadata
    train_briefly(trained, trained.prepare_example(video()), steps=3, lr=1e-2)
    image = video(seed=1)[0]
    expected = trained.sample(image, 9, 3, seed=4)
    trained.save_adapter(tmp_path)

    fresh = load("wan")
    before = fresh.sample(image, 9, 3, seed=4)
    with warnings.catch_warnings():  # peft notes the added add_k/add_v keys for QKVO
        warnings.simplefilter("ignore", RuntimeWarning)
        fresh.pipeline.load_lora_weights(str(tmp_path))
    loaded = set(adapted_modules(fresh.transformer))
    assert loaded == set(adapted_modules(trained.transformer)) | per_block(fresh, IMAGE_BRANCH)
    got = fresh.sample(image, 9, 3, seed=4)
    # Two code paths (LoRA added and trained here vs loaded by diffusers): float rounding.
    assert_videos_close(got.video, expected.video)
    assert_latents_close(got.last_latent, expected.last_latent)
    assert not torch.allclose(before.last_latent, expected.last_latent, atol=1e-3)


def test_wan_is_registered_with_its_table_3_defaults():
    assert "wan" in backbone_names()
    assert backbone_defaults("wan", "full") == Wan.defaults
    tiny = backbone_defaults("wan", "tiny")
    assert (tiny["rank"], tiny["alpha"], tiny["modules"], tiny["lr"]) == (
        128,
        128.0,
        "QKVO+FF",
        2e-5,
    )
    assert (tiny["height"], tiny["width"], tiny["batch_size"], tiny["warmup_steps"]) == (
        64,
        64,
        2,
        0,
    )
    # what a weights folder must hold (its errors: test_backbone_contract.py)
    assert Wan.hub_id == "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
    assert Wan.subfolders == (
        "transformer",
        "vae",
        "text_encoder",
        "tokenizer",
        "image_encoder",
        "image_processor",
        "scheduler",
    )
