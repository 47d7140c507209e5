"""DeepSpeed's own cost, apart from the rest of a trial: a training step through the trial's
engine against the same step done by hand with torch on the very same model and optimizer, and
what one tiny checkpoint (`trainables.engine.save_checkpoint`) costs.

`benchmarks.step_overhead` measures a whole trial (data, logging, checkpoints, Tune) against a
bare loop; this isolates the engine's per-call Python (forward/backward/step wrappers, hooks,
timers) from the run-to-run noise of a whole trial. Both sides alternate in blocks of 10 steps,
30 blocks each, after 20 warm-up steps; medians of the blocks (and of 20 checkpoint saves). One
process, one torch thread.

    .venv/bin/python -m benchmarks.engine_overhead [--backbones cogvideox,ltx,wan]
        [--blocks 30] [--warmup 20] [--saves 20] [--out benchmarks/results/engine_overhead.json]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import harness

BLOCK = 10


def measure(name: str, blocks: int, warmup: int = 20, saves: int = 20) -> dict:
    import numpy as np
    import torch

    from trainables.backbones import backbone_defaults, load
    from trainables.engine import OptimSettings, build_engine, save_checkpoint
    from trainables.lora import add_lora, trainable_parameters

    torch.set_num_threads(1)
    defaults = backbone_defaults(name)
    backbone = load(name)
    add_lora(backbone, defaults["modules"], 4, 4.0, seed=0)
    settings = OptimSettings(1e-4, (0.9, 0.99), 1e-8, 1e-4, 0, 1.0, 2, zero_stage=2)
    engine = build_engine(backbone.transformer, settings)
    video = np.random.default_rng(0).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    example = backbone.prepare_example(video)
    batch = {key: torch.stack([value, value]) for key, value in example.items()}
    generator = torch.Generator().manual_seed(0)
    params = trainable_parameters(backbone.transformer)
    optimizer, schedule = engine.optimizer, engine.lr_scheduler

    def engine_step() -> None:
        loss = backbone.loss(engine, batch, generator)
        engine.backward(loss)
        engine.step()

    def torch_step() -> None:
        loss = backbone.loss(engine.module, batch, generator)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm, foreach=True)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)

    for step in (engine_step, torch_step):
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {"engine": [], "torch": []}
    for _ in range(blocks):
        for side, step in (("engine", engine_step), ("torch", torch_step)):
            start = time.perf_counter()
            for _ in range(BLOCK):
                step()
            times[side].append((time.perf_counter() - start) / BLOCK)
    state = {"step": 1, "generators": [generator.get_state()]}
    save_s = []
    for _ in range(saves):
        folder = Path(tempfile.mkdtemp(prefix="engine-overhead-"))
        start = time.perf_counter()
        save_checkpoint(engine, folder, state)
        save_s.append(time.perf_counter() - start)
    engine_s, torch_s = statistics.median(times["engine"]), statistics.median(times["torch"])
    return {
        "backbone": name,
        "zero_stage_run": engine.zero_optimization_stage(),
        "engine_s_per_step": engine_s,
        "torch_s_per_step": torch_s,
        "engine_extra_ms": (engine_s - torch_s) * 1e3,
        "ratio": engine_s / torch_s,
        "checkpoint_ms": statistics.median(save_s) * 1e3,
    }


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, "benchmarks/results/engine_overhead.json")
    parser.add_argument("--backbones", default="cogvideox,ltx,wan")
    parser.add_argument("--blocks", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps of each side first")
    parser.add_argument("--saves", type=int, default=20, help="timed checkpoint saves")
    args = harness.parse(
        parser, argv, quick={"backbones": "ltx", "blocks": 1, "warmup": 1, "saves": 1}
    )
    rows = [
        measure(name, args.blocks, args.warmup, args.saves) for name in args.backbones.split(",")
    ]
    print("| backbone | engine s/step | torch s/step | engine's extra | tiny checkpoint |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['backbone']} | {r['engine_s_per_step']:.4f} | {r['torch_s_per_step']:.4f} | "
            f"{r['engine_extra_ms']:+.2f} ms ({r['ratio'] - 1:+.1%}) | "
            f"{r['checkpoint_ms']:.1f} ms |"
        )
    harness.write_rows(args.out, rows)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
