"""LTX-Video image-to-video (Lightricks/LTX-Video), as its diffusers pipeline runs it.

Training mirrors `LTXImageToVideoPipeline` and Lightricks' own LTX-Video trainer: rectified flow
matching, x_σ = (1 − σ)·x₀ + σ·ε with target ε − x₀ (the velocity the transformer predicts and
the Euler sampler integrates). σ is drawn from a logit-normal centred on the sampler's own shift
(σ = sigmoid(N(μ, 1)), μ from the scheduler config and the token count, exactly the μ the
pipeline passes to `set_timesteps`; Lightricks' "shifted logit-normal" sampler uses the same
constants), and the timestep is 1000·σ as a float, as the sampler passes it.

The first frame conditions the way the pipeline conditions it: the first latent frame is kept
clean, its tokens get timestep 0 through the pipeline's own conditioning mask, and they are left
out of the loss. This VAE is causal in time, so latent frame 0 of the whole transition video is
the latent of the first image on its own — what the pipeline encodes at sampling time.

One module over 400 lines: it is LTX-Video's whole specification (finetrainers' rule, STYLE.md),
and half of it is the facts a backbone declares (its tiny and micro configs among them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from trainables.backbones._base import Backbone, Sample
from trainables.backbones._parts import (
    TINY_T5,
    attention_linears,
    both_attentions,
    frames_to_uint8,
    no_grad,
    seeded,
    to_unit_range,
)
from trainables.weights import MICRO_WEIGHTS

# torch, diffusers and transformers are imported where they are used: reading the backbone's
# facts (`LTXVideo.defaults`, …, as a sweep's --dry-run does for thousands of trials, and
# orchestrator.gpu_estimates) must not import them.
if TYPE_CHECKING:
    import torch
    from diffusers import LTXImageToVideoPipeline

_QKVO = ("to_q", "to_k", "to_v", "to_out.0")

#: `LTXImageToVideoPipeline.__call__` defaults, used in training (RoPE) and sampling alike.
FRAME_RATE = 25
# Tiny stand-ins: the real classes, small configs (after diffusers' own LTX I2V pipeline test,
# with two blocks and a third spatio-temporal VAE stage, so that time compresses by 8 as in the
# 2B model: 9 frames → 2 latent frames; space compresses by 8 instead of 32 so that 32×32 still
# gives a 4×4 latent grid). The pipeline needs height and width in multiples of 32.
_TINY_LATENT_CHANNELS = 8
# The micro backbone: small enough to pretrain on a laptop's CPU, pretrained weights in
# the repo (`python -m trainables.pretrain_micro` writes `LTXVideo.micro_folder`).
_MICRO_LATENT_CHANNELS = 32


class LTXVideo(Backbone):
    """LTX-Video 2B I2V: T5 caption, causal video VAE (1 + 8k frames), 28-block transformer."""

    name = "ltx"
    hub_id = "Lightricks/LTX-Video"
    subfolders = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
    hub_configs = ("transformer", "vae", "scheduler", "text_encoder")
    pipeline_class = "LTXImageToVideoPipeline"
    frame_stride = 8
    # The pipeline refuses heights and widths that are not multiples of 32.
    size_multiple = 32
    # With `shift_terminal`, the scheduler stretches its schedule by its last step: one step
    # divides by zero (diffusers 0.42, FlowMatchEulerDiscreteScheduler.stretch_shift_to_terminal).
    min_sample_steps = 2
    # Seconds per training step at the paper's scale per task, for planning (Table 6: 1.5 h for
    # a 3000-step segmentation run, 1.75 h for pose).
    paper_seconds_per_step = {"default": 1.8, "pose": 2.1}
    paper_card = "rtx4090"
    hub_params = {"transformer": 1_923_385_472, "vae": 419_193_649, "text_encoder": 4_762_310_656}

    # The paper's Table 3 (SPEC §3).
    defaults = dict(
        rank=64,
        alpha=32.0,
        modules="all-linear",
        lr=1e-3,
        beta1=0.9,
        beta2=0.99,
        weight_decay=0.0,
        warmup_steps=0,
        batch_size=16,
        steps=3000,
        height=480,
        width=704,
        # Not the paper's: validation inputs sampled in one pipeline call. Within the memory
        # the policy reserves for a trial (orchestrator.gpu_estimates.sample_batch; a test
        # checks): its 15 GB (the H200's measured 12.7 GiB reserved, + context) hold 6.
        sample_batch=6,
    )
    tiny_defaults = dict(height=64, width=64, steps=200, batch_size=2)
    micro_defaults = dict(height=64, width=64, steps=150, batch_size=4, rank=16, alpha=16.0)

    #: The pipeline's `max_sequence_length` default; a tokenizer with a smaller
    #: `model_max_length` (the tiny one) caps it, so a saved tiny pipeline embeds exactly as the
    #: in-memory one does.
    text_tokens = 128
    #: The pipeline's decode defaults (the hub repo is LTX-Video 0.9.0, whose VAE has no timestep
    #: conditioning; 0.9.1+ VAEs are decoded at timestep 0.05 with noise 0.025 in Lightricks'
    #: docs).
    decode_timestep = 0.0
    decode_noise_scale: float | None = None

    # Each LTX block has a self-attention over the video tokens (attn1) and a cross-attention
    # from the video tokens to the T5 caption (attn2), each with to_q/to_k/to_v/to_out.0, then a
    # feed-forward ff.net.0.proj → ff.net.2. The attention groups take their projections in
    # *both* attn1 and attn2 — the modules that the common ["to_q", "to_k", "to_v", "to_out.0"]
    # suffix list of diffusers' and finetrainers' LTX LoRA scripts catches, so QKVO here is the
    # LoRA those scripts train; for attn2, QK adapts the video-side query and the text-side key,
    # VO the text-side value and the output. `all-linear` is every nn.Linear inside the blocks,
    # anchored there (peft's "all-linear" would also take proj_in, proj_out, the caption
    # projection and the timestep embedder); for LTX that is exactly QKVO+FF, as the blocks have
    # no other linear layer.
    lora_groups = {
        "QK": both_attentions(("to_q", "to_k")),
        "VO": both_attentions(("to_v", "to_out.0")),
        "QKVO": both_attentions(_QKVO),
        "QKVO+FF": (*both_attentions(_QKVO), "ff.net.0.proj", "ff.net.2"),
        "all-linear": (*both_attentions(_QKVO), "ff.net.0.proj", "ff.net.2"),
    }

    tiny_text_tokens = 64
    tiny_transformer = dict(
        in_channels=_TINY_LATENT_CHANNELS,
        out_channels=_TINY_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,  # = the inner dim: captions are projected to it first
        num_layers=2,
        caption_channels=32,  # = the T5 d_model
    )
    tiny_vae = dict(
        in_channels=3,
        out_channels=3,
        latent_channels=_TINY_LATENT_CHANNELS,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    # Non-trivial per-channel latent statistics (the default buffers are 0 and 1), so that the
    # pipeline's normalization is exercised; they are persistent buffers and save with the VAE.
    tiny_latents_mean = [round(-0.4 + 0.1 * i, 2) for i in range(_TINY_LATENT_CHANNELS)]
    tiny_latents_std = [round(0.5 + 0.25 * i, 2) for i in range(_TINY_LATENT_CHANNELS)]
    tiny_tokenizer_kwargs = dict(model_max_length=tiny_text_tokens)
    tiny_id = (
        f"tiny:{hub_id}:{tiny_transformer}{tiny_vae}{tiny_latents_mean}{tiny_latents_std}"
        f"{TINY_T5}:{tiny_text_tokens}"
    )

    # The micro backbone: the VAE takes LTX-Video 0.9.5's residual down/up blocks
    # (space-to-depth and depth-to-space shortcuts: far faster to train than 0.9.0's plain
    # strided convolutions) and compresses space and time by 8, so a 9-frame 64×64 clip is 2
    # latent frames of 8×8: the first image's own, and the rest's.
    micro_folder = MICRO_WEIGHTS / "ltx-micro"
    micro_initial_logvar = -8.0  # the VAE's posterior starts near-deterministic (pretraining)
    micro_transformer = dict(
        in_channels=_MICRO_LATENT_CHANNELS,
        out_channels=_MICRO_LATENT_CHANNELS,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=32,
        cross_attention_dim=128,  # = the inner dim
        num_layers=4,
        caption_channels=TINY_T5["d_model"],
    )
    micro_vae = dict(
        in_channels=3,
        out_channels=3,
        latent_channels=_MICRO_LATENT_CHANNELS,
        block_out_channels=(16, 32, 64, 64),
        decoder_block_out_channels=(16, 32, 64),
        layers_per_block=(1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        down_block_types=("LTXVideo095DownBlock3D",) * 3,
        downsample_type=("spatiotemporal",) * 3,
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )

    # The hub repo's scheduler_config.json (diffusers' convert_ltx_to_diffusers.py for 0.9.0).
    scheduler_config = dict(
        num_train_timesteps=1000,
        shift=1.0,
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )

    @classmethod
    def geometry(cls) -> dict[str, Any]:
        """LTX-Video 0.9.0: self- then cross-attention to the (projected) T5 tokens, patch 1, a
        VAE that patchifies by 4 before its stages (its compression: the config's, or as
        AutoencoderKLLTXVideo derives it when null)."""
        from trainables.hub_configs import hub_config

        t, vae = hub_config(cls.name, "transformer"), hub_config(cls.name, "vae")
        hidden = t["num_attention_heads"] * t["attention_head_dim"]
        ffn = 4 * hidden  # diffusers' FeedForward default (LTXVideoTransformerBlock passes no mult)
        scalings = sum(vae["spatio_temporal_scaling"])
        return dict(
            layers=t["num_layers"],
            hidden=hidden,
            ffn=ffn,
            norms=2,
            cross_attention=True,
            text_tokens=cls.text_tokens,
            joint_text=False,
            image_tokens=0,
            vae_time=vae["temporal_compression_ratio"] or vae["patch_size_t"] * 2**scalings,
            vae_space=vae["spatial_compression_ratio"] or vae["patch_size"] * 2**scalings,
            patch_time=t["patch_size_t"],
            patch_space=t["patch_size"],
            linears={
                **attention_linears("attn1", hidden),
                **attention_linears("attn2", hidden, t["cross_attention_dim"]),
                "ff.net.0.proj": (hidden, ffn),
                "ff.net.2": (ffn, hidden),
            },
            vae_bytes=2,
            # Its last stage runs at 1 / patch_size of the resolution, all frames at once.
            vae_stage=(None, vae["patch_size"], vae["decoder_block_out_channels"][0], 2),
            context_linears=("attn2.to_k", "attn2.to_v"),
        )

    @classmethod
    def build_tiny_pipeline(cls, seed: int = 0, text: bool = True) -> LTXImageToVideoPipeline:
        import torch
        from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel

        with seeded(seed):
            transformer = LTXVideoTransformer3DModel(**cls.tiny_transformer)
        with seeded(seed + 1):
            vae = AutoencoderKLLTXVideo(**cls.tiny_vae)
        with torch.no_grad():
            vae.latents_mean.copy_(torch.tensor(cls.tiny_latents_mean))
            vae.latents_std.copy_(torch.tensor(cls.tiny_latents_std))
        return cls.assemble_pipeline(vae, transformer, seed, text)

    @classmethod
    def assemble_pipeline(
        cls, vae: torch.nn.Module, transformer: torch.nn.Module, seed: int = 0, text: bool = True
    ) -> LTXImageToVideoPipeline:
        """The hub repo's pipeline around a VAE and a transformer: the scheduler, and the tiny
        seeded T5 and tokenizer (the tiny and micro scales' text encoder)."""
        from diffusers import FlowMatchEulerDiscreteScheduler, LTXImageToVideoPipeline

        return LTXImageToVideoPipeline(
            scheduler=FlowMatchEulerDiscreteScheduler(**cls.scheduler_config),
            vae=vae,
            text_encoder=cls.tiny_text_encoder(seed) if text else None,
            tokenizer=cls.tiny_tokenizer() if text else None,
            transformer=transformer,
        )

    @no_grad
    def encode_prompt(self, prompt: str) -> dict[str, torch.Tensor]:
        from diffusers import LTXImageToVideoPipeline

        tokenizer, text_encoder = self.load_text_encoder()
        # A text-only pipeline runs the pipeline's own prompt code (padding, truncation, mask).
        text = LTXImageToVideoPipeline(None, None, text_encoder.to(self.device), tokenizer, None)
        embeds, mask, _, _ = text.encode_prompt(
            prompt,
            do_classifier_free_guidance=False,
            max_sequence_length=min(self.text_tokens, tokenizer.model_max_length),
            device=self.device,
            dtype=self.dtype,
        )
        return {"prompt_embeds": embeds.cpu(), "prompt_attention_mask": mask.cpu()}

    def _rope_interpolation_scale(self) -> tuple[float, int, int]:
        """What the pipeline passes the transformer for its RoPE grid (latent → pixel units)."""
        spatial = self.pipeline.vae_spatial_compression_ratio
        return (self.pipeline.vae_temporal_compression_ratio / FRAME_RATE, spatial, spatial)

    def _pack(self, latents: torch.Tensor) -> torch.Tensor:
        return self.pipeline._pack_latents(
            latents,
            self.pipeline.transformer_spatial_patch_size,
            self.pipeline.transformer_temporal_patch_size,
        )

    # -- training ------------------------------------------------------------------------------
    @no_grad
    def prepare_example(self, video: np.ndarray) -> dict[str, torch.Tensor]:
        """The VAE posterior of the whole transition video: `latent_params` (2C×f×h×w, mean and
        log-variance, un-normalized). The loss samples the latent from it with the trial's
        generator each step and normalizes it the pipeline's way, just as the pipeline samples
        (not takes the mode of) the first image's latent when it conditions."""
        self.check_frames(video.shape[0])
        self.check_size(*video.shape[1:3])
        pixels = to_unit_range(video).unsqueeze(0).to(self.device, self.vae.dtype)  # 1,C,F,H,W
        posterior = self.vae.encode(pixels).latent_dist
        return {"latent_params": posterior.parameters[0].float().cpu()}

    def _normalize(self, latents: torch.Tensor) -> torch.Tensor:
        """The pipeline's `_normalize_latents`, with the scaling factor that its decoding
        divides back out (the pipeline's own first-frame path leaves it at 1.0; it is 1.0 for
        every LTX VAE, so both agree)."""
        return self.pipeline._normalize_latents(
            latents, self.vae.latents_mean, self.vae.latents_std, self.vae.config.scaling_factor
        )

    def _shift_mu(self, tokens: int) -> float:
        """μ of the sampler's exponential time shift at this token count: the pipeline's
        `calculate_shift` under dynamic shifting, else log(shift) (the static shift)."""
        from diffusers.pipelines.ltx.pipeline_ltx_image2video import calculate_shift

        config = self.scheduler.config
        if not config.get("use_dynamic_shifting", False):
            return math.log(config.get("shift", 1.0))
        return calculate_shift(
            tokens,
            config.get("base_image_seq_len", 256),
            config.get("max_image_seq_len", 4096),
            config.get("base_shift", 0.5),
            config.get("max_shift", 1.15),
        )

    def loss(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        import torch
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        params = batch["latent_params"].to(self.device, torch.float32)  # B,2C,f,h,w
        latents = DiagonalGaussianDistribution(params).sample(generator=generator)
        latents = self._normalize(latents)
        batch_size, channels, frames, height, width = latents.shape

        noise = torch.randn(latents.shape, generator=generator, device=self.device)
        mu = self._shift_mu(frames * height * width)
        normal = torch.randn(batch_size, generator=generator, device=self.device)
        sigma = torch.sigmoid(normal + mu)
        s = sigma.view(-1, 1, 1, 1, 1)
        noisy = (1.0 - s) * latents + s * noise
        noisy = torch.cat([latents[:, :, :1], noisy[:, :, 1:]], dim=2)  # first frame clean

        # The pipeline's own conditioning mask (1 on the first latent frame's tokens), built by
        # its `prepare_latents` from given latents, which draws no noise.
        spatial = self.pipeline.vae_spatial_compression_ratio
        temporal = self.pipeline.vae_temporal_compression_ratio
        packed, mask = self.pipeline.prepare_latents(
            None,
            batch_size,
            channels,
            height * spatial,
            width * spatial,
            (frames - 1) * temporal + 1,
            torch.float32,
            self.device,
            None,
            latents=self._pack(noisy),
        )
        timestep = (sigma * self.scheduler.config.num_train_timesteps).unsqueeze(-1) * (1 - mask)
        output = model(
            hidden_states=packed.to(self.dtype),
            encoder_hidden_states=self.prompt["prompt_embeds"].expand(batch_size, -1, -1),
            timestep=timestep,
            encoder_attention_mask=self.prompt["prompt_attention_mask"].expand(batch_size, -1),
            num_frames=frames,
            height=height,
            width=width,
            rope_interpolation_scale=self._rope_interpolation_scale(),
            return_dict=False,
        )[0]
        target = self._pack(noise - latents)
        keep = (1 - mask).unsqueeze(-1)  # B,S,1: the generated tokens only
        error = (output.float() - target) ** 2 * keep
        return error.sum() / (keep.sum() * error.shape[-1])

    # -- sampling ------------------------------------------------------------------------------
    @no_grad
    def sample_many(
        self, images: list[np.ndarray], frames: int, steps: int, seed: int
    ) -> list[Sample]:
        import torch

        self.check_frames(frames)
        height, width = images[0].shape[:2]
        self.check_size(height, width)
        count = len(images)
        generators = [torch.Generator(self.device).manual_seed(seed) for _ in images]
        prompt_embeds = self.prompt["prompt_embeds"].expand(count, -1, -1)
        with self.evaluating():
            packed = self.pipeline(
                image=[Image.fromarray(image) for image in images],
                prompt_embeds=prompt_embeds,
                prompt_attention_mask=self.prompt["prompt_attention_mask"].expand(count, -1),
                guidance_scale=1.0,
                num_inference_steps=steps,
                num_frames=frames,
                frame_rate=FRAME_RATE,
                height=height,
                width=width,
                generator=generators,
                output_type="latent",
                return_dict=False,
            )[0]
        latents = self.pipeline._unpack_latents(
            packed,
            (frames - 1) // self.pipeline.vae_temporal_compression_ratio + 1,
            height // self.pipeline.vae_spatial_compression_ratio,
            width // self.pipeline.vae_spatial_compression_ratio,
            self.pipeline.transformer_spatial_patch_size,
            self.pipeline.transformer_temporal_patch_size,
        )
        samples = []
        # One video at a time through the VAE (its workspace is the biggest at full scale),
        # each with its own generator's decode noise.
        for one, generator in zip(latents.split(1), generators, strict=True):
            video = self._decode(one, generator, prompt_embeds.dtype)
            samples.append(
                Sample(video=frames_to_uint8(video), last_latent=one[0, :, -1].float().cpu())
            )
        return samples

    def _decode(
        self, latents: torch.Tensor, generator: torch.Generator, dtype: torch.dtype
    ) -> np.ndarray:
        """The pipeline's own decoding for output_type="np", step for step: denormalize, and
        for a timestep-conditioned VAE mix in decode noise drawn from the same generator right
        after the denoising loop; F×H×W×3 floats in [0, 1]."""
        import torch

        latents = self.pipeline._denormalize_latents(
            latents, self.vae.latents_mean, self.vae.latents_std, self.vae.config.scaling_factor
        ).to(dtype)
        timestep = None
        if self.vae.config.timestep_conditioning:
            batch_size = latents.shape[0]
            noise = torch.randn(
                latents.shape, generator=generator, device=self.device, dtype=latents.dtype
            )
            scale = self.decode_noise_scale
            scale = self.decode_timestep if scale is None else scale
            timestep = torch.tensor(
                [self.decode_timestep] * batch_size, device=self.device, dtype=latents.dtype
            )
            scales = torch.tensor([scale] * batch_size, device=self.device, dtype=latents.dtype)
            scales = scales[:, None, None, None, None]
            latents = (1 - scales) * latents + scales * noise
        decoded = self.vae.decode(latents, timestep, return_dict=False)[0]
        return self.pipeline.video_processor.postprocess_video(decoded, output_type="np")[0]
