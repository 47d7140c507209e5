"""Pretrain the micro LTX-Video backbone from a seed: `python -m trainables.pretrain_micro`.

The paper's claim (a few examples specify a task) rests on a pretrained video prior, which no
random tiny backbone has. This regenerates the one shipped in `weights/ltx-micro` on a laptop's
CPU, in two stages, each logged to MLflow like a trial (experiment `pretrain_micro`):

1. the VAE (diffusers' `AutoencoderKLLTXVideo`, LTX-Video 0.9.5's residual down/up blocks at a
   small width) as an autoencoder of the pretraining clips and of their frames as images,
   scored by reconstruction PSNR on held-out photographs (`tasks.sources.HELD_OUT_SOURCES`)
   and on the last frame of held-out transitions; then its latent statistics, which the
   pipeline normalizes with;
2. the transformer (`LTXVideoTransformer3DModel`) with the backbone's own objective,
   `LTXVideo.loss` (the one every trial fine-tunes with: first frame clean and conditioning,
   flow matching on the rest), on the same clips' VAE posteriors.

Clips are camera motion over the pretraining photographs (`trainables.pretraining_clips`): no
task's transformation and no held-out photograph is ever shown. The folder is written in the
hub layout through `save_pretrained`, next to the old one, and swapped in at the end, so a
failure leaves the weights that were there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tasks.sources import natural_image, validation_index
from tasks.transitions import render
from trainables.backbones import DEFAULT_PROMPT, seeded, to_unit_range
from trainables.backbones.ltx import LTXVideo
from trainables.pretraining_clips import clip

SIZE = (64, 64)
FRAMES = 9
EXPERIMENT = "pretrain_micro"


@dataclass(frozen=True)
class Settings:
    """Everything the weights depend on (with the code): the same settings give the same
    weights on the same machine and library versions."""

    seed: int = 0
    clips: int = 1500  # pretraining clips, rendered once and kept in memory
    vae_steps: int = 4000
    vae_clips: int = 2  # per step; every other step trains on their frames as images instead
    vae_lr: float = 1e-3
    vae_kl_weight: float = 1e-7
    transformer_steps: int = 5000
    transformer_batch: int = 16
    transformer_lr: float = 5e-4
    warmup_steps: int = 100
    eval_every: int = 250
    held_out: int = 32  # held-out images (and transitions) the VAE is scored on
    threads: int = 2


def cosine_lr(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return 0.5 * lr * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean PSNR (dB) over the batch of [-1, 1] images or videos."""
    error = ((prediction.clamp(-1, 1) - target) / 2).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(1 / error.clamp_min(1e-10))).mean())


