"""Peak memory of a tiny trial per backbone and ZeRO stage, and ZeRO-3 sharding over 2 workers.

Part 1: each (backbone, ZeRO stage) runs one tiny trial through `trainables.trial.train` (cache
off, `--steps` steps, the backbone's Table 3 LoRA group at rank `--rank`, 64×64, one validation
example) in a fresh process, which reports its peak RSS (`ru_maxrss`) after the imports and at
the end, and the transformer's parameters that the DeepSpeed engine holds (wrapped at
`trainables.trial.shard_fraction`, which `train` calls right after building the engine).

Part 2: the same trial with `workers=2, zero_stage=3` as the group of ranks a sweep runs for
it: `trainables.workers.run_group` with `trainables.sweep_trial.trial_loop`, as
`run_worker_group` runs them inside its Tune trial, here in a placement group of the same
bundles (Tune is left out; the ranks run the same code). Each rank records what it holds of
the sharded module (the transformer: frozen base + LoRA): its ZeRO-3 partition (`ds_tensor`,
what `shard_fraction` counts) and, after its first optimizer step, the whole copies it keeps
gathered besides. DeepSpeed keeps every parameter smaller than
`stage3_param_persistence_threshold` (1e5 elements by default) whole on every rank, which at the
tiny scale would be every parameter, so tiny trials set it to 0 (`trainables.trial`): their
weights are released after use and gathered again, as a full-scale model's are.
`--persistence-thresholds default,100000` also runs the group with DeepSpeed's default (patched
into the engine's DeepSpeed config inside the benchmark's workers). Rank 0's last
report carries the trial's own `shard_fraction_rank{0,1}` metrics; a group that fails is
recorded with what its ranks held until then.

    .venv/bin/python -m benchmarks.memory [--backbones cogvideox,ltx,wan] [--stages 0,1,2,3]
        [--group-backbones cogvideox,ltx,wan] [--persistence-thresholds default]
        [--steps 4] [--rank 8] [--out benchmarks/results/memory.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "memory.json"
EXTENSIONS = str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def trial_dict(backbone: str, args: argparse.Namespace, **extra: Any) -> dict:
    return dict(
        task="hflip",
        backbone=backbone,
        n=2,
        steps=args.steps,
        rank=args.rank,
        alpha=float(args.rank),
        n_val=1,
        sample_steps=2,
        checkpoint_every=args.steps,
        log_every=1,
        **extra,
    )


def held_parameters(module) -> dict[str, int]:
    """What this rank holds of `module`'s parameters, by kind (frozen base, LoRA): elements of
    the whole model, of this rank's ZeRO-3 partition (padding included: DeepSpeed pads each
    parameter to a multiple of the world size), and of whole copies gathered right now."""
    held = {
        f"{kind}_{what}": 0
        for kind in ("frozen", "lora")
        for what in ("numel", "bytes", "shard_bytes", "gathered_bytes", "persistent_bytes")
    }
    for p in module.parameters():
        kind = "lora" if p.requires_grad else "frozen"
        size = p.element_size()
        if hasattr(p, "ds_numel"):  # partitioned by ZeRO-3
            whole, shard = p.ds_numel, p.ds_tensor.numel()
            gathered = p.data.numel()  # 0 when released, the whole parameter when gathered
            persistent = whole if getattr(p, "ds_persist", False) else 0
        else:
            whole = shard = gathered = p.numel()
            persistent = 0
        held[f"{kind}_numel"] += whole
        held[f"{kind}_bytes"] += whole * size
        held[f"{kind}_shard_bytes"] += shard * size
        held[f"{kind}_gathered_bytes"] += gathered * size
        held[f"{kind}_persistent_bytes"] += persistent * size
    return held


def instrument(record: dict, on_first_step=None) -> None:
    """`train` asks every rank's `shard_fraction(engine)` right after building the engine (a
    phase it shows its observers): record what the engine holds then, and again after its
    first optimizer step (ZeRO-3 gathers persistent parameters at the first forward and keeps
    them); then call `on_first_step()`."""
    import trainables.trial as trial_module

    def observer(phase: str, args: tuple, proceed):
        if phase != "shard_fraction":
            return proceed()
        (engine,) = args
        record["at_build"] = held_parameters(engine.module)
        step = engine.step

        def first_step(*args, **kwargs):
            out = step(*args, **kwargs)
            if "after_first_step" not in record:
                record["after_first_step"] = held_parameters(engine.module)
                if on_first_step is not None:
                    on_first_step()
            return out

        engine.step = first_step
        fraction = proceed()
        record["shard_fraction"] = fraction
        return fraction

    trial_module.PHASE_OBSERVERS.append(observer)


def measure_trial(backbone: str, stage: int, args: argparse.Namespace) -> dict:
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", EXTENSIONS)
    import torch

    from benchmarks.cache import QuietSession
    from trainables.config import TrialConfig
    from trainables.trial import train

    torch.set_num_threads(1)
    after_imports = peak_rss_mb()
    config = TrialConfig.from_dict(trial_dict(backbone, args, zero_stage=stage))
    record: dict = {}
    instrument(record)
    started = time.perf_counter()
    metrics = train(config, QuietSession(), tracking=None, cache_dir=None)
    return {
        "backbone": backbone,
        "zero_stage": stage,
        "height": config.height,
        "modules": config.modules,
        "batch_size": config.batch_size,
        "trial_s": time.perf_counter() - started,
        "rss_after_imports_mb": after_imports,
        "peak_rss_mb": peak_rss_mb(),
        "final_loss": metrics.get("loss"),
        **record,
    }


def group_worker(loop_config: dict, rank: int, publish) -> None:
    """One rank: the product's trial loop, with what the rank holds recorded (written after
    the first step too, so that it survives a trial that fails later)."""
    from trainables.sweep_trial import trial_loop

    out = Path(loop_config["bench_out"]) / f"rank{rank}.json"
    threshold = loop_config["bench_persistence_threshold"]
    if threshold is not None:
        import trainables.engine as engine_module

        make_config = engine_module.deepspeed_config

        def with_threshold(*args, **kwargs):
            config = make_config(*args, **kwargs)
            config["zero_optimization"]["stage3_param_persistence_threshold"] = threshold
            return config

        engine_module.deepspeed_config = with_threshold
    record: dict = {"rank": rank, "peak_rss_mb": None}
    instrument(record, lambda: out.write_text(json.dumps(record)))
    trial_loop(loop_config, rank, publish)
    record["peak_rss_mb"] = peak_rss_mb()
    out.write_text(json.dumps(record))


def measure_group(
    backbones: list[str], thresholds: list[int | None], args: argparse.Namespace
) -> list[dict]:
    import dataclasses
    import logging

    os.environ.setdefault("TORCH_EXTENSIONS_DIR", EXTENSIONS)
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group

    from orchestrator.resources import TrialResources
    from trainables.config import TrialConfig
    from trainables.workers import run_group

    ray.init(include_dashboard=False, logging_level=logging.WARNING)
    results = []
    try:
        for backbone, threshold in itertools.product(backbones, thresholds):
            config = TrialConfig.from_dict(
                trial_dict(backbone, args, workers=2, zero_stage=3, worker_cpus=0.5)
            )
            bundles = TrialResources(cpu=0.5, gpu=0.0, workers=2).bundles(config.worker_cpus)
            with tempfile.TemporaryDirectory(prefix="vdm-bench-group-") as tmp:
                started = time.perf_counter()
                reports: list[dict] = []
                group = placement_group(bundles, strategy="PACK")
                ray.get(group.ready())
                loop_config = {
                    "trial": dataclasses.asdict(config),
                    "tracking": None,
                    "cache_dir": None,
                    "trial_key": f"bench-{backbone}",
                    "trial_name": f"bench-{backbone}",
                    "storage_dir": str(Path(tmp) / "storage"),
                    "bench_out": tmp,
                    "bench_persistence_threshold": threshold,
                }
                try:
                    run_group(group_worker, loop_config, 2, 0.5, 0.0, reports.append, group)
                    outcome, failure = "finished", None
                except Exception as error:  # what the ranks held until then is still recorded
                    outcome = f"failed: {type(error).__name__}"
                    failure = str(error)[-3000:]
                finally:
                    remove_placement_group(group)
                wall = time.perf_counter() - started
                files = [Path(tmp) / f"rank{r}.json" for r in (0, 1)]
                ranks = [json.loads(f.read_text()) for f in files if f.exists()]
                metrics = reports[-1] if reports else {}
            fractions = [metrics.get(f"shard_fraction_rank{r}") for r in (0, 1)]
            results.append(
                {
                    "backbone": backbone,
                    "workers": 2,
                    "zero_stage": 3,
                    "persistence_threshold": threshold,
                    "outcome": outcome,
                    "error": failure,
                    "group_s": wall,
                    "shard_fraction_metrics": fractions,
                    "ranks": ranks,
                }
            )
    finally:
        ray.shutdown()
    return results


def run_child(extra: list[str], args: argparse.Namespace) -> Any:
    command = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--steps",
        str(args.steps),
        "--rank",
        str(args.rank),
        "--persistence-thresholds",
        args.persistence_thresholds,
        *harness.passed(args),
        *extra,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"{' '.join(extra)} failed (exit {done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def kib(n: float) -> str:
    return f"{n / 1024:,.1f}"


def report(trials: list[dict], groups: list[dict], args: argparse.Namespace) -> str:
    lines = (
        []
        if not trials
        else [
            f"Peak RSS of one tiny trial (hflip, n = 2, {args.steps} steps, Table 3 LoRA group at "
            f"rank {args.rank}, 64×64, cache off), each in a fresh process, one torch thread:",
            "",
            "| backbone | ZeRO stage | peak RSS, MB | after imports, MB | trial's own, MB |"
            " transformer params (frozen + LoRA) | trial, s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
    )
    for t in trials:
        held = t["at_build"]
        lines.append(
            f"| {t['backbone']} | {t['zero_stage']} | {t['peak_rss_mb']:.0f} |"
            f" {t['rss_after_imports_mb']:.0f} |"
            f" {t['peak_rss_mb'] - t['rss_after_imports_mb']:.0f} |"
            f" {held['frozen_numel']:,} + {held['lora_numel']:,} | {t['trial_s']:.1f} |"
        )
    if groups:
        lines += [
            "",
            "ZeRO-3 over a group of 2 ranks (gloo): what each rank holds of the"
            " sharded transformer (frozen + LoRA, fp32), KiB; fraction = partition / whole:",
            "",
            "| backbone | persistence threshold | rank | whole model, KiB | rank's partition, KiB |"
            " fraction | `shard_fraction` metric | kept whole (persistent) after step 1, KiB |"
            " resident after step 1, KiB | worker peak RSS, MB | trial |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for g in groups:
            threshold = g["persistence_threshold"]
            threshold = "the trial's own (0)" if threshold is None else f"{threshold:,}"
            for r in g["ranks"]:
                b, s = r["at_build"], r["after_first_step"]
                whole = b["frozen_bytes"] + b["lora_bytes"]
                shard = b["frozen_shard_bytes"] + b["lora_shard_bytes"]
                kept = s["frozen_gathered_bytes"] + s["lora_gathered_bytes"]
                resident = shard + kept
                metric = g["shard_fraction_metrics"][r["rank"]]
                rss = r["peak_rss_mb"]
                lines.append(
                    f"| {g['backbone']} | {threshold} | {r['rank']} | {kib(whole)} | {kib(shard)} |"
                    f" {shard / whole:.3f} | {'–' if metric is None else f'{metric:.3f}'} |"
                    f" {kib(kept)} | {kib(resident)} ({resident / whole:.2f}×) |"
                    f" {'–' if rss is None else f'{rss:.0f}'} | {g['outcome'].split(':')[0]} |"
                )
        failed = [g for g in groups if g["outcome"] != "finished"]
        lines += [""] * bool(failed) + [
            f"{g['backbone']}, threshold {g['persistence_threshold']}: {g['outcome']}"
            " (the error's text is in the JSON's `error`)"
            for g in failed
        ]
    return "\n".join(lines)


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--backbones", default="cogvideox,ltx,wan")
    parser.add_argument("--stages", default="0,1,2,3")
    parser.add_argument(
        "--group-backbones", default="cogvideox,ltx,wan", help="ZeRO-3 on 2 workers; '' skips"
    )
    parser.add_argument(
        "--persistence-thresholds",
        default="default",
        help="ZeRO-3 stage3_param_persistence_threshold values for the 2-worker runs, comma-"
        "separated; 'default' leaves the trial's own (0 for tiny trials, as trainables.trial "
        "sets it); 100000 is DeepSpeed's default",
    )
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--rank", type=int, default=8, help="LoRA rank")
    parser.add_argument("--only-trial", nargs=2, metavar=("BACKBONE", "STAGE"), help="internal")
    parser.add_argument("--only-group", metavar="BACKBONES", help="internal")
    quick = {"backbones": "ltx", "stages": "0", "group_backbones": "ltx", "steps": 1}
    args = harness.parse(parser, argv, quick=quick)
    if args.only_trial:
        backbone, stage = args.only_trial
        print(json.dumps(measure_trial(backbone, int(stage), args)))
        return 0
    thresholds = [
        None if t == "default" else int(t) for t in args.persistence_thresholds.split(",")
    ]
    if args.only_group:
        print(json.dumps(measure_group(args.only_group.split(","), thresholds, args)))
        return 0

    trials = [
        run_child(["--only-trial", backbone, stage], args)
        for backbone in filter(None, args.backbones.split(","))
        for stage in filter(None, args.stages.split(","))
    ]
    groups = run_child(["--only-group", args.group_backbones], args) if args.group_backbones else []
    print(report(trials, groups, args))
    settings = harness.settings(args, "only_trial", "only_group", "out")
    # Part 1's trials are the rows; part 2's groups beside them.
    harness.write_rows(args.out, trials, settings=settings, groups=groups)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
