"""How good can the micro backbone's VAE get, and how fast does it get there on this machine?

`python -m benchmarks.micro_vae` prints two things, each on the held-out photographs the tasks
validate on (`trainables.pretrain_micro.held_out_set`):

- the *linear bound*: PCA of 8×8 colour patches fitted on pretraining-split crops, keeping as
  many components as the VAE has latent channels per 8×8 block (what a linear autoencoder with
  the VAE's bottleneck reconstructs; numpy's SVD, no training);
- *probes*: `pretrain_micro.train_vae`, the pretraining's own VAE stage, for `--steps` steps of
  each `--config` (JSON overrides of `LTXVideo.micro_vae`), its held-out image and
  transition-last-frame PSNR every `--eval-every` steps, with the minutes it took.

Step 8 asks for 25 dB on held-out images; this is the tool to find a VAE that gets there before
paying for a whole pretraining run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from benchmarks import harness

PATCH = 8


def patches(images: np.ndarray) -> np.ndarray:
    """N×H×W×3 → (N·H/8·W/8)×192: each 8×8 colour block a row."""
    n, h, w, c = images.shape
    blocks = images.reshape(n, h // PATCH, PATCH, w // PATCH, PATCH, c).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(-1, PATCH * PATCH * c)


def unpatch(rows: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    n, h, w, c = shape
    blocks = rows.reshape(n, h // PATCH, w // PATCH, PATCH, PATCH, c).transpose(0, 1, 3, 2, 4, 5)
    return blocks.reshape(shape)


def linear_bound(components: list[int], fit_images: int, held_out: int) -> list[dict]:
    """Held-out PSNR of PCA on 8×8 patches, per number of kept components."""
    import torch

    from tasks.sources import natural_image, validation_index
    from trainables.pretrain_micro import SIZE, psnr

    def unit(images: list[np.ndarray]) -> np.ndarray:
        return np.stack(images).astype(np.float64) / 127.5 - 1

    fit = unit([natural_image(i, SIZE) for i in range(fit_images)])
    test = unit([natural_image(validation_index(i), SIZE) for i in range(held_out)])
    rows = patches(fit)
    mean = rows.mean(0)
    _, _, basis = np.linalg.svd(rows - mean, full_matrices=False)
    out = []
    for k in components:
        kept = basis[:k]
        coded = (patches(test) - mean) @ kept.T @ kept + mean
        out.append({"kind": "pca", "components": k, "heldout_psnr_image": psnr(
            torch.from_numpy(unpatch(coded, test.shape)), torch.from_numpy(test))})  # fmt: skip
    return out


def probe(name: str, overrides: dict, args: argparse.Namespace) -> list[dict]:
    """The pretraining's VAE stage on one config; a row per evaluation."""
    import torch

    from trainables import pretrain_micro
    from trainables.pretraining_clips import clip

    torch.set_num_threads(args.threads)
    settings = dataclasses.replace(
        pretrain_micro.Settings(),
        vae_steps=args.steps,
        eval_every=args.eval_every,
        held_out=args.held_out,
        vae_lr=args.lr,
        warmup_steps=min(100, args.steps),
    )
    bank = np.stack(
        [clip(i, pretrain_micro.SIZE, pretrain_micro.FRAMES) for i in range(args.clips)]
    )
    rows: list[dict] = []

    def log(metrics: dict, step: int) -> None:
        row = {"kind": "probe", "config": name, "step": step, **metrics}
        rows.append(row)
        print(json.dumps(row), flush=True)

    vae = pretrain_micro.train_vae(settings, bank, log, overrides)
    parameters = sum(p.numel() for p in vae.parameters())
    for row in rows:
        row["parameters"] = parameters
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = harness.arguments(__doc__, "benchmarks/results/micro_vae.json", threads=2)
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=JSON",
        help="a probe: overrides of LTXVideo.micro_vae as JSON, e.g. 'patch2={\"patch_size\": 2}';"
        " 'shipped={}' is the shipped config; none: the linear bound only",
    )
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--held-out", type=int, default=32)
    parser.add_argument("--fit-images", type=int, default=600)
    quick = {"config": ["shipped={}"], "steps": 2, "eval_every": 1, "clips": 4, "held_out": 2}
    args = harness.parse(parser, argv, quick=quick | {"fit_images": 20})
    configs = {}
    for item in args.config:
        name, _, text = item.partition("=")
        try:
            overrides = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"bad --config {item!r}: {error.msg}; allowed: NAME=JSON object"
            ) from None
        if not name or not isinstance(overrides, dict):
            raise ValueError(f"bad --config {item!r}; allowed: NAME=JSON object")
        configs[name] = overrides
    args.configs = configs
    for flag in ("steps", "eval_every", "clips", "held_out", "fit_images", "threads"):
        if getattr(args, flag) < 1:
            raise ValueError(f"bad --{flag.replace('_', '-')} {getattr(args, flag)}; allowed: ≥ 1")
    return args


@harness.entry
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.monotonic()
    rows = linear_bound([3, 16, 32, 64], args.fit_images, args.held_out)
    for row in rows:
        print(json.dumps(row), flush=True)
    for name, overrides in args.configs.items():
        rows += probe(name, overrides, args)
    harness.write_rows(args.out, rows)
    print(f"{len(rows)} rows in {(time.monotonic() - start) / 60:.1f} min -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
