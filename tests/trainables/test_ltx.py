"""LTX-Video: LoRA groups by explicit names, the pipeline's own conditioning, objective and
sampler, bit-exact resumes, adapters stock diffusers loads, and the hub-layout folder path."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from PIL import Image
from safetensors.torch import load_file

from tests.conftest import Preempted
from tests.tolerances import assert_latents_close, assert_videos_close
from trainables.backbones import (
    DEFAULT_PROMPT,
    backbone_defaults,
    backbone_names,
    load,
    to_unit_range,
)
from trainables.backbones.ltx import LTXVideo
from trainables.config import TrialConfig
from trainables.lora import adapted_modules, add_lora, trainable_parameters
from trainables.trial import train

QKVO = ("to_q", "to_k", "to_v", "to_out.0")
FF = ("ff.net.0.proj", "ff.net.2")


def per_block(layers: int, names) -> set[str]:
    return {f"transformer_blocks.{i}.{name}" for i in range(layers) for name in names}


def both(projections) -> list[str]:
    return [f"{attn}.{p}" for attn in ("attn1", "attn2") for p in projections]


def image(size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def video(size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (9, size, size, 3), dtype=np.uint8)


# -- LoRA groups -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("group", "names"),
    [
        ("QK", both(("to_q", "to_k"))),
        ("VO", both(("to_v", "to_out.0"))),
        ("QKVO", both(QKVO)),
        ("QKVO+FF", [*both(QKVO), *FF]),
        ("all-linear", [*both(QKVO), *FF]),
    ],
)
def test_each_group_adapts_exactly_its_named_modules(group, names):
    backbone = load("ltx")
    targets = add_lora(backbone, group, rank=4, alpha=4.0, seed=0)
    expected = per_block(backbone.transformer.config.num_layers, names)
    assert set(targets) == expected and len(targets) == len(expected)
    assert set(adapted_modules(backbone.transformer)) == expected


def test_all_linear_is_every_linear_layer_of_the_blocks_and_nothing_outside():
    backbone = load("ltx")
    linear = {n for n, m in backbone.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    add_lora(backbone, "all-linear", rank=4, alpha=4.0, seed=0)
    in_blocks = {n for n in linear if n.startswith("transformer_blocks.")}
    assert set(adapted_modules(backbone.transformer)) == in_blocks
    # peft's own "all-linear" would also have taken these:
    assert {"proj_in", "proj_out", "caption_projection.linear_1", "time_embed.linear"} <= (
        linear - in_blocks
    )
    # an LTX block has no linear layer beyond attention and feed-forward
    assert set(backbone.lora_targets("all-linear")) == set(backbone.lora_targets("QKVO+FF"))


def test_attention_groups_cover_cross_attention_like_the_common_suffix_list():
    backbone = load("ltx")
    names = [n for n, _ in backbone.transformer.named_modules()]
    # What ["to_q", "to_k", "to_v", "to_out.0"] catches in diffusers/finetrainers LoRA scripts:
    suffix_caught = {n for n in names if any(n.endswith("." + s) for s in QKVO)}
    assert set(backbone.lora_targets("QKVO")) == suffix_caught
    for group in ("QK", "VO", "QKVO", "QKVO+FF", "all-linear"):
        targets = backbone.lora_targets(group)
        assert any(".attn1." in t for t in targets) and any(".attn2." in t for t in targets)
    assert "transformer_blocks.0.attn2.to_k" in backbone.lora_targets("QK")  # text-side key
    assert "transformer_blocks.0.attn2.to_v" in backbone.lora_targets("VO")  # text-side value


def test_unknown_group_is_a_one_line_error():
    backbone = load("ltx")
    with pytest.raises(ValueError, match=r"unknown LoRA group 'FF'; allowed: QK, VO, QKVO, all"):
        backbone.lora_targets("FF")


# -- conditioning and objective ----------------------------------------------------------------
def test_prepared_latent_frame_zero_is_the_first_image_alone_and_shapes_are_checked():
    backbone = load("ltx")
    clip = video()
    params = backbone.prepare_example(clip)["latent_params"]
    assert params.shape == (
        2 * LTXVideo.tiny_vae["latent_channels"],
        2,
        4,
        4,
    )  # 9 frames → 2 latent
    with torch.no_grad():  # causal VAE: what the pipeline encodes when it conditions
        alone = backbone.vae.encode(to_unit_range(clip[:1]).unsqueeze(0)).latent_dist
    assert torch.allclose(alone.parameters[0, :, 0], params[:, 0], atol=1e-6)
    with pytest.raises(ValueError, match=r"needs 1 \+ 8k frames .* got 5"):
        backbone.prepare_example(clip[:5])
    with pytest.raises(ValueError, match="multiples of 32, got 48×48"):
        backbone.prepare_example(np.zeros((9, 48, 48, 3), np.uint8))


class Recorder(torch.nn.Module):
    """The transformer as the loss calls it, recording inputs; can spoil first-frame outputs."""

    def __init__(self, transformer: torch.nn.Module, spoil: int = 0) -> None:
        super().__init__()
        self.transformer = transformer
        self.spoil = spoil
        self.calls: list[dict] = []

    def forward(self, **kwargs):
        self.calls.append(kwargs)
        output = self.transformer(**kwargs)[0]
        if self.spoil:
            output = torch.cat([output[:, : self.spoil] + 1e3, output[:, self.spoil :]], dim=1)
        return (output,)


def test_first_latent_frame_stays_clean_at_timestep_zero_and_out_of_the_loss():
    backbone = load("ltx")
    example = backbone.prepare_example(video())
    batch = {k: torch.stack([v, v]) for k, v in example.items()}
    first_tokens = 4 * 4  # one latent frame of a 4×4 grid

    recorder = Recorder(backbone.transformer)
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    loss = backbone.loss(recorder, batch, generator)
    inputs = recorder.calls[0]
    timestep = inputs["timestep"]
    assert timestep.shape == (2, 2 * first_tokens)
    assert torch.all(timestep[:, :first_tokens] == 0)
    assert torch.all(timestep[:, first_tokens:] > 0)
    assert torch.all(timestep[:, first_tokens:] == timestep[:, -1:])  # one σ per example
    assert inputs["rope_interpolation_scale"] == (8 / 25, 8, 8)
    assert (inputs["num_frames"], inputs["height"], inputs["width"]) == (2, 4, 4)

    # The clean first frame is the normalized posterior sample the generator draws first.
    generator.set_state(state)
    clean = DiagonalGaussianDistribution(batch["latent_params"]).sample(generator=generator)
    mean = torch.tensor(LTXVideo.tiny_latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(LTXVideo.tiny_latents_std).view(1, -1, 1, 1, 1)
    clean = (clean - mean) / std
    packed_first = clean[:, :, 0].flatten(2).transpose(1, 2)  # B, h·w, C
    assert torch.allclose(inputs["hidden_states"][:, :first_tokens], packed_first, atol=1e-6)

    # Whatever the model says on the first frame's tokens does not count.
    generator.set_state(state)
    spoiled = backbone.loss(Recorder(backbone.transformer, spoil=first_tokens), batch, generator)
    assert torch.equal(loss, spoiled)


def test_lora_training_lowers_the_loss_and_the_saved_adapter_reproduces_samples(tmp_path):
    torch.manual_seed(0)
    backbone = load("ltx")
    backbone.use_prompt(backbone.encode_prompt(DEFAULT_PROMPT))
    example = backbone.prepare_example(video())
    batch = {k: torch.stack([v, v]) for k, v in example.items()}
    add_lora(backbone, "all-linear", rank=8, alpha=4.0, seed=0)  # α ≠ rank on purpose
    optimizer = torch.optim.AdamW(trainable_parameters(backbone.transformer), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    backbone.transformer.train()
    losses = []
    for _ in range(100):
        loss = backbone.loss(backbone.transformer, batch, generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20]), losses

    trained = backbone.sample(image(), 9, 3, seed=1)
    assert backbone.transformer.training  # sampling restored the mode
    backbone.save_adapter(tmp_path / "adapter")
    fresh = load("ltx")
    fresh.use_prompt(backbone.encode_prompt(DEFAULT_PROMPT))
    before = fresh.sample(image(), 9, 3, seed=1)
    fresh.pipeline.load_lora_weights(str(tmp_path / "adapter"))
    after = fresh.sample(image(), 9, 3, seed=1)
    # Two code paths (LoRA added and trained here vs loaded by diffusers): float rounding.
    assert_latents_close(after.last_latent, trained.last_latent)
    assert_videos_close(after.video, trained.video)
    assert not torch.allclose(before.last_latent, trained.last_latent, atol=1e-3)


# -- sampling ----------------------------------------------------------------------------------
def test_sample_is_a_uint8_video_deterministic_for_a_seed():
    backbone = load("ltx")
    a, b, c = (backbone.sample(image(), 9, 2, seed=s) for s in (3, 3, 4))
    assert a.video.shape == (9, 32, 32, 3) and a.video.dtype == np.uint8
    assert a.last_latent.shape == (LTXVideo.tiny_vae["latent_channels"], 4, 4)
    assert a.last_latent.dtype == torch.float32
    assert np.array_equal(a.video, b.video) and torch.equal(a.last_latent, b.last_latent)
    assert not torch.equal(a.last_latent, c.last_latent)
    with pytest.raises(ValueError, match=r"needs 1 \+ 8k frames .* got 5"):
        backbone.sample(image(), 5, 2, seed=0)


@pytest.mark.parametrize("timestep_conditioning", [False, True])
def test_sample_decodes_exactly_as_the_pipeline_does(monkeypatch, timestep_conditioning):
    backbone = load("ltx")
    if timestep_conditioning:  # an LTX 0.9.1-style VAE, decoded with noise
        torch.manual_seed(5)
        vae = AutoencoderKLLTXVideo(**{**LTXVideo.tiny_vae, "timestep_conditioning": True}).eval()
        backbone.pipeline.vae = backbone.vae = vae
        monkeypatch.setattr(LTXVideo, "decode_timestep", 0.05)
        monkeypatch.setattr(LTXVideo, "decode_noise_scale", 0.025)
    ours = backbone.sample(image(), 9, 3, seed=7)
    prompt = backbone.prompt
    reference = backbone.pipeline(
        image=Image.fromarray(image()),
        prompt_embeds=prompt["prompt_embeds"],
        prompt_attention_mask=prompt["prompt_attention_mask"],
        guidance_scale=1.0,
        num_inference_steps=3,
        num_frames=9,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(7),
        decode_timestep=LTXVideo.decode_timestep,
        decode_noise_scale=LTXVideo.decode_noise_scale,
        output_type="np",
        return_dict=False,
    )[0][0]
    assert np.array_equal(ours.video, np.clip(np.rint(reference * 255.0), 0, 255).astype(np.uint8))


# -- trials ------------------------------------------------------------------------------------
CONFIG = TrialConfig.from_dict(
    dict(
        task="hflip",
        backbone="ltx",
        n=2,
        steps=6,
        checkpoint_every=3,
        log_every=1,
        modules="all-linear",
        rank=4,
        alpha=4.0,
        lr=1e-3,
        batch_size=2,
        n_val=1,
        sample_steps=2,
        height=32,
        width=32,
    )
)


def adapter(checkpoint) -> dict[str, torch.Tensor]:
    return load_file(checkpoint / "adapter" / "pytorch_lora_weights.safetensors")


def test_resumed_ltx_trial_matches_uninterrupted_trial_bit_for_bit(session_factory):
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
    assert all(k.startswith("transformer.transformer_blocks.") for k in got)
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert resumed == final
    assert [r["loss"] for r in straight.reports[3:]] == [r["loss"] for r in second.reports]
    assert any(t.abs().sum() > 0 for n, t in got.items() if "lora_B" in n)


# -- weights -----------------------------------------------------------------------------------
def test_a_saved_tiny_pipeline_loads_back_the_full_way_and_samples_the_same(tmp_path):
    folder = tmp_path / "LTX-Video"
    LTXVideo.build_tiny_pipeline().save_pretrained(folder)
    tiny = load("ltx", "tiny")
    full = load("ltx", "full", folder)
    assert full.weights_id != tiny.weights_id
    prompt = tiny.encode_prompt("a prompt")
    again = full.encode_prompt("a prompt")
    assert prompt.keys() == again.keys()
    assert all(torch.equal(prompt[k], again[k]) for k in prompt)
    tiny.use_prompt(prompt)
    full.use_prompt(prompt)
    assert torch.equal(full.vae.latents_std, tiny.vae.latents_std)
    a, b = tiny.sample(image(), 9, 2, seed=3), full.sample(image(), 9, 2, seed=3)
    assert np.array_equal(a.video, b.video) and a.video.shape == (9, 32, 32, 3)


def test_missing_weights_are_one_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; expected Lightricks/LTX-Video"):
        load("ltx", "full", tmp_path / "nowhere")
    (tmp_path / "partial" / "transformer").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="lacks vae, text_encoder, tokenizer, scheduler"):
        load("ltx", "full", tmp_path / "partial")
    with pytest.raises(ValueError, match="needs a local weights folder"):
        load("ltx", "full")


def test_ltx_is_registered_with_its_table_3_defaults():
    assert "ltx" in backbone_names()
    assert backbone_defaults("ltx", "full") == LTXVideo.defaults
    tiny = backbone_defaults("ltx", "tiny")
    assert (tiny["modules"], tiny["rank"], tiny["alpha"], tiny["lr"]) == (
        "all-linear",
        64,
        32.0,
        1e-3,
    )
    assert (tiny["height"], tiny["width"], tiny["batch_size"]) == (64, 64, 2)
