"""Wan2.1 image-to-video (Wan-AI/Wan2.1-I2V-14B-480P-Diffusers), as its diffusers pipeline runs it.

Training mirrors `WanImageToVideoPipeline` and Wan's LoRA fine-tuning scripts: flow matching,
x_σ = (1 − σ)·x₀ + σ·ε with target ε − x₀ (what the transformer predicts: the scheduler is
`flow_prediction`), σ uniform and then shifted by the scheduler's `flow_shift` (3.0 for the 480P
repo), timestep = 1000·σ. The first frame conditions in two ways, both built by the pipeline's own
code so training sees exactly what sampling sees: a 4-channel first-frame mask plus the VAE latent
of [first frame, zeros] concatenated on channels (16 noisy + 4 + 16 = 36 channels at full size),
and the CLIP penultimate hidden states of the first frame as `encoder_hidden_states_image`.

The image branch is easy to break silently: the attention processor takes the *last 512* context
tokens as text and the rest as image tokens, so text embeddings must be exactly 512 tokens long
(`encode_prompt`'s default of 226 would leave the image branch with no tokens and no error).
"""

from __future__ import annotations

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

# torch, diffusers and transformers are imported where they are used: reading the backbone's
# facts (`Wan.defaults`, …, as a sweep's --dry-run does for thousands of trials, and
# orchestrator.gpu_estimates) must not import them.
if TYPE_CHECKING:
    import torch
    from diffusers import WanImageToVideoPipeline

_QKVO = ("to_q", "to_k", "to_v", "to_out.0")
_FF = ("ffn.net.0.proj", "ffn.net.2")
# Tiny stand-ins: the real classes, small configs. The I2V image branch is on, as in the 14B
# model: `added_kv_proj_dim` = the transformer's inner dim (2 × 12), `image_dim` = the CLIP
# hidden size; in_channels = z_dim noisy + 4 mask + z_dim condition.
_TINY_Z_DIM = 4
_TINY_CLIP_SIZE = 32