def held_out_set(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out photographs as images (N×3×1×H×W) and linear transitions between pairs of
    them (N×3×F×H×W): what a task's validation input and the video of its target look like."""
    images = np.stack([natural_image(validation_index(i), SIZE) for i in range(count)])
    videos = np.stack(
        [render(images[i], images[(i + 1) % count], "linear", FRAMES) for i in range(count)]
    )
    return to_unit_range(images[:, None]), to_unit_range(videos)


@torch.no_grad()
def vae_scores(vae: torch.nn.Module, images: torch.Tensor, videos: torch.Tensor) -> dict:
    """Reconstruction PSNR of held-out images and of held-out transitions' last frames (the
    frame a prediction is), through the posterior's mode."""
    out = {}
    for name, x in (("image", images), ("last_frame", videos)):
        y = torch.cat(
            [vae.decode(vae.encode(part).latent_dist.mode()).sample for part in x.split(8)]
        )
        out[f"vae_heldout_psnr_{name}"] = psnr(y[:, :, -1], x[:, :, -1])
    return out


def train_vae(
    settings: Settings, bank: np.ndarray, log, overrides: dict | None = None
) -> torch.nn.Module:
    """The VAE from its seed as an autoencoder of the clips; `overrides` change its config
    (`benchmarks.micro_vae` probes other VAEs with this same stage)."""
    from diffusers import AutoencoderKLLTXVideo

    with seeded(settings.seed + 1):
        vae = AutoencoderKLLTXVideo(**(LTXVideo.micro_vae | (overrides or {})))
    with torch.no_grad():  # start from a small posterior variance: a near-deterministic code
        vae.encoder.conv_out.conv.bias[-1] = LTXVideo.micro_initial_logvar
    images, videos = held_out_set(settings.held_out)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.vae_lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(settings.seed)
    start = time.monotonic()
    for step in range(settings.vae_steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(
                step, settings.vae_steps, settings.vae_lr, settings.warmup_steps
            )
        chosen = torch.randint(len(bank), (settings.vae_clips,), generator=generator)
        x = to_unit_range(bank[chosen.numpy()])  # B,3,F,H,W
        if step % 2:  # the clips' frames as single images: the first-frame code path
            x = x.movedim(2, 1).flatten(0, 1)[:, :, None]
        posterior = vae.encode(x).latent_dist
        y = vae.decode(posterior.sample(generator=generator)).sample
        loss = (y - x).pow(2).mean() + settings.vae_kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = step + 1
        if done % settings.eval_every == 0 or done == settings.vae_steps:
            scores = vae_scores(vae.eval(), images, videos)
            vae.train()
            log({"vae_loss": float(loss.detach()), **scores, "minutes": elapsed(start)}, done)
    return vae.eval().requires_grad_(False)


@torch.no_grad()
def latent_statistics(vae: torch.nn.Module, bank: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the clips' latents (posterior modes): the pipeline
    normalizes latents with them (`latents_mean`, `latents_std`), as LTX-Video's VAE ships."""
    sums = []
    for part in np.array_split(bank[:256], 32):
        sums.append(vae.encode(to_unit_range(part)).latent_dist.mode().movedim(1, 0).flatten(1))
    latents = torch.cat(sums, dim=1)
    return latents.mean(1).tolist(), latents.std(1).clamp_min(1e-3).tolist()


def train_transformer(settings: Settings, vae: torch.nn.Module, bank: np.ndarray, log):
    """The transformer from its seed, trained with `LTXVideo.loss` on the clips' posteriors."""
    from diffusers import LTXVideoTransformer3DModel

    with seeded(settings.seed):
        transformer = LTXVideoTransformer3DModel(**LTXVideo.micro_transformer)
    backbone = LTXVideo(
        LTXVideo.assemble_pipeline(vae, transformer), torch.device("cpu"), torch.float32
    )
    backbone.use_prompt(backbone.encode_prompt(DEFAULT_PROMPT))
    start = time.monotonic()
    with torch.no_grad():  # what `prepare_example` keeps of each video, 16 videos at a time
        params = torch.cat(
            [
                vae.encode(to_unit_range(part)).latent_dist.parameters.float()
                for part in np.array_split(bank, max(1, len(bank) // 16))
            ]
        )
    log({"encode_minutes": elapsed(start)}, 0)
    transformer = backbone.transformer.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(
        transformer.parameters(), lr=settings.transformer_lr, weight_decay=0.0
    )
    generator = torch.Generator().manual_seed(settings.seed + 2)
    losses = []
    start = time.monotonic()
    for step in range(settings.transformer_steps):
        lr = cosine_lr(
            step, settings.transformer_steps, settings.transformer_lr, settings.warmup_steps
        )
        for group in optimizer.param_groups:
            group["lr"] = lr
        chosen = torch.randint(len(params), (settings.transformer_batch,), generator=generator)
        loss = backbone.loss(transformer, {"latent_params": params[chosen]}, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if done % settings.eval_every == 0 or done == settings.transformer_steps:
            mean = sum(losses) / len(losses)
            log({"transformer_loss": mean, "lr": lr, "minutes": elapsed(start)}, done)
            losses = []
    return transformer.eval().requires_grad_(False)


def elapsed(start: float) -> float:
    return (time.monotonic() - start) / 60


def save_atomically(pipeline, out: Path) -> None:
    """Write the hub-layout folder beside `out`, then swap it in: a failure at any point leaves
    either the old folder or the new one, whole."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        pipeline.save_pretrained(staging, safe_serialization=True)
        staging.chmod(0o755)  # mkdtemp's folder is private; the weights are the repo's
        old = out.with_name(f".{out.name}-old")
        if out.exists():
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
        staging.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def pretrain(settings: Settings, out: Path, tracking_uri: str) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    torch.set_num_threads(settings.threads)
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        client.create_experiment(EXPERIMENT) if experiment is None else experiment.experiment_id
    )
    run = client.create_run(experiment_id, run_name=f"ltx-micro-seed{settings.seed}")
    run_id = run.info.run_id
    for key, value in dataclasses.asdict(settings).items():
        client.log_param(run_id, key, value)
    client.log_param(run_id, "out", str(out))
    summary: dict[str, float] = {}

    def log(metrics: dict[str, float], step: int) -> None:
        summary.update(metrics)
        for key, value in metrics.items():
            client.log_metric(run_id, key, value, step=step)
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        print(f"step {step}: {shown}", flush=True)

    try:
        start = time.monotonic()
        bank = np.stack([clip(i, SIZE, FRAMES) for i in range(settings.clips)])
        log({"clip_minutes": elapsed(start)}, 0)
        vae = train_vae(settings, bank, log)
        mean, std = latent_statistics(vae, bank)
        vae.latents_mean.copy_(torch.tensor(mean))
        vae.latents_std.copy_(torch.tensor(std))
        transformer = train_transformer(settings, vae, bank, log)
        save_atomically(LTXVideo.assemble_pipeline(vae, transformer), out)
        summary["total_minutes"] = elapsed(start)
        client.log_metric(run_id, "total_minutes", summary["total_minutes"])
        client.log_text(run_id, json.dumps(summary, indent=2), "summary.json")
        client.set_terminated(run_id)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    summary["run_id"] = run_id
    return summary


#: Where the run is logged when no --tracking-uri is given (relative to the working folder).
DEFAULT_STORE = Path("sweeps") / EXPERIMENT / "mlflow.db"


def parse_settings(argv: list[str] | None) -> tuple[Settings, Path, str | None]:
    """Settings, output folder and tracking URI from the command line; a bad value is a
    one-line ValueError naming it."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=LTXVideo.micro_folder)
    parser.add_argument(
        "--tracking-uri", help=f"MLflow tracking URI (default: a SQLite store, {DEFAULT_STORE})"
    )
    for field in dataclasses.fields(Settings):
        kind = type(field.default)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=None)
    args = parser.parse_args(argv)
    values = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Settings)
        if getattr(args, f.name) is not None
    }
    settings = Settings(**values)
    for key, value in dataclasses.asdict(settings).items():
        if value < 0 or (value == 0 and key != "seed"):
            allowed = "≥ 0" if key == "seed" else "> 0"
            raise ValueError(f"bad --{key.replace('_', '-')} {value!r}; allowed: {allowed}")
    return settings, args.out, args.tracking_uri


def main(argv: list[str] | None = None) -> int:
    try:
        settings, out, tracking = parse_settings(argv)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if tracking is None:
        DEFAULT_STORE.parent.mkdir(parents=True, exist_ok=True)
        tracking = f"sqlite:///{DEFAULT_STORE.resolve()}"
    summary = pretrain(settings, out, tracking)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
