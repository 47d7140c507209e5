"""The latent cache on one ablation group: 11 trials of one task, n and seed, cache cold vs off.

The paper's ablation group (search_spaces.ablations: 4 trajectories, 4 LoRA groups and 5 ranks
around quadratic / QKVO / rank 64, which is 11 distinct configurations) runs through
`trainables.trial.train` one trial after another in one process: with a fresh cache folder that
the 11 trials share ("cold", empty at the first trial), and with no cache (`cache_dir=None`:
`TensorCache(None)` computes every fetch, "off"). One untimed warm-up trial (cache off) comes
first, so DeepSpeed's process group and lazy imports are charged to neither mode; then the group
runs `--repeats` times per mode, the modes' order alternating, and times are medians (the
machine is shared: CPU seconds are given beside wall seconds).

The benchmark wraps each trial's backbone (nothing in the product changes) and counts
`encode_prompt` (builds and runs the text encoder: one run per call), `prepare_example` (the VAE
encode of one transition video, plus its conditioning) and every `vae.encode`, split into those
inside `prepare_example` (what the cache holds) and the rest (CogVideoX encodes the lightly
noised first frame at every training step, and its pipeline encodes the input image when
sampling: not cacheable). Trials are small (`--steps 2`, 64×64, one validation example, one
sampling step), so encoding weighs what it weighs in a tiny model, not a full-scale one.

    .venv/bin/python -m benchmarks.cache [--task binary_segmentation] [--n 3] [--seed 42]
        [--steps 2] [--size 64] [--repeats 3] [--trials 11] [--out benchmarks/results/cache.json]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import harness

MODES = ("cached", "off")
DEFAULT_OUT = Path(__file__).parent / "results" / "cache.json"
COUNTED = (
    "text_encoder_runs",
    "prepare_example_runs",
    "vae_encodes_cached_path",
    "vae_encodes_other",
    "cache_hits",
    "cache_misses",
)
TIMED = (
    "encode_prompt_s",
    "encode_prompt_cpu_s",
    "prepare_example_s",
    "prepare_example_cpu_s",
    "prepare_s",
)


class QuietSession:
    """The least a trial needs (tests/conftest.py's RecordingSession without the copies):
    nothing to restore from; metrics are kept, checkpoint folders are dropped."""

    trial_id = "bench_trial"
    trial_name = "bench_trial"
    store = None  # checkpoints only through `report`

    def __init__(self) -> None:
        self.reports: list[dict] = []

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        yield None

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        self.reports.append(dict(metrics))


class Counters:
    """What the wrapped backbones did, per trial."""

    def __init__(self) -> None:
        self.trial: dict[str, Any] = {}
        self.videos: set[str] = set()
        self.in_prepare_example = False

    def start_trial(self) -> None:
        self.trial = {key: 0 for key in COUNTED} | {key: 0.0 for key in TIMED}


def timed_wrapper(counters: Counters, method, name: str, runs: str, flag: bool = False):
    """Count calls of `method` under `runs`; add its wall and CPU seconds to `<name>_s` and
    `<name>_cpu_s` (one torch thread: CPU time is what the machine's other work marks least)."""

    def wrapped(*args, **kwargs):
        counters.trial[runs] += 1
        wall, cpu = time.perf_counter(), time.process_time()
        counters.in_prepare_example = flag
        try:
            return method(*args, **kwargs)
        finally:
            counters.in_prepare_example = False
            counters.trial[f"{name}_s"] += time.perf_counter() - wall
            counters.trial[f"{name}_cpu_s"] += time.process_time() - cpu

    return wrapped


def instrument(counters: Counters) -> None:
    """Observe the trial's `load` (to wrap each new backbone's encoders) and `prepare` (to time
    it, read the trial's cache counts, hash its videos), through its phase observers."""
    import trainables.trial as trial_module
    from trainables.cache import content_key

    def counting_load(backbone):
        backbone.encode_prompt = timed_wrapper(
            counters, backbone.encode_prompt, "encode_prompt", "text_encoder_runs"
        )
        backbone.prepare_example = timed_wrapper(
            counters, backbone.prepare_example, "prepare_example", "prepare_example_runs", True
        )
        vae_encode = backbone.vae.encode

        def counting_encode(*args, **kwargs):
            key = "vae_encodes_cached_path" if counters.in_prepare_example else "vae_encodes_other"
            counters.trial[key] += 1
            return vae_encode(*args, **kwargs)

        backbone.vae.encode = counting_encode
        return backbone

    def observer(phase: str, args: tuple, proceed):
        if phase == "load":
            return counting_load(proceed())
        if phase != "prepare":
            return proceed()
        _, _, videos, cache = args
        started = time.perf_counter()
        try:
            return proceed()
        finally:
            counters.trial["prepare_s"] += time.perf_counter() - started
            counters.trial["cache_hits"] = cache.hits
            counters.trial["cache_misses"] = cache.misses
            counters.videos.update(content_key(video=v) for v in videos)

    trial_module.PHASE_OBSERVERS.append(observer)


def group_configs(args: argparse.Namespace) -> list:
    """The ablation sweep's trials of one task, n and seed, made small."""
    from search_spaces.ablations import SWEEP
    from trainables.config import TrialConfig

    group = [
        t
        for t in SWEEP.trials
        if t["task"] == args.task and t["n"] == args.n and t["seed"] == args.seed
    ]
    if len(group) != 11:
        raise ValueError(
            f"expected 11 ablation trials for {args.task}, n = {args.n}, seed {args.seed}; "
            f"found {len(group)}"
        )
    small = dict(
        steps=args.steps,
        sample_steps=1,
        n_val=1,
        height=args.size,
        width=args.size,
        checkpoint_every=args.steps,
        log_every=args.steps,
    )
    return [TrialConfig.from_dict({**t, **small}) for t in group[: args.trials]]


def run_group(mode: str, configs: list, counters: Counters) -> dict:
    """The 11 trials one after another; `cached`: a fresh cache folder that they share."""
    from trainables.trial import train

    counters.videos.clear()
    cache_root = Path(tempfile.mkdtemp(prefix="vdm-bench-cache-"))
    cache_dir = str(cache_root / "cache") if mode == "cached" else None
    trials = []
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        for config in configs:
            counters.start_trial()
            started = time.perf_counter()
            train(config, QuietSession(), tracking=None, cache_dir=cache_dir)
            trials.append(
                {
                    "trajectory": config.trajectory,
                    "modules": config.modules,
                    "rank": config.rank,
                    "wall_s": time.perf_counter() - started,
                    **counters.trial,
                }
            )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        cache_bytes = sum(f.stat().st_size for f in cache_root.rglob("*") if f.is_file())
    finally:
        shutil.rmtree(cache_root, ignore_errors=True)
    totals = {key: sum(t[key] for t in trials) for key in COUNTED + TIMED}
    return {
        "mode": mode,
        "trials": len(trials),
        "distinct_videos": len(counters.videos),
        "total_s": wall,
        "total_cpu_s": cpu,
        **totals,
        "encoding_s": totals["encode_prompt_s"] + totals["prepare_example_s"],
        "encoding_cpu_s": totals["encode_prompt_cpu_s"] + totals["prepare_example_cpu_s"],
        "cache_bytes": cache_bytes,
        "per_trial": trials,
    }


def measure(args: argparse.Namespace) -> dict[str, dict]:
    """Warm up once, then the group `repeats` times per mode, the modes' order alternating so
    that the machine's other work weighs on both alike; times are medians over the repeats."""
    os.environ.setdefault(
        "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")
    )
    import torch

    from trainables.trial import train

    torch.set_num_threads(1)  # one trial per core, as sweeps run here
    configs = group_configs(args)
    counters = Counters()
    instrument(counters)
    counters.start_trial()
    train(dataclasses.replace(configs[0], steps=1, checkpoint_every=1), QuietSession())

    runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
    for repeat in range(args.repeats):
        for mode in MODES if repeat % 2 == 0 else MODES[::-1]:
            runs[mode].append(run_group(mode, configs, counters))
    timed = ("total_s", "total_cpu_s", "encoding_s", "encoding_cpu_s", *TIMED)
    results = {}
    for mode, groups in runs.items():
        first = groups[0]
        for group in groups[1:]:  # what runs is the same every time; only the times vary
            for key in (*COUNTED, "distinct_videos"):
                if group[key] != first[key]:
                    raise RuntimeError(f"{mode}: {key} was {first[key]}, then {group[key]}")
        results[mode] = {
            **first,
            **{key: statistics.median(g[key] for g in groups) for key in timed},
            "repeats": {key: [g[key] for g in groups] for key in timed},
        }
    return results


def report(results: dict[str, dict], args: argparse.Namespace) -> str:
    cached, off = results["cached"], results["off"]
    trajectories = len({t["trajectory"] for t in cached["per_trial"]})
    lines = [
        f"Ablation group {args.task}, n = {args.n}, seed {args.seed}: tiny CogVideoX, "
        f"{args.steps} steps, {args.size}×{args.size}, {cached['trials']} trials one after "
        f"another in one process; {cached['distinct_videos']} distinct transition videos "
        f"({trajectories} trajectories × n = {args.n}), {args.n} per trial, one prompt. "
        f"Times: median of {args.repeats} groups per mode, wall (CPU).",
        "",
        "| latent cache | text encoder runs | VAE encodes of transition videos | other VAE"
        " encodes | cache hits / misses | encoding, s | prepare incl. cache I/O, s |"
        " 11 trials, s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in (("cold, shared by the 11", cached), ("off (`cache_dir=None`)", off)):
        lines.append(
            f"| {label} | {r['text_encoder_runs']} | {r['vae_encodes_cached_path']} |"
            f" {r['vae_encodes_other']} | {r['cache_hits']} / {r['cache_misses']} |"
            f" {r['encoding_s']:.2f} ({r['encoding_cpu_s']:.2f}) | {r['prepare_s']:.2f} |"
            f" {r['total_s']:.1f} ({r['total_cpu_s']:.1f}) |"
        )
    lines += [
        "",
        f"Saved by the cache: {off['encoding_s'] - cached['encoding_s']:.2f} s wall "
        f"({off['encoding_cpu_s'] - cached['encoding_cpu_s']:.2f} s CPU) of encoding, "
        f"{off['prepare_s'] - cached['prepare_s']:.2f} s of `prepare` net of the cache's reads "
        f"and writes; the group took {cached['total_s']:.1f} s with the cache and "
        f"{off['total_s']:.1f} s without ({cached['total_cpu_s']:.1f} vs "
        f"{off['total_cpu_s']:.1f} s CPU). The cache folder held "
        f"{cached['cache_bytes'] / 1024:.0f} KiB. Other VAE encodes: CogVideoX's noised first "
        "frame at every training step and the input image at sampling (not cacheable).",
        "",
        "Per trial, cache cold at the first (hits / misses count the prompt and the "
        f"{args.n} videos; first repeat):",
        "",
        "| trajectory | modules | rank | text encoder runs | video encodes | hits / misses |"
        " encoding, s | trial, s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in cached["per_trial"]:
        lines.append(
            f"| {t['trajectory']} | {t['modules']} | {t['rank']} | {t['text_encoder_runs']} |"
            f" {t['prepare_example_runs']} | {t['cache_hits']} / {t['cache_misses']} |"
            f" {t['encode_prompt_s'] + t['prepare_example_s']:.3f} | {t['wall_s']:.2f} |"
        )
    return "\n".join(lines)


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--task", default="binary_segmentation")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--size", type=int, default=64, help="height and width")
    parser.add_argument("--repeats", type=int, default=3, help="groups per mode")
    parser.add_argument(
        "--trials", type=int, default=11, help="the group's first TRIALS trials (default: all)"
    )
    args = harness.parse(parser, argv, quick={"steps": 1, "size": 32, "repeats": 1, "trials": 2})
    results = measure(args)
    print(report(results, args))
    # One row per mode (its "mode" names it).
    harness.write_rows(args.out, [results[mode] for mode in MODES], settings=harness.settings(args))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