class Wan(Backbone):
    """The I2V pipeline's components; only the transformer trains (through a LoRA)."""

    name = "wan"
    hub_id = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers"
    subfolders = (
        "transformer",
        "vae",
        "text_encoder",
        "tokenizer",
        "image_encoder",
        "image_processor",
        "scheduler",
    )
    hub_configs = ("transformer", "vae", "scheduler", "text_encoder", "image_encoder")
    pipeline_class = "WanImageToVideoPipeline"
    # Only the transformer trains in the training dtype; the VAE and CLIP stay in fp32, as the
    # hub repo's own example loads them ("VAE in torch.float32 for better decoding quality").
    fp32_components = ("vae", "image_encoder")
    text_encoder_class = "UMT5EncoderModel"
    tokenizer_class = "AutoTokenizer"
    #: What the cached examples and prompt embeddings depend on: the weights identity covers them.
    identity_parts = ("vae", "image_encoder", "image_processor", "text_encoder", "tokenizer")
    #: WanAttnProcessor hard-codes the text context at 512 tokens (everything before it is image).
    text_tokens = 512
    frame_stride = 4
    blocks = "blocks"
    # Seconds per training step at the paper's scale, for planning: Table 6's 28 h for its
    # twenty 4000-step runs on H100s (1 h at n = 3, 5 and 2 h at n = 10, 30: the mean, 1.26 s).
    paper_seconds_per_step = {"default": 1.26}
    paper_card = "h100"
    # The image encoder is the class its config names (CLIPVisionModelWithProjection: 1,310,720
    # of them are its projection).
    hub_params = {
        "transformer": 16_394_878_784,
        "vae": 126_892_531,
        "text_encoder": 5_680_910_336,
        "image_encoder": 632_076_800,
    }

    # The paper's Table 3 (SPEC §3).
    defaults = dict(
        rank=128,
        alpha=128.0,
        modules="QKVO+FF",
        lr=2e-5,
        beta1=0.9,
        beta2=0.99,
        weight_decay=1e-4,
        warmup_steps=1000,
        batch_size=1,
        steps=4000,
        height=480,
        width=720,
        # Not the paper's: validation inputs sampled in one call. Wan's pipeline takes one first
        # frame per call, and its validation is its memory peak anyway.
        sample_batch=1,
    )
    tiny_defaults = dict(height=64, width=64, steps=200, warmup_steps=0, batch_size=2)

    # Each Wan block has a self-attention (attn1, video tokens) and a cross-attention (attn2:
    # video queries on text keys/values, plus the I2V image branch's own key/value projections
    # add_k_proj/add_v_proj on the CLIP tokens). The attention groups take their projections in
    # *both* attn1 and attn2, as the common ["to_q", "to_k", "to_v", "to_out.0"] suffix list of
    # diffusers/finetrainers LoRA scripts does, but not add_k_proj/add_v_proj (the image branch
    # is still reached through attn2's shared to_q and to_out.0). Only `all-linear` adapts the
    # image branch's projections: it is every nn.Linear inside the blocks, anchored there (peft's
    # "all-linear" would also take proj_out and the condition_embedder's time/text/image
    # projections).
    lora_groups = {
        "QK": both_attentions(("to_q", "to_k")),
        "VO": both_attentions(("to_v", "to_out.0")),
        "QKVO": both_attentions(_QKVO),
        "QKVO+FF": (*both_attentions(_QKVO), *_FF),
        "all-linear": (*both_attentions(_QKVO), "attn2.add_k_proj", "attn2.add_v_proj", *_FF),
    }

    tiny_clip = dict(
        hidden_size=16,
        intermediate_size=32,
        projection_dim=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=_TINY_CLIP_SIZE,
        patch_size=8,
    )
    tiny_transformer = dict(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=12,
        in_channels=2 * _TINY_Z_DIM + 4,
        out_channels=_TINY_Z_DIM,
        text_dim=32,
        freq_dim=32,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        eps=1e-6,
        image_dim=tiny_clip["hidden_size"],
        added_kv_proj_dim=2 * 12,
        rope_max_seq_len=32,
    )
    tiny_vae = dict(
        base_dim=4,
        z_dim=_TINY_Z_DIM,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        # Non-trivial statistics (the real VAE's first four), so the normalization is exercised.
        latents_mean=[-0.7571, -0.7089, -0.9113, 0.1075],
        latents_std=[2.8184, 1.4541, 2.3275, 2.6558],
    )
    tiny_image_processor = dict(
        size={"shortest_edge": _TINY_CLIP_SIZE},
        crop_size={"height": _TINY_CLIP_SIZE, "width": _TINY_CLIP_SIZE},
    )
    tiny_id = (
        f"tiny:{hub_id}:{tiny_transformer}{tiny_vae}{TINY_T5}{tiny_clip}{tiny_image_processor}"
    )
    # The hub repo's scheduler_config.json (diffusers' convert_wan_to_diffusers.py: flow_shift
    # 3.0 for the 480P I2V model; 720P uses 5.0).
    scheduler_config = dict(
        prediction_type="flow_prediction",
        use_flow_sigmas=True,
        num_train_timesteps=1000,
        flow_shift=3.0,
    )

    @classmethod
    def geometry(cls) -> dict[str, Any]:
        """Wan2.1-I2V-14B-480P: cross-attention to the UMT5 tokens plus the I2V branch's own K/V
        (`add_k_proj`, `add_v_proj`) over the CLIP tokens (a class token and one per patch of
        the image encoder); a causal VAE (fp32) decoding one latent frame at a time, CLIP in
        fp32."""
        from trainables.hub_configs import hub_config

        t, vae = hub_config(cls.name, "transformer"), hub_config(cls.name, "vae")
        clip = hub_config(cls.name, "image_encoder")
        hidden = t["num_attention_heads"] * t["attention_head_dim"]
        ffn = t["ffn_dim"]
        kv = t["added_kv_proj_dim"]
        patch_time, _, patch_space = t["patch_size"]
        return dict(
            layers=t["num_layers"],
            hidden=hidden,
            ffn=ffn,
            norms=3,
            cross_attention=True,
            text_tokens=cls.text_tokens,
            joint_text=False,
            image_tokens=(clip["image_size"] // clip["patch_size"]) ** 2 + 1,
            vae_time=vae["scale_factor_temporal"],
            vae_space=vae["scale_factor_spatial"],
            patch_time=patch_time,
            patch_space=patch_space,
            linears={
                **attention_linears("attn1", hidden),
                **attention_linears("attn2", hidden),
                "attn2.add_k_proj": (kv, hidden),
                "attn2.add_v_proj": (kv, hidden),
                "ffn.net.0.proj": (hidden, ffn),
                "ffn.net.2": (ffn, hidden),
            },
            vae_bytes=4,
            image_encoder_bytes=4,
            # Causal: one latent frame (vae_time frames) at a time, fp32, at its base width.
            vae_stage=(vae["scale_factor_temporal"], 1, vae["base_dim"], 4),
            context_linears=("attn2.to_k", "attn2.to_v", "attn2.add_k_proj", "attn2.add_v_proj"),
        )

    @classmethod
    def build_tiny_pipeline(cls, seed: int = 0, text: bool = True) -> WanImageToVideoPipeline:
        from diffusers import (
            AutoencoderKLWan,
            UniPCMultistepScheduler,
            WanImageToVideoPipeline,
            WanTransformer3DModel,
        )
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        with seeded(seed):
            transformer = WanTransformer3DModel(**cls.tiny_transformer)
        with seeded(seed + 1):
            vae = AutoencoderKLWan(**cls.tiny_vae)
        with seeded(seed + 3):
            image_encoder = CLIPVisionModel(CLIPVisionConfig(**cls.tiny_clip)).eval()
        return WanImageToVideoPipeline(
            tokenizer=cls.tiny_tokenizer() if text else None,
            text_encoder=cls.tiny_text_encoder(seed) if text else None,
            vae=vae,
            scheduler=UniPCMultistepScheduler(**cls.scheduler_config),
            image_processor=CLIPImageProcessor(**cls.tiny_image_processor),
            image_encoder=image_encoder,
            transformer=transformer,
        )

    def adopt_pipeline(self, pipeline: Any, cast_transformer_only: bool = False) -> None:
        """The pipeline's parts, and its CLIP image encoder (frozen, fp32) besides."""
        super().adopt_pipeline(pipeline, cast_transformer_only)
        self.image_encoder = pipeline.image_encoder.requires_grad_(False).eval()

    @no_grad
    def encode_prompt(self, prompt: str) -> dict[str, torch.Tensor]:
        from diffusers import WanImageToVideoPipeline

        tokenizer, text_encoder = self.load_text_encoder()
        # A text-only pipeline runs the pipeline's own prompt code (cleaning, padding, zeroing
        # past the prompt's length). 512 tokens, not encode_prompt's default 226: see `text_tokens`.
        text = WanImageToVideoPipeline(tokenizer, text_encoder.to(self.device), None, None)
        embeds, _ = text.encode_prompt(
            prompt,
            do_classifier_free_guidance=False,
            max_sequence_length=self.text_tokens,
            device=self.device,
            dtype=self.dtype,
        )
        return {"prompt_embeds": embeds.cpu()}

    # -- training ------------------------------------------------------------------------------
    def _latent_stats(
        self, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's per-channel latent mean and 1/std, shaped as the pipeline shapes them."""
        import torch

        shape = (1, self.vae.config.z_dim, 1, 1, 1)
        mean = torch.tensor(self.vae.config.latents_mean).view(shape).to(device, dtype)
        inv_std = 1.0 / torch.tensor(self.vae.config.latents_std).view(shape).to(device, dtype)
        return mean, inv_std

    @no_grad
    def prepare_example(self, video: np.ndarray) -> dict[str, torch.Tensor]:
        """The video's normalized latent, the pipeline's condition (mask + latent of [first
        frame, zeros]) and the CLIP features of the first frame; all deterministic.

        The video latent is the posterior's mode, not a sample: Wan's own VAE `encode` returns
        μ (its training never samples), and the pipeline encodes its condition with
        `sample_mode="argmax"` too."""
        import torch
        from diffusers.pipelines.wan.pipeline_wan_i2v import retrieve_latents

        self.check_frames(video.shape[0])
        frames, height, width = video.shape[:3]
        pixels = to_unit_range(video).unsqueeze(0).to(self.device, self.vae.dtype)  # 1,C,F,H,W
        latents = retrieve_latents(self.vae.encode(pixels), sample_mode="argmax").float()
        mean, inv_std = self._latent_stats(self.device, torch.float32)
        latents = (latents - mean) * inv_std

        # The pipeline's own conditioning code, on the first frame preprocessed its own way.
        first = Image.fromarray(video[0])
        image = self.pipeline.video_processor.preprocess(first, height=height, width=width)
        _, condition = self.pipeline.prepare_latents(
            image.to(self.device, dtype=torch.float32),
            1,
            self.vae.config.z_dim,
            height,
            width,
            frames,
            torch.float32,
            self.device,
            None,
            latents=torch.zeros_like(latents),  # given, so no noise is drawn from global RNG
        )
        image_embeds = self.pipeline.encode_image(first, self.device)
        return {
            "latents": latents[0].cpu(),  # C,f,h,w (normalized)
            "condition": condition[0].float().cpu(),  # 4 + C,f,h,w
            "image_embeds": image_embeds[0].float().cpu(),  # tokens, CLIP hidden size
        }

    @property
    def flow_shift(self) -> float:
        """The scheduler's shift: UniPC's `flow_shift` (the hub repo), or `shift` for a
        FlowMatchEulerDiscreteScheduler."""
        config = self.scheduler.config
        return float(config.get("flow_shift", config.get("shift", 1.0)))

    def loss(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        """Flow matching with no weighting over σ (finetrainers' default for Wan): one
        noise draw and one σ per example, both from `generator`, so a resumed trial draws
        exactly what an uninterrupted one would."""
        import torch
        import torch.nn.functional as F

        latents = batch["latents"].to(self.device, torch.float32)  # B,C,f,h,w
        condition = batch["condition"].to(self.device, self.dtype)
        image_embeds = batch["image_embeds"].to(self.device, self.dtype)
        batch_size = latents.shape[0]

        noise = torch.randn(latents.shape, generator=generator, device=self.device)
        # σ uniform, then shifted exactly as the sampler's flow sigmas are.
        u = torch.rand(batch_size, generator=generator, device=self.device)
        shift = self.flow_shift
        sigma = shift * u / (1 + (shift - 1) * u)
        s = sigma.view(-1, 1, 1, 1, 1)
        noisy = (1.0 - s) * latents + s * noise
        timestep = sigma * self.scheduler.config.num_train_timesteps
        output = model(
            hidden_states=torch.cat([noisy.to(self.dtype), condition], dim=1),
            timestep=timestep,
            encoder_hidden_states=self.prompt["prompt_embeds"].expand(batch_size, -1, -1),
            encoder_hidden_states_image=image_embeds,
            return_dict=False,
        )[0]
        return F.mse_loss(output.float(), noise - latents)

    # -- sampling ------------------------------------------------------------------------------
    def sample_many(
        self, images: list[np.ndarray], frames: int, steps: int, seed: int
    ) -> list[Sample]:
        """One image at a time: diffusers' Wan image-to-video pipeline (0.42) encodes a single
        first frame per call (`prepare_latents` repeats its condition for every generator, and
        the CLIP embedding for the batch), so a batch of different first frames is not one call.
        Its validation is also its memory peak (orchestrator.gpu_estimates)."""
        return [self._sample_one(image, frames, steps, seed) for image in images]

    @no_grad
    def _sample_one(self, image: np.ndarray, frames: int, steps: int, seed: int) -> Sample:
        import torch

        self.check_frames(frames)
        height, width = image.shape[:2]
        with self.evaluating():
            latents = self.pipeline(
                image=Image.fromarray(image),
                prompt_embeds=self.prompt["prompt_embeds"],
                guidance_scale=1.0,
                num_inference_steps=steps,
                num_frames=frames,
                height=height,
                width=width,
                generator=torch.Generator(self.device).manual_seed(seed),
                output_type="latent",
                return_dict=False,
            )[0]
        # Decoded as the pipeline decodes for output_type="np".
        mean, inv_std = self._latent_stats(self.vae.device, self.vae.dtype)
        decoded = self.vae.decode(
            latents.to(self.vae.device, self.vae.dtype) / inv_std + mean, return_dict=False
        )[0]
        video = self.pipeline.video_processor.postprocess_video(decoded, output_type="np")[0]
        video_u8 = frames_to_uint8(video)
        return Sample(video=video_u8, last_latent=latents[0, :, -1].float().cpu())
