"""Training sees what sampling sees, per backbone.

The transformer's keyword inputs are recorded twice on the same first frame and the same prompt
embeddings: in each step of the stock diffusers pipeline's own sampling (called as each
backbone's `sample_many` calls it) and in one `backbone.loss` on a prepared 9-frame transition
whose frame 0 is that image, stacked as the trial stacks examples. The conditioning parts must
agree latent frame by latent frame (image latent channels, masks, CLIP features, the clean first
frame and its per-token timestep), as must the positional embeddings, `ofs`, the text inputs and
the timestep convention; and the loss's target must be the scheduler's own parametrization: an
oracle model that returns the true target (v for CogVideoX's v-prediction, ε − x₀ for flow
matching) makes the loss vanish.

A defect this caught: CogVideoX1.5's image condition was `[img, img, 0, 0]` in training where
the pipeline samples with `[img, 0, 0, 0]`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from trainables.backbones import Backbone, load

FRAMES = 9
SIZE = 32  # the LTX pipeline needs multiples of 32; 32 px give a 4×4 latent grid for all three
STEPS = 2  # the fewest LTX's terminal-stretched scheduler takes; two steps show per-step inputs
SEED = 0

#: The same VAE encoding of the same first frame, reached along two code paths: the pipeline
#: preprocesses a PIL image (x/255·2 − 1) where training takes x/127.5 − 1, and LTX's training
#: encodes the whole causal video where its pipeline encodes the image alone. float32 rounding
#: only (measured ≤ 4e-7 on the tiny models, whose latents are ~1); a real mismatch (another
#: frame, a missing scale, no normalization) is of the order of the latents themselves, ~1.
ENCODE_ATOL = 1e-5
#: An oracle model that returns the scheduler's own target leaves a loss of float rounding only
#: (measured ≤ 4e-15); the random tiny models' losses are ≥ 0.8, the pretrained micro one's 0.03
#: on a random video (asserted > 0.01).
ORACLE_LOSS = 1e-6

Kwargs = dict[str, Any]


def transition(seed: int = 0) -> np.ndarray:
    """A 9-frame uint8 video; its frame 0 is the first frame both paths condition on."""
    return np.random.default_rng(seed).integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8)


@contextlib.contextmanager
def recorded(module: torch.nn.Module) -> Iterator[list[Kwargs]]:
    """Every forward call's keyword inputs (tensors cloned: pipelines reuse their buffers)."""
    calls: list[Kwargs] = []

    def hook(_: torch.nn.Module, args: tuple, kwargs: Kwargs) -> None:
        assert not args, "every caller passes the transformer's inputs by keyword"
        calls.append(
            {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in kwargs.items()}
        )

    handle = module.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


def use_posterior_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths draw the first frame's latent from the VAE posterior, the pipeline with the
    sampler's generator and the loss with the trial's: with the mode drawn on both sides the
    conditions can be compared to float rounding instead of to a posterior's spread."""
    monkeypatch.setattr(
        DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mean
    )


def capture(backbone: Backbone, video: np.ndarray) -> tuple[dict, list[Kwargs], Kwargs]:
    """The prepared example, the transformer's inputs at each step of `backbone.sample` (the
    stock pipeline as `sample_many` calls it) and its inputs in one `backbone.loss`."""
    example = backbone.prepare_example(video)
    batch = {key: torch.stack([value]) for key, value in example.items()}  # as the trial does
    with recorded(backbone.transformer) as sampled:
        backbone.sample(video[0], FRAMES, STEPS, seed=SEED)
    generator = torch.Generator(backbone.device).manual_seed(SEED)
    with recorded(backbone.transformer) as trained, torch.no_grad():
        backbone.loss(backbone.transformer, batch, generator)
    assert len(sampled) == STEPS and len(trained) == 1
    return example, sampled, trained[0]


