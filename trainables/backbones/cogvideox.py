"""CogVideoX1.5 image-to-video (THUDM/CogVideoX1.5-5B-I2V), as its diffusers pipeline runs it.

Training mirrors `CogVideoXImageToVideoPipeline` and diffusers' own I2V LoRA script: v-prediction
on the DDPM schedule with loss weight 1/(1−ᾱ_t); the first frame is lightly noised, encoded on its
own (this VAE is not causal in time), scaled as the pipeline scales it, and concatenated to the
noisy video latent on the channel axis.

CogVideoX1.5 patches time by 2, so an odd number of latent frames is padded to an even one. For 9
frames (3 latent frames) the pipeline raises `num_frames` to 13, samples 4 latent frames of noise
with the image condition `[img, 0, 0, 0]`, and drops latent frame 0 before decoding. Training pads
as THUDM's CogVideoX1.5 I2V trainer does (`compute_loss`): the *video* latent gets one leading copy
of its first latent frame (`[v0, v0, v1, v2]`; the copy sits where the pipeline's dropped frame is
and is left out of the loss), and the image latent is zero-padded to that padded length, giving
the pipeline's `[img, 0, 0, 0]` — it is not padded like the video (that gave `[img, img, 0, 0]`).
RoPE covers the padded length (4 latent frames, 2 time patches), as the pipeline's does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from trainables.backbones._base import Backbone, Sample
from trainables.backbones._parts import (
    TINY_T5,
    attention_linears,
    frames_to_uint8,
    no_grad,
    seeded,
    to_unit_range,
)

# torch, diffusers and transformers are imported where they are used: reading the backbone's
# facts (`CogVideoX.defaults`, …, as a sweep's --dry-run does for thousands of trials, and
# orchestrator.gpu_estimates) must not import them.
if TYPE_CHECKING:
    import torch
    from diffusers import CogVideoXImageToVideoPipeline

_QKVO = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0")


class CogVideoX(Backbone):
    name = "cogvideox"
    hub_id = "THUDM/CogVideoX1.5-5B-I2V"
    subfolders = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
    hub_configs = ("transformer", "vae", "scheduler", "text_encoder")
    pipeline_class = "CogVideoXImageToVideoPipeline"
    frame_stride = 4
    repeated_blocks = ("CogVideoXBlock",)  # its diffusers class declares none
    # Seconds per training step at the paper's scale per task, for planning (Table 6 on an RTX
    # 4090 at 9×480×720: 0.5 h per 1000 segmentation steps, 0.75 h per 1000 pose steps, at
    # every n).
    paper_seconds_per_step = {"default": 1.8, "pose": 2.7}
    paper_card = "rtx4090"
    hub_params = {"transformer": 5_571_594_880, "vae": 215_583_907, "text_encoder": 4_762_310_656}

    # The paper's Table 3 (SPEC §3); steps per task are Table 4's "others".
    defaults = dict(
        rank=64,
        alpha=32.0,
        modules="QKVO",
        lr=1e-4,
        beta1=0.9,
        beta2=0.95,
        weight_decay=1e-3,
        warmup_steps=0,
        batch_size=2,
        steps=1200,
        height=480,
        width=720,
        # Not the paper's: validation inputs sampled in one pipeline call. Within the memory
        # the policy reserves for a trial (orchestrator.gpu_estimates.sample_batch; a test
        # checks): its 32 GB (the H200's measured 29.4 GiB reserved at validation, + context)
        # hold 2.
        sample_batch=2,
    )
    tiny_defaults = dict(height=64, width=64, steps=200)

    # CogVideoX has one joint text+video self-attention per block and no cross-attention, so
    # every attention group covers the text tokens too; `all-linear` is anchored to the blocks
    # (peft's "all-linear" would also adapt proj_out and the time/ofs embedders).
    lora_groups = {
        "QK": ("attn1.to_q", "attn1.to_k"),
        "VO": ("attn1.to_v", "attn1.to_out.0"),
        "QKVO": _QKVO,
        "QKVO+FF": (*_QKVO, "ff.net.0.proj", "ff.net.2"),
        "all-linear": (*_QKVO, "ff.net.0.proj", "ff.net.2", "norm1.linear", "norm2.linear"),
    }

    # Tiny stand-ins: the real classes, small configs (constraints: head dim a multiple of 16
    # for the 3D RoPE, ofs_embed_dim == time_embed_dim, sample size ≥ the latent grid for the
    # sliced RoPE).
    tiny_transformer = dict(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=8,
        out_channels=4,
        time_embed_dim=16,
        ofs_embed_dim=16,
        text_embed_dim=32,
        num_layers=2,
        sample_width=16,
        sample_height=16,
        sample_frames=9,
        patch_size=2,
        patch_size_t=2,
        patch_bias=False,
        temporal_compression_ratio=4,
        max_text_seq_length=64,
        use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=False,
    )
    tiny_vae = dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        invert_scale_latents=True,
    )
    tiny_id = f"tiny:{hub_id}:{tiny_transformer}{tiny_vae}{TINY_T5}"
    # CogVideoX1.5's scheduler_config.json.
    scheduler_config = dict(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        set_alpha_to_one=True,
        snr_shift_scale=1.0,
        steps_offset=0,
        timestep_spacing="trailing",
    )

    @classmethod
    def geometry(cls) -> dict[str, Any]:
        """CogVideoX1.5-5B-I2V: joint text+video attention (the text tokens run through every
        block), patches in time and space, AdaLN linears fed by the time embedding; the
        diffusers FeedForward's default inner width (4 × hidden; the block passes no
        `ff_inner_dim`)."""
        from trainables.hub_configs import hub_config

        t, vae = hub_config(cls.name, "transformer"), hub_config(cls.name, "vae")
        hidden = t["num_attention_heads"] * t["attention_head_dim"]
        ffn = 4 * hidden
        return dict(
            layers=t["num_layers"],
            hidden=hidden,
            ffn=ffn,
            norms=2,
            cross_attention=False,
            text_tokens=t["max_text_seq_length"],
            joint_text=True,
            image_tokens=0,
            vae_time=vae["temporal_compression_ratio"],
            # As CogVideoXImageToVideoPipeline: 2 ** (len(block_out_channels) - 1).
            vae_space=2 ** (len(vae["block_out_channels"]) - 1),
            patch_time=t["patch_size_t"],
            patch_space=t["patch_size"],
            linears={
                **attention_linears("attn1", hidden),
                "ff.net.0.proj": (hidden, ffn),
                "ff.net.2": (ffn, hidden),
                "norm1.linear": (t["time_embed_dim"], 6 * hidden),
                "norm2.linear": (t["time_embed_dim"], 6 * hidden),
            },
            vae_bytes=2,
            # The decoder's last stage: all frames at once, at full resolution, its first width.
            vae_stage=(None, 1, vae["block_out_channels"][0], 2),
        )

    @classmethod
    def build_tiny_pipeline(cls, seed: int = 0, text: bool = True) -> CogVideoXImageToVideoPipeline:
        from diffusers import (
            AutoencoderKLCogVideoX,
            CogVideoXDPMScheduler,
            CogVideoXImageToVideoPipeline,
            CogVideoXTransformer3DModel,
        )

        with seeded(seed):
            transformer = CogVideoXTransformer3DModel(**cls.tiny_transformer)
        with seeded(seed + 1):
            vae = AutoencoderKLCogVideoX(**cls.tiny_vae)
        return CogVideoXImageToVideoPipeline(
            tokenizer=cls.tiny_tokenizer() if text else None,
            text_encoder=cls.tiny_text_encoder(seed) if text else None,
            vae=vae,
            transformer=transformer,
            scheduler=CogVideoXDPMScheduler(**cls.scheduler_config),
        )

    @no_grad
    def encode_prompt(self, prompt: str) -> dict[str, torch.Tensor]:
        from diffusers import CogVideoXImageToVideoPipeline

        tokenizer, text_encoder = self.load_text_encoder()
        # A text-only pipeline runs the pipeline's own prompt code (padding, truncation).
        text = CogVideoXImageToVideoPipeline(
            tokenizer, text_encoder.to(self.device), None, None, None
        )
        embeds, _ = text.encode_prompt(
            prompt,
            do_classifier_free_guidance=False,
            max_sequence_length=self.transformer.config.max_text_seq_length,
            device=self.device,
            dtype=self.dtype,
        )
        return {"prompt_embeds": embeds.cpu()}

    # -- training ------------------------------------------------------------------------------
    @no_grad
    def prepare_example(self, video: np.ndarray) -> dict[str, torch.Tensor]:
        self.check_frames(video.shape[0])
        pixels = to_unit_range(video).unsqueeze(0).to(self.device, self.dtype)  # 1,C,F,H,W
        video_dist = self.vae.encode(pixels).latent_dist
        return {
            "video_latent_params": video_dist.parameters[0].cpu(),  # 2C,f,h,w (mean, logvar)
            "first_frame": pixels[0, :, :1].cpu(),  # C,1,H,W in [-1, 1]
        }

    def _image_latents(self, first_frame: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The pipeline's image latent: lightly noised (σ from `_image_noise_sigma`), encoded
        alone, scaled the pipeline's way; B,1,C,h,w."""
        import torch

        sigma = self._image_noise_sigma(first_frame.shape[0], generator)
        noise = torch.randn(first_frame.shape, generator=generator, device=self.device)
        noisy = first_frame + noise.to(self.dtype) * sigma.view(-1, 1, 1, 1, 1).to(self.dtype)
        latents = self.vae.encode(noisy).latent_dist.sample(generator=generator)
        return self._scale_image_latents(latents.permute(0, 2, 1, 3, 4))

    def _image_noise_sigma(self, batch: int, generator: torch.Generator) -> torch.Tensor:
        """σ = exp(N(−3, 0.5)) per example, as THUDM's I2V trainer and diffusers' I2V script
        noise the first frame (a training-time augmentation: the pipeline encodes it clean).
        One method of its own, so that a test can set it to 0 and compare the condition with the
        pipeline's exactly."""
        import torch

        return torch.exp(torch.randn(batch, generator=generator, device=self.device) * 0.5 - 3.0)

    def _scale_image_latents(self, latents: torch.Tensor) -> torch.Tensor:
        scale = self.vae.config.scaling_factor
        return latents / scale if self.vae.config.invert_scale_latents else latents * scale

    def _pad_for_time_patches(self, latents: torch.Tensor) -> tuple[torch.Tensor, int]:
        """CogVideoX1.5 patches time by 2: prepend copies of the first latent frame to the video
        latent, as THUDM's 1.5 I2V trainer does, and say how many were added. They stand where
        the pipeline samples the frames it drops before decoding, so the loss leaves them out.
        Only for the video latent: the image condition is zero-padded (see `loss`)."""
        import torch

        patch_t = self.transformer.config.patch_size_t
        extra = 0 if patch_t is None else (-latents.shape[1]) % patch_t
        if extra:
            latents = torch.cat([latents[:, :1].expand(-1, extra, -1, -1, -1), latents], dim=1)
        return latents, extra

    def _transformer_kwargs(self, latents: torch.Tensor, height: int, width: int) -> dict:
        config = self.transformer.config
        rope = None
        if config.use_rotary_positional_embeddings:
            rope = self.pipeline._prepare_rotary_positional_embeddings(
                height, width, latents.shape[1], self.device
            )
        ofs = None if config.ofs_embed_dim is None else latents.new_full((1,), 2.0)
        return {"image_rotary_emb": rope, "ofs": ofs}

    def loss(
        self, model: torch.nn.Module, batch: dict[str, torch.Tensor], generator: torch.Generator
    ) -> torch.Tensor:
        import torch
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        params = batch["video_latent_params"].to(self.device, self.dtype)
        first_frame = batch["first_frame"].to(self.device, self.dtype)
        height, width = first_frame.shape[-2:]
        # Sample the video latent from its cached distribution each step, as the I2V script does.
        video = DiagonalGaussianDistribution(params).sample(generator=generator)
        video = (video * self.vae.config.scaling_factor).permute(0, 2, 1, 3, 4)  # B,f,C,h,w
        image = self._image_latents(first_frame, generator)
        video, extra = self._pad_for_time_patches(video)
        # The pipeline's condition: the image latent, then zeros to the *padded* length
        # ([img, 0, 0, 0] for 9 frames), as THUDM's trainer pads it after padding the video.
        image = torch.cat([image, image.new_zeros(video.shape)[:, 1:]], dim=1)

        batch_size = video.shape[0]
        noise = torch.randn(video.shape, generator=generator, device=self.device).to(self.dtype)
        steps = self.scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, steps, (batch_size,), generator=generator, device=self.device)
        noisy = self.scheduler.add_noise(video, noise, timesteps)
        output = model(
            hidden_states=torch.cat([noisy, image], dim=2),
            encoder_hidden_states=self.prompt["prompt_embeds"].expand(batch_size, -1, -1),
            timestep=timesteps,
            return_dict=False,
            **self._transformer_kwargs(noisy, height, width),
        )[0]
        predicted = self.scheduler.get_velocity(output, noisy, timesteps)
        alphas = self.scheduler.alphas_cumprod.to(self.device)[timesteps]
        weights = (1.0 / (1.0 - alphas)).view(-1, 1, 1, 1, 1)
        error = weights * (predicted.float() - video.float()) ** 2
        return error[:, extra:].mean()

    # -- sampling ------------------------------------------------------------------------------
    @no_grad
    def sample_many(
        self, images: list[np.ndarray], frames: int, steps: int, seed: int
    ) -> list[Sample]:
        import torch

        self.check_frames(frames)
        height, width = images[0].shape[:2]
        count = len(images)
        with self.evaluating():
            latents = self.pipeline(
                image=[Image.fromarray(image) for image in images],
                prompt_embeds=self.prompt["prompt_embeds"].expand(count, -1, -1),
                guidance_scale=1.0,
                use_dynamic_cfg=False,
                num_inference_steps=steps,
                num_frames=frames,
                height=height,
                width=width,
                generator=[torch.Generator(self.device).manual_seed(seed) for _ in images],
                output_type="latent",
                return_dict=False,
            )[0]
        # As the pipeline does before decoding: drop the frames added for time patches.
        latents = latents[:, latents.shape[1] - ((frames - 1) // self.frame_stride + 1) :]
        samples = []
        for one in latents.split(1):  # one video at a time through the VAE: its workspace
            decoded = self.pipeline.decode_latents(one)  # is the biggest at full scale
            video = self.pipeline.video_processor.postprocess_video(decoded, output_type="np")[0]
            samples.append(
                Sample(video=frames_to_uint8(video), last_latent=one[0, -1].float().cpu())
            )
        return samples
