"""What the sweep machinery costs before any trial trains: the CLI's `--dry-run` over the full
grid, and Ray Tune's own overhead per trial.

Part 1, the dry run: `python -m orchestrator.sweep grid --dry-run --backbones cogvideox,ltx,wan`
(and plain `grid --dry-run`) as a subprocess, `--repeats` times: wall and CPU seconds (median;
CPU seconds, user + system, are what other people's load on this shared 2-core machine distorts
least), the trial count (JSON lines on stdout) and the GPU-hours line. Target: < 5 s wall. Where
the time goes: the steps `main` takes, timed (wall and `time.process_time`) one after another in
a fresh process (cold imports): importing `orchestrator.sweep` (torch, transformers and the task
catalog, through trainables.config), importing the backbone modules (diffusers' pipelines: the
first `backbone_defaults` call does it), discovering the tasks, loading the sweep and applying
the CLI's axes, `TrialConfig.from_dict` for every trial, the resources placement, the GPU-hours
estimate, and the JSON lines (`orchestrator.sweep.trial_line`, written to a buffer).
Interpreter start and exit: from spawning that process to its first step, and from its last
step to its end (the CPU figure of the start is `python -c pass`'s). A process importing only
`tasks` and `search_spaces` shows what a dry run would cost if the trial settings needed no
torch or diffusers.

Part 2, Ray Tune's own overhead: a Tuner over a function trainable that reports once and
returns, `grid_search` over `--ray-trials` values, a local Ray with `num_cpus=2`, 1 CPU per
trial (2 at a time), `reuse_actors=True`; then `reuse_actors=False` over `--ray-trials-fresh`
trials (a fresh actor per trial costs ~3 s on 2 cores, so fewer). Each in its own process.
Seconds per trial = `Tuner.fit` wall / trials (`ray.init` reported apart).

The machine is shared (2 cores): the load average before and after each part is recorded.

    .venv/bin/python -m benchmarks.sweep_machinery [--repeats 3]
        [--ray-trials 1000] [--ray-trials-fresh 50] [--skip-dry-run] [--skip-ray]
        [--cli OLD_SWEEP_PY] [--out benchmarks/results/sweep_machinery.json]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "sweep_machinery.json"
TARGET_S = 5.0
GRID_ALL = ["grid", "--dry-run", "--backbones", "cogvideox,ltx,wan"]
GRID = ["grid", "--dry-run"]


# ---- part 1: the dry run ------------------------------------------------------------------------


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_cli(argv: list[str], repeats: int, cli: Path | None = None) -> dict[str, Any]:
    """The dry run as a user runs it: a subprocess, timed from outside (wall, and the CPU
    seconds it used: less sensitive to other people's load on this shared machine)."""
    walls, cpus, lines, summary = [], [], 0, ""
    for _ in range(repeats):
        cpu = children_cpu_s()
        started = time.perf_counter()
        entry = ["-m", "orchestrator.sweep"] if cli is None else [str(cli)]
        env = os.environ if cli is None else {**os.environ, "PYTHONPATH": str(Path.cwd())}
        done = subprocess.run(
            [sys.executable, *entry, *argv], capture_output=True, text=True, env=env
        )
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu_s() - cpu)
        if done.returncode:
            sys.exit(f"the dry run failed:\n{done.stderr[-3000:]}")
        lines = len(done.stdout.splitlines())
        summary = next((line for line in done.stderr.splitlines() if " trials; about " in line), "")
    return {
        "command": "python -m orchestrator.sweep " + " ".join(argv),
        "cli": "orchestrator.sweep" if cli is None else str(cli),
        "trials": lines,
        "summary": summary,
        "wall_s": walls,
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "cpu_s": cpus,
        "median_cpu_s": statistics.median(cpus),
    }


