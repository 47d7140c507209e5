"""LTX-Video: LoRA groups by explicit names, the pipeline's own conditioning, objective and
sampler, and its registered facts. What every backbone does (shapes, a falling loss, adapters
stock diffusers loads, bit-exact resumes, the hub-layout folder path) is in
test_backbone_contract.py."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTXVideo
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
from PIL import Image

from trainables.backbones import (
    backbone_defaults,
    backbone_names,
    load,
    to_unit_range,
)
from trainables.backbones.ltx import LTXVideo
from trainables.lora import adapted_modules, add_lora

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


def test_all_linear_leaves_the_embeddings_and_projections_outside_the_blocks_alone():
    backbone = load("ltx")
    linear = {n for n, m in backbone.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    in_blocks = {n for n in linear if n.startswith("transformer_blocks.")}
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


# -- sampling ----------------------------------------------------------------------------------
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
    # what a weights folder must hold (its errors: test_backbone_contract.py)
    assert LTXVideo.hub_id == "Lightricks/LTX-Video"
    assert LTXVideo.subfolders == ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
