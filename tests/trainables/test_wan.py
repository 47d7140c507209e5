"""Wan2.1 I2V: real diffusers/transformers classes at tiny sizes, checked against the pipeline it
mirrors (conditioning, image branch, sampling), its LoRA groups, training, resume and adapters."""

import warnings

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import Preempted
from tests.tolerances import assert_latents_close, assert_videos_close
from trainables.backbones import backbone_defaults, backbone_names, load
from trainables.backbones.wan import Wan
from trainables.config import TrialConfig
from trainables.lora import adapted_modules, add_lora
from trainables.trial import train

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


def test_all_linear_is_every_linear_layer_of_the_blocks_and_nothing_outside():
    backbone = load("wan")
    linear = {n for n, m in backbone.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    add_lora(backbone, "all-linear", rank=4, alpha=4.0, seed=0)
    in_blocks = {n for n in linear if n.startswith("blocks.")}
    assert set(adapted_modules(backbone.transformer)) == in_blocks
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


def test_unknown_group_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown LoRA group 'KV'; allowed: QK, VO, QKVO"):
        load("wan").lora_targets("KV")


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


def test_frames_must_fit_the_vae_time_compression():
    with pytest.raises(ValueError, match=r"needs 1 \+ 4k frames .* got 8"):
        load("wan").prepare_example(video(frames=8))


# -- sampling and training ---------------------------------------------------------------------
def test_sample_is_a_uint8_video_deterministic_for_a_seed():
    backbone = load("wan")
    image = video(size=64)[0]
    a, b, c = (backbone.sample(image, 9, 3, seed=s) for s in (1, 1, 2))
    assert a.video.shape == (9, 64, 64, 3) and a.video.dtype == np.uint8
    assert a.last_latent.shape == (backbone.vae.config.z_dim, 8, 8)
    assert np.array_equal(a.video, b.video) and torch.equal(a.last_latent, b.last_latent)
    assert not torch.equal(a.last_latent, c.last_latent)
    assert backbone.transformer.training  # mode restored after sampling


def test_lora_training_on_one_example_lowers_the_loss():
    backbone = load("wan")
    example = backbone.prepare_example(video(size=64))
    add_lora(backbone, "QKVO+FF", rank=8, alpha=8.0, seed=0)
    batch = {key: torch.stack([value, value]) for key, value in example.items()}

    def held_out() -> float:  # the same 8 noise/σ draws each time
        generator = torch.Generator().manual_seed(123)
        with torch.no_grad():
            return sum(
                backbone.loss(backbone.transformer, batch, generator).item() for _ in range(8)
            )

    before = held_out()
    losses = train_briefly(backbone, example, steps=100, lr=3e-3)
    after = held_out()
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    assert after < 0.75 * before, (before, after)


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


# -- trials: resume and adapter through the real loop ------------------------------------------
CONFIG = TrialConfig.from_dict(
    dict(
        task="hflip",
        backbone="wan",
        n=2,
        steps=6,
        checkpoint_every=3,
        log_every=1,
        modules="QKVO+FF",
        rank=4,
        alpha=4.0,
        lr=1e-3,
        batch_size=2,
        warmup_steps=0,
        n_val=1,
        sample_steps=2,
        height=32,
        width=32,
    )
)


def adapter(checkpoint) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "adapter" / "pytorch_lora_weights.safetensors")


def test_resumed_wan_trial_matches_uninterrupted_trial_bit_for_bit(session_factory):
    straight = session_factory("straight")
    final = train(CONFIG, straight)

    first = session_factory("first", stop_after=3)
    with pytest.raises(Preempted):
        train(CONFIG, first)
    second = session_factory("second", restore_from=first.checkpoints[3])
    resumed = train(CONFIG, second)

    assert [r["step"] for r in second.reports] == [4, 5, 6]
    expected, got = adapter(straight.checkpoints[6]), adapter(second.checkpoints[6])
    assert expected.keys() == got.keys() and len(expected) > 0
    assert all(k.startswith("transformer.blocks.") for k in expected)  # diffusers' naming
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert resumed == final
    assert [r["loss"] for r in straight.reports[3:]] == [r["loss"] for r in second.reports]
    assert any(t.abs().sum() > 0 for n, t in got.items() if "lora_B" in n)


# -- loading -----------------------------------------------------------------------------------
def test_a_saved_tiny_pipeline_loads_back_the_full_way_and_samples_the_same(tmp_path):
    folder = tmp_path / "Wan2.1-I2V-14B-480P-Diffusers"
    Wan.build_tiny_pipeline().save_pretrained(folder)
    tiny, full = load("wan", "tiny"), load("wan", "full", folder)
    prompt = tiny.encode_prompt("a prompt")
    assert torch.equal(prompt["prompt_embeds"], full.encode_prompt("a prompt")["prompt_embeds"])
    image = video()[0]
    a, b = tiny.sample(image, 9, 2, seed=3), full.sample(image, 9, 2, seed=3)
    assert np.array_equal(a.video, b.video) and a.video.shape == (9, 32, 32, 3)
    clip = video()
    for key, value in tiny.prepare_example(clip).items():
        assert torch.equal(value, full.prepare_example(clip)[key]), key


def test_missing_weights_are_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; expected Wan-AI/Wan2.1-I2V"):
        load("wan", "full", tmp_path / "nowhere")
    (tmp_path / "partial" / "transformer").mkdir(parents=True)
    with pytest.raises(
        FileNotFoundError,
        match="lacks vae, text_encoder, tokenizer, image_encoder, image_processor, scheduler",
    ):
        load("wan", "full", tmp_path / "partial")
    with pytest.raises(ValueError, match="needs a local weights folder"):
        load("wan", "full")


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