def time_process(code: str, repeats: int) -> dict[str, float]:
    """Median wall and CPU seconds of `python -c CODE`."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu = children_cpu_s()
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu_s() - cpu)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus)}


def phases(argv: list[str]) -> dict[str, Any]:
    """`main`'s dry-run steps one after another in this (fresh) process, each timed: wall and
    CPU seconds (`time.process_time`)."""
    spent: dict[str, list[float]] = {}
    first = time.monotonic()  # system-wide: the parent compares it with its own clock

    @contextlib.contextmanager
    def phase(name: str):
        started, cpu = time.perf_counter(), time.process_time()
        yield
        spent[name] = [time.perf_counter() - started, time.process_time() - cpu]

    with phase("import orchestrator.sweep (torch, transformers, tasks)"):
        sweep = importlib.import_module("orchestrator.sweep")
    from trainables.backbones import backbone_names

    with phase("import backbone modules (diffusers pipelines)"):
        for name in backbone_names():
            importlib.import_module(f"trainables.backbones.{name}")
    with phase("task catalog discovery (first call)"):
        from tasks import task_names

        task_names()
    with phase("parse, load sweep, CLI axes (apply_overrides)"):
        args = sweep.parse_args(argv)
        loaded = sweep.load_sweep(args.sweep)
        trials = sweep.apply_overrides(loaded.trials, args)
    with phase("TrialConfig.from_dict per trial"):
        configs = [sweep.TrialConfig.from_dict(trial) for trial in trials]
    with phase("resources placement"):
        sweep.sweep_placement(trials, sweep.DEFAULT_CARD_GB, loaded.resources, None, None)
    with phase("GPU-hours estimate"):
        sweep.gpu_hours(trials)
    with phase("JSON lines"):
        buffer = io.StringIO()
        buffer.write("".join(f"{sweep.trial_line(config)}\n" for config in configs))
    return {"trials": len(configs), "phases": spent, "first": first, "last": time.monotonic()}


def run_phases(argv: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.sweep_machinery", "--phases-only", *argv]
    spawned = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True)
    ended = time.monotonic()
    if done.returncode:
        sys.exit(f"the phases run failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["start_s"] = out.pop("first") - spawned
    out["exit_s"] = ended - out.pop("last")
    out["process_s"] = ended - spawned
    return out


# ---- part 2: Ray Tune's own overhead ------------------------------------------------------------


def trivial(config: dict) -> None:
    from ray import tune

    tune.report({"i": config["i"]})


def ray_overhead(trials: int, reuse: bool) -> dict[str, Any]:
    import ray
    from ray import tune

    with tempfile.TemporaryDirectory(prefix="tune-overhead-") as work:
        started = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
        init_s = time.perf_counter() - started
        try:
            tuner = tune.Tuner(
                tune.with_resources(trivial, {"cpu": 1}),
                param_space={"i": tune.grid_search(list(range(trials)))},
                tune_config=tune.TuneConfig(reuse_actors=reuse),
                run_config=tune.RunConfig(storage_path=work, name="overhead", verbose=0),
            )
            started = time.perf_counter()
            results = tuner.fit()
            fit_s = time.perf_counter() - started
        finally:
            ray.shutdown()
    return {
        "trials": trials,
        "reuse_actors": reuse,
        "ray_init_s": init_s,
        "fit_s": fit_s,
        "s_per_trial": fit_s / trials,
        "slot_s_per_trial": 2 * fit_s / trials,  # 2 trials at a time
        "errors": len(results.errors),
        "finished": len(results),
    }


def run_ray(trials: int, reuse: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.sweep_machinery", "--ray-only"]
    command += ["on" if reuse else "off", "--ray-trials", str(trials)]
    before = os.getloadavg()[0]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the Tune run failed:\n{done.stderr[-3000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return {**out, "load_before": before, "load_after": os.getloadavg()[0]}


# ---- report ---------------------------------------------------------------------------------


def print_cli(cli: list[dict]) -> None:
    print("| dry run | trials | wall, median (s) | wall, min (s) | CPU, median (s) | target |")
    print("| --- | --- | --- | --- | --- | --- |")
    for run in cli:
        flag = "≤" if run["median_s"] <= TARGET_S else ">"
        print(
            f"| `{run['command'].removeprefix('python -m orchestrator.sweep ')}` | "
            f"{run['trials']:,} | {run['median_s']:.2f} | {run['min_s']:.2f} | "
            f"{run['median_cpu_s']:.2f} | {flag} {TARGET_S:g} s wall |"
        )


def print_dry_run(cli: list[dict], start: dict, floor: dict, split: dict) -> None:
    print_cli(cli)
    print()
    print(
        f"Where the time goes (`{' '.join(GRID_ALL)}`, the steps of `main` in one fresh process):"
    )
    print()
    print("| step | wall (s) | CPU (s) |")
    print("| --- | --- | --- |")
    rows = {"interpreter start (spawn → first import)": [split["start_s"], start["cpu_s"]]}
    rows |= split["phases"]
    rows["exit (interpreter teardown)"] = [split["exit_s"], float("nan")]

    def cell(value: float) -> str:
        return "–" if value != value else f"{value:.2f}"  # nan: not measured

    for name, (wall, cpu) in rows.items():
        print(f"| {name} | {wall:.2f} | {cell(cpu)} |")
    wall = sum(w for w, _ in rows.values())
    cpu = sum(c for _, c in rows.values() if c == c)  # teardown: no CPU figure (nan)
    print(f"| **sum** | **{wall:.2f}** | **{cpu:.2f}** |")
    print()
    print(
        f"A process that imports only `tasks` and `search_spaces` (what a dry run would import "
        f"if the trial settings needed no torch or diffusers): {floor['wall_s']:.2f} s wall, "
        f"{floor['cpu_s']:.2f} s CPU."
    )


def print_ray(runs: list[dict]) -> None:
    print()
    print("| Tune, trivial trials (2 CPUs) | trials | ray.init (s) | fit (s) | s / trial |")
    print("| --- | --- | --- | --- | --- |")
    for run in runs:
        reuse = "reuse_actors=True" if run["reuse_actors"] else "reuse_actors=False"
        print(
            f"| {reuse} | {run['trials']:,} | {run['ray_init_s']:.1f} | {run['fit_s']:.1f} | "
            f"{run['s_per_trial']:.3f} |"
        )


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray-trials", type=int, default=1000)
    parser.add_argument("--ray-trials-fresh", type=int, default=50)
    parser.add_argument("--skip-dry-run", action="store_true")
    parser.add_argument(
        "--cli",
        type=Path,
        help="time this copy of orchestrator/sweep.py instead (e.g. `git show "
        "HEAD:orchestrator/sweep.py > /tmp/old_sweep.py`, for a before/after); no step split",
    )
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--phases-only", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.add_argument("--ray-only", choices=("on", "off"), help=argparse.SUPPRESS)
    quick = {"repeats": 1, "ray_trials": 2, "ray_trials_fresh": 0}
    args = harness.parse(parser, argv, quick=quick)
    if args.phases_only is not None:
        print(json.dumps(phases(args.phases_only)), flush=True)
        gc.freeze()  # as `python -m orchestrator.sweep ... --dry-run` does before it exits
        return 0
    if args.ray_only:
        print(json.dumps(ray_overhead(args.ray_trials, args.ray_only == "on")))
        return 0

    record: dict[str, Any] = {"cpus": os.cpu_count(), "load_before": os.getloadavg()[0]}
    if not args.skip_dry_run:
        cli = [time_cli(GRID_ALL, args.repeats, args.cli), time_cli(GRID, args.repeats, args.cli)]
        if args.cli is not None:
            record["dry_run"] = {"target_s": TARGET_S, "runs": cli}
            print_cli(cli)
            args.skip_ray = True
    if not args.skip_dry_run and args.cli is None:
        start = time_process("pass", args.repeats)
        floor = time_process("import tasks, search_spaces", args.repeats)
        split = run_phases(GRID_ALL)
        record["dry_run"] = {
            "target_s": TARGET_S,
            "runs": cli,
            "interpreter_start": start,
            "import_tasks_and_search_spaces_only": floor,
            "phases_wall_cpu_s": split,
        }
        print_dry_run(cli, start, floor, split)
    if not args.skip_ray:
        runs = []
        if args.ray_trials > 0:
            runs.append(run_ray(args.ray_trials, True))
        if args.ray_trials_fresh > 0:
            runs.append(run_ray(args.ray_trials_fresh, False))
        record["tune"] = runs
        print_ray(runs)
    record["load_after"] = os.getloadavg()[0]
    # The rows: each dry run (part 1) and each Tune run (part 2); the rest beside them.
    rows = [{"part": "dry run", **run} for run in record.get("dry_run", {}).pop("runs", [])]
    rows += [{"part": "tune", **run} for run in record.pop("tune", [])]
    harness.write_rows(args.out, rows, **record)
    print(
        f"\nwritten to {args.out} (load average {record['load_before']:.1f} → "
        f"{record['load_after']:.1f} on {record['cpus']} CPUs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
