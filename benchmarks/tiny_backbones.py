"""Seconds per LoRA training step and peak memory of each tiny backbone on this machine.

Each backbone runs in its own process (peak RSS is per process): load the tiny model, add its
Table 3 LoRA group (rank 8), build the ZeRO-2 DeepSpeed engine, time `--steps` steps at
9×64×64 with batch 2 after `--warmup` steps. Prints one Markdown row per backbone and writes
the rows to `--out`.

    .venv/bin/python -m benchmarks.tiny_backbones [--steps 50] [--zero-stage 2] [--compile]
        [--backbones cogvideox,ltx,wan] [--out benchmarks/results/tiny_backbones.json]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "tiny_backbones.json"


def measure(name: str, steps: int, warmup: int, zero_stage: int, compile: bool) -> dict:
    import numpy as np
    import torch

    from trainables.backbones import backbone_defaults, load
    from trainables.engine import OptimSettings, build_engine
    from trainables.lora import add_lora

    torch.set_num_threads(1)  # one Ray trial per core is how sweeps run here
    backbone = load(name)
    rng = np.random.default_rng(0)
    video = rng.integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    example = backbone.prepare_example(video)
    batch = {k: torch.stack([v, v]) for k, v in example.items()}
    defaults = backbone_defaults(name, "tiny")
    add_lora(backbone, defaults["modules"], 8, 8.0, seed=0)
    if compile:
        backbone.compile_blocks()  # as a trial with compile=True (the first step compiles)
    settings = OptimSettings(1e-3, (0.9, 0.99), 1e-8, 0.0, 0, 1.0, 2, zero_stage=zero_stage)
    engine = build_engine(backbone.transformer, settings)
    generator = torch.Generator().manual_seed(0)
    first_step_s = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        began = time.perf_counter()
        loss = backbone.loss(engine, batch, generator)
        engine.backward(loss)
        engine.step()
        if i == 0:
            first_step_s = time.perf_counter() - began
    seconds = (time.perf_counter() - start) / steps
    started = time.perf_counter()
    backbone.sample(video[0], 9, 10, seed=0)
    sample_s = time.perf_counter() - started
    params = sum(p.numel() for p in backbone.transformer.parameters())
    return {
        "backbone": name,
        "s_per_step": seconds,
        "first_step_s": first_step_s,
        "sample_10_steps_s": sample_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "transformer_params": params,
    }


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--zero-stage", type=int, default=2)
    parser.add_argument(
        "--compile", action="store_true", help="compile the transformer's blocks (compile=True)"
    )
    parser.add_argument("--only", help="measure one backbone in this process (internal)")
    parser.add_argument("--backbones", help="comma-separated (default: every registered one)")
    args = harness.parse(parser, argv, quick={"steps": 1, "warmup": 0, "backbones": "ltx"})
    if args.only:
        print(
            json.dumps(measure(args.only, args.steps, args.warmup, args.zero_stage, args.compile))
        )
        return 0
    from trainables.backbones import backbone_names

    rows = []

    print(
        "| backbone | s / LoRA step (9×64×64, batch 2) | first step (s) | sampling, 10 steps (s) |"
        " peak RSS (MB) | transformer params |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.backbones.split(",") if args.backbones else backbone_names():
        out = (
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.tiny_backbones",
                    "--only",
                    name,
                    "--steps",
                    str(args.steps),
                    "--warmup",
                    str(args.warmup),
                    "--zero-stage",
                    str(args.zero_stage),
                    *(["--compile"] if args.compile else []),
                    *harness.passed(args),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        r = json.loads(out)
        rows.append({"backbone": name, **r})
        print(
            f"| {name} | {r['s_per_step']:.4f} | {r['first_step_s']:.1f} | "
            f"{r['sample_10_steps_s']:.2f} |"
            f" {r['peak_rss_mb']:.0f} | {r['transformer_params']:,} |"
        )
    harness.write_rows(args.out, rows, settings=harness.settings(args, "only", "out"))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