class Oracle(torch.nn.Module):
    """A stand-in transformer whose output is `target(inputs)`, returned the diffusers way."""

    def __init__(self, target: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.target = target

    def forward(self, **kwargs: Any) -> tuple[torch.Tensor]:
        return (self.target(**kwargs),)


def losses(backbone: Backbone, video: np.ndarray, oracle: Oracle) -> tuple[float, float]:
    """The loss of the random tiny model and of the oracle, on the same draws."""
    example = backbone.prepare_example(video)
    batch = {key: torch.stack([value]) for key, value in example.items()}
    with torch.no_grad():
        model = backbone.loss(
            backbone.transformer, batch, torch.Generator(backbone.device).manual_seed(SEED)
        )
        ideal = backbone.loss(oracle, batch, torch.Generator(backbone.device).manual_seed(SEED))
    return float(model), float(ideal)


def assert_same_text(sampled: Kwargs, trained: Kwargs) -> None:
    """The same prompt embeddings reach the transformer (the same tensor, so bit-exact)."""
    assert sampled["encoder_hidden_states"].shape == trained["encoder_hidden_states"].shape
    assert torch.equal(sampled["encoder_hidden_states"], trained["encoder_hidden_states"])


# -- CogVideoX1.5 --------------------------------------------------------------------------------
def test_cogvideox_trains_on_the_condition_its_pipeline_samples_with(monkeypatch):
    backbone = load("cogvideox")
    config = backbone.transformer.config
    # The branches the real CogVideoX1.5-5B-I2V takes: time patches of 2, so 9 frames (3 latent
    # frames, an odd count) are padded to 4; RoPE and the ofs embedding are on.
    assert config.patch_size_t == 2 and config.use_rotary_positional_embeddings
    assert config.ofs_embed_dim is not None and not config.use_learned_positional_embeddings
    latent_frames = (FRAMES - 1) // backbone.frame_stride + 1
    assert latent_frames % config.patch_size_t == 1
    padded_frames = latent_frames + 1

    use_posterior_modes(monkeypatch)
    # Training noises the first frame lightly (σ = exp(N(−3, 0.5))) where the pipeline does
    # not; with σ = 0 the image latents come from the same pixels and compare to rounding.
    monkeypatch.setattr(
        backbone,
        "_image_noise_sigma",
        lambda batch, generator: torch.zeros(batch, device=backbone.device),
    )
    _, sampled, trained = capture(backbone, transition())
    channels = config.in_channels // 2
    image = trained["hidden_states"][:, :, channels:]  # B,F,C,h,w
    assert trained["hidden_states"].shape == (1, padded_frames, 2 * channels, 4, 4)
    assert image[:, 0].abs().amax() > 0.1  # the image latent is there (not all zeros)

    for step in sampled:
        assert step["hidden_states"].shape == trained["hidden_states"].shape
        condition = step["hidden_states"][:, :, channels:]
        torch.testing.assert_close(image[:, 0], condition[:, 0], atol=ENCODE_ATOL, rtol=0)
        for frame in range(1, padded_frames):  # the pipeline zero-pads after the image latent
            assert torch.count_nonzero(condition[:, frame]) == 0
            assert torch.count_nonzero(image[:, frame]) == 0, (
                f"latent frame {frame}: training's image condition is not zero, the pipeline's is"
            )
        # RoPE over the padded length (2 time patches × 2 × 2 tokens), from the same function
        # with the same arguments: bit-exact.
        for sampled_part, trained_part in zip(
            step["image_rotary_emb"], trained["image_rotary_emb"], strict=True
        ):
            assert sampled_part.shape[0] == padded_frames // 2 * 2 * 2
            assert torch.equal(sampled_part, trained_part)
        assert torch.equal(step["ofs"], trained["ofs"]) and step["ofs"].tolist() == [2.0]
        assert_same_text(step, trained)
        # DDPM timesteps: integers in [0, 1000), one per example.
        for timestep in (step["timestep"], trained["timestep"]):
            assert timestep.dtype == torch.int64 and timestep.shape == (1,)
            assert 0 <= int(timestep) < backbone.scheduler.config.num_train_timesteps
    assert int(sampled[0]["timestep"]) == 999  # "trailing" spacing starts at the last step


def test_cogvideox_loss_is_zero_for_the_schedulers_own_velocity(monkeypatch):
    """v-prediction: the pipeline's sampler turns the output into x₀ as
    √ᾱ·x_t − √(1−ᾱ)·v; an oracle returning the scheduler's `get_velocity(x₀, ε, t)` (ε recovered
    from x_t = √ᾱ·x₀ + √(1−ᾱ)·ε, `add_noise`'s definition) must leave no loss."""
    backbone = load("cogvideox")
    assert backbone.scheduler.config.prediction_type == "v_prediction"
    use_posterior_modes(monkeypatch)
    video = transition()
    params = backbone.prepare_example(video)["video_latent_params"][None]
    clean = DiagonalGaussianDistribution(params).mean * backbone.vae.config.scaling_factor
    clean = clean.permute(0, 2, 1, 3, 4)  # B,F,C,h,w
    clean = torch.cat([clean[:, :1], clean], dim=1)  # the leading copy for the time patches
    channels = clean.shape[2]
    alphas = backbone.scheduler.alphas_cumprod

    def velocity(hidden_states: torch.Tensor, timestep: torch.Tensor, **_: Any) -> torch.Tensor:
        noisy = hidden_states[:, :, :channels]
        alpha = alphas[timestep].view(-1, 1, 1, 1, 1)
        noise = (noisy - alpha.sqrt() * clean) / (1 - alpha).sqrt()
        return backbone.scheduler.get_velocity(clean, noise, timestep)

    model, ideal = losses(backbone, video, Oracle(velocity))
    assert model > 1e-2 and ideal < ORACLE_LOSS, (model, ideal)


# -- LTX-Video -----------------------------------------------------------------------------------
# The pretrained micro backbone too: a mismatch there would also make its trials sample badly.
@pytest.mark.parametrize("scale", ["tiny", "micro"])
def test_ltx_trains_on_the_clean_first_frame_and_timesteps_its_pipeline_samples_with(
    monkeypatch, scale
):
    backbone = load("ltx", scale)
    use_posterior_modes(monkeypatch)
    _, sampled, trained = capture(backbone, transition())
    latent_frames = (FRAMES - 1) // backbone.frame_stride + 1
    per_frame = (SIZE // backbone.pipeline.vae_spatial_compression_ratio) ** 2  # patch size 1
    assert latent_frames == 2 and backbone.transformer.config.patch_size_t == 1

    def frames(tokens: torch.Tensor) -> torch.Tensor:  # B,S,… → B,F,S/F,…
        return tokens.unflatten(1, (latent_frames, per_frame))

    hidden = frames(trained["hidden_states"])
    timestep = frames(trained["timestep"])
    for step in sampled:
        assert step["hidden_states"].shape == trained["hidden_states"].shape
        # The first latent frame is clean in both, and stays so over the pipeline's steps.
        torch.testing.assert_close(
            hidden[:, 0], frames(step["hidden_states"])[:, 0], atol=ENCODE_ATOL, rtol=0
        )
        # A per-token timestep, (B, tokens), float: 0 on the first frame, 1000·σ after.
        assert step["timestep"].shape == trained["timestep"].shape == (1, latent_frames * per_frame)
        assert step["timestep"].dtype == trained["timestep"].dtype == torch.float32
        for t in (frames(step["timestep"]), timestep):
            assert torch.all(t[:, 0] == 0)
            assert torch.all(t[:, 1:] > 0) and torch.all(t[:, 1:] <= 1000)
            assert torch.all(t[:, 1:] == t[:, -1:, -1:])  # one σ over the generated frames
        for key in ("num_frames", "height", "width", "rope_interpolation_scale"):
            assert step[key] == trained[key], key
        assert step.get("video_coords") is None and trained.get("video_coords") is None
        assert torch.equal(step["encoder_attention_mask"], trained["encoder_attention_mask"])
        assert_same_text(step, trained)
    # The pipeline's timesteps are 1000·σ of its own schedule, as training's are of its σ.
    sigmas = backbone.scheduler.sigmas[:STEPS]
    for step, sigma in zip(sampled, sigmas, strict=True):
        torch.testing.assert_close(step["timestep"][0, -1], 1000 * sigma, atol=1e-3, rtol=0)


@pytest.mark.parametrize("scale", ["tiny", "micro"])
def test_ltx_loss_is_zero_for_the_flow_matching_velocity(monkeypatch, scale):
    """x_σ = (1 − σ)·x₀ + σ·ε and the Euler sampler integrates the output as dx/dσ: an oracle
    returning (x_σ − x₀)/σ = ε − x₀ on the generated tokens must leave no loss."""
    backbone = load("ltx", scale)
    use_posterior_modes(monkeypatch)
    video = transition()
    params = backbone.prepare_example(video)["latent_params"][None]
    clean = backbone._pack(backbone._normalize(DiagonalGaussianDistribution(params).mean))

    def velocity(hidden_states: torch.Tensor, timestep: torch.Tensor, **_: Any) -> torch.Tensor:
        sigma = (timestep / 1000).unsqueeze(-1)
        generated = sigma > 0  # the clean first frame (σ = 0) is out of the loss
        return torch.where(generated, (hidden_states - clean) / sigma.clamp_min(1e-12), 0.0)

    model, ideal = losses(backbone, video, Oracle(velocity))
    assert model > 1e-2 and ideal < ORACLE_LOSS, (model, ideal)


# -- Wan2.1 --------------------------------------------------------------------------------------
def test_wan_trains_on_the_mask_latent_and_clip_features_its_pipeline_samples_with():
    backbone = load("wan")
    example, sampled, trained = capture(backbone, transition())
    channels = backbone.vae.config.z_dim
    latent_frames = (FRAMES - 1) // backbone.frame_stride + 1
    assert trained["hidden_states"].shape == (1, 2 * channels + 4, latent_frames, 4, 4)
    condition = trained["hidden_states"][:, channels:]
    # The 4 mask channels: the first frame's 4 pixel frames set, none after.
    assert condition[:, :4, 0].eq(1).all() and condition[:, :4, 1:].eq(0).all()
    for step in sampled:
        # Same grid, so the same internal RoPE.
        assert step["hidden_states"].shape == trained["hidden_states"].shape
        # Training takes the condition the pipeline's own `prepare_latents` built from the same
        # preprocessed image, without noise: literally the same computation, bit-exact.
        for frame in range(latent_frames):
            assert torch.equal(
                step["hidden_states"][:, channels:, frame], condition[:, :, frame]
            ), f"latent frame {frame}"
        assert torch.equal(
            step["encoder_hidden_states_image"], trained["encoder_hidden_states_image"]
        )
        assert torch.equal(trained["encoder_hidden_states_image"][0], example["image_embeds"])
        assert step["encoder_hidden_states"].shape[1] == 512  # else the image branch gets nothing
        assert_same_text(step, trained)
        # One timestep per example on the 1000·σ scale. UniPC hands the pipeline int64 steps
        # (1000·σ truncated) where training takes float 1000·σ; the transformer embeds both
        # through the same sinusoid of float(t), so only the quantization differs.
        assert step["timestep"].shape == trained["timestep"].shape == (1,)
        assert step["timestep"].dtype == torch.int64
        assert trained["timestep"].dtype == torch.float32
        assert 0 <= float(trained["timestep"]) <= 1000
    sigmas = backbone.scheduler.sigmas[:STEPS]
    for step, sigma in zip(sampled, sigmas, strict=True):
        assert 0 <= 1000 * float(sigma) - int(step["timestep"]) < 1


def test_wan_loss_is_zero_for_the_flow_matching_velocity():
    """The scheduler is `flow_prediction` (x₀ = x_σ − σ·v): an oracle returning
    (x_σ − x₀)/σ = ε − x₀ must leave no loss."""
    backbone = load("wan")
    assert backbone.scheduler.config.prediction_type == "flow_prediction"
    video = transition()
    clean = backbone.prepare_example(video)["latents"][None]
    channels = clean.shape[1]

    def velocity(hidden_states: torch.Tensor, timestep: torch.Tensor, **_: Any) -> torch.Tensor:
        sigma = (timestep / 1000).view(-1, 1, 1, 1, 1)
        return (hidden_states[:, :channels].float() - clean) / sigma

    model, ideal = losses(backbone, video, Oracle(velocity))
    assert model > 1e-2 and ideal < ORACLE_LOSS, (model, ideal)
