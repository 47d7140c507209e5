"""What the orchestrator costs per trial: a sweep of tiny trials through Ray Tune and MLflow
against the same trials in a plain Python loop, and where the difference goes.

The sweep is `orchestrator.run.run_sweep` in this process, as `python -m orchestrator.sweep`
runs it: a local Ray, the MLflow SQLite store and parent run, the Tuner with the resources
policy and the product's trainable (a fresh actor per trial unless the sweep reuses them), the
results table and the report. The loop is `trainables.trial.train(config, session,
tracking=None, cache_dir=...)` for the same trials one after another in one process (its own
subprocess), with a session that copies each checkpoint to a folder as the sweep's storage does.
Neither counts importing the project in its own driver process; the sweep's trial processes do
import it, which is part of what a sweep costs.

Both sides are timed from the inside (benchmarks._timeline): spans around the phases of `train`
(model build, latents, engine, validation, checkpoint, media, MLflow, Tune's report), points
where Tune starts and ends a trial and where its actor is built or reused, spans around the
driver's steps (Ray start, parent run, Tuner, `fit`, tables, report). The per-trial overhead is
(sweep wall − loop wall) / trials; "between trials" is the time a trial slot ran no trial
function (`concurrency` × fit wall − Σ trial function walls), split, one trial at a time, into
Tune noticing the end, starting (or resetting) the next actor, and its first train call.

Trials: hflip, n=1, one validation pair, 32×32, rank 4, `--steps` steps, one sampling step,
seeds × {QK, VO}. One at a time by default (`--concurrency 1`), so both sides do the same work
in the same order on this 2-core machine.

    .venv/bin/python -m benchmarks.sweep_overhead [--trials 20] [--steps 2] [--concurrency 1]
        [--reuse-actors sweep|on|off] [--env KEY=VALUE ...]
        [--quick] [--out benchmarks/results/sweep_overhead.json]

One module over 400 lines: both sides of the comparison (the bare loop and the sweep) and the
timeline that splits their difference have to be read together.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks import _timeline as timeline
from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "sweep_overhead.json"
TARGET_S = 2.0
# Span → where its (exclusive) time goes, in the table's order.
CATEGORIES = {
    "trial.load": "model build",
    "trial.prepare": "latents (cache)",
    "trial.add_lora": "LoRA + DeepSpeed engine",
    "trial.build_engine": "LoRA + DeepSpeed engine",
    "trial.validate": "validation sampling",
    "trial.save_checkpoint": "checkpoint write",
    "trial.log_final_artifacts": "media files (video, strips)",
    "store.latest": "checkpoint storage",
    "store.record_attempt": "checkpoint storage",
    "store.restore": "checkpoint storage",
    "store.upload": "checkpoint storage",
    "store.seal": "checkpoint storage",
    "session.report": "checkpoint storage",
    "mlflow.open": "MLflow: run create + params",
    "mlflow.log_metrics": "MLflow: metrics",
    "mlflow.flush": "MLflow: metrics",
    "mlflow.log_artifacts": "MLflow: artifacts",
    "mlflow.finish": "MLflow: run end",
    "tune.report": "Tune report (waits for the driver)",
    "trial.func": "task data, steps, rest of the trial",
}
BETWEEN = "between trials: actor start/stop, imports, Tune scheduling"
START = "sweep start: Ray, MLflow parent run, Tuner (÷ trials)"
END = "sweep end: tables, report, Ray shutdown (÷ trials)"


def trial_configs(count: int, steps: int) -> list[dict[str, Any]]:
    base = dict(
        task="hflip",
        n=1,
        n_val=1,
        steps=steps,
        sample_steps=1,
        height=32,
        width=32,
        rank=4,
        alpha=4.0,
        trajectory="linear",
    )
    return [{**base, "seed": i // 2 + 1, "modules": ("QK", "VO")[i % 2]} for i in range(count)]


# ---- the plain loop (its own process) ----------------------------------------------------------


class LoopSession:
    """tests/conftest.py's RecordingSession, reduced: nothing to restore; each checkpoint
    folder is copied to `root/<trial>/step_N`, as the sweep's storage keeps it."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root / name
        self.trial_id = self.trial_name = name
        self.store = None  # checkpoints only through `report`

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        yield None

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        if checkpoint_dir is not None:
            with timeline.span("session.report"):
                shutil.copytree(checkpoint_dir, self.root / f"step_{metrics['step']}")


def run_loop(trials: list[dict[str, Any]], work: Path) -> dict[str, float]:
    import torch

    from trainables.config import TrialConfig
    from trainables.trial import train

    timeline.install_trial_probes()
    torch.set_num_threads(1)  # what tune_trial gives a 1-CPU trial
    configs = [TrialConfig.from_dict(t) for t in trials]
    started = time.time()
    with timeline.span("loop.all"):
        for i, config in enumerate(configs):
            name = f"loop_{i:02d}"
            timeline.set_trial(name)
            with timeline.span("trial.func"):
                train(config, LoopSession(work / "checkpoints", name), None, str(work / "cache"))
            timeline.set_trial(None)
    return {"wall_s": time.time() - started}


# ---- the sweep (this process) --------------------------------------------------------------


@contextlib.contextmanager
def patched(owner: Any, attribute: str, value: Any) -> Iterator[None]:
    original = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


def run_orchestrated(
    trials: list[dict[str, Any]], concurrency: int, reuse: bool | None, work: Path
) -> dict[str, Any]:
    import ray

    import orchestrator.run as run_module
    import orchestrator.tuner as tuner_module
    from search_spaces import Sweep

    kwargs: dict[str, Any] = {}
    if reuse is not None:
        kwargs["reuse_actors"] = reuse
    sweep = Sweep(
        description=f"{len(trials)} tiny trials (benchmarks.sweep_overhead)",
        trials=trials,
        max_concurrent_trials=concurrency,
        **kwargs,
    )
    request = run_module.SweepRequest("overhead", storage=str(work / "sweeps"))
    build_tuner = run_module.build_tuner
    seen: dict[str, Any] = {}

    def timed_build_tuner(sweep, *a, callbacks=None, **k):
        # The driver's points come from a Tune callback beside the orchestrator's own.
        callbacks = [*(callbacks or []), timeline.tune_callback()]
        with timeline.span("driver.build_tuner"):
            tuner, resumed = build_tuner(sweep, *a, callbacks=callbacks, **k)
        tuner.fit = timeline.timed(tuner.fit, "driver.fit")
        seen["reuse_actors"] = tuner_module.reuses_actors(sweep)  # what build_tuner gave Tune
        return tuner, resumed

    steps = {
        "claim": "driver.claim",
        "start_parent_run": "driver.parent_run",
        "write_tables": "driver.tables",
        "collect_runs": "driver.collect_runs",
        "build_report": "driver.report",
        "finish_parent_run": "driver.finish_parent_run",
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(patched(ray, "init", timeline.timed(ray.init, "driver.ray_init")))
        stack.enter_context(
            patched(ray, "shutdown", timeline.timed(ray.shutdown, "driver.ray_shutdown"))
        )
        for attribute, name in steps.items():
            original = getattr(run_module, attribute)
            stack.enter_context(patched(run_module, attribute, timeline.timed(original, name)))
        stack.enter_context(patched(run_module, "build_tuner", timed_build_tuner))
        stack.enter_context(patched(tuner_module, "spot_aware_trainable", timeline.timed_trainable))
        if reuse is not None and hasattr(tuner_module, "reuses_actors"):
            # --reuse-actors on/off overrides the orchestrator's own choice for tiny sweeps.
            stack.enter_context(patched(tuner_module, "reuses_actors", lambda *_: reuse))
        started = time.time()
        with timeline.span("driver.sweep"):
            code = run_module.run_sweep(sweep, request)
    return {"wall_s": time.time() - started, "exit_code": code, **seen}


# ---- reading the timelines -----------------------------------------------------------------


def per_category(events: list[dict[str, Any]], trials: int) -> dict[str, float]:
    """Seconds per trial in each category, from the trial processes' spans."""
    spans = [e for e in events if e["kind"] == "span" and e["name"] in CATEGORIES]
    totals: dict[str, float] = defaultdict(float)
    for span, own in timeline.exclusive_times(spans):
        totals[CATEGORIES[span["name"]]] += own
    return {category: totals[category] / trials for category in dict.fromkeys(CATEGORIES.values())}


def _span(events: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    found = [e for e in events if e["kind"] == "span" and e["name"] == name]
    return found[0] if found else None


def _duration(events: list[dict[str, Any]], name: str) -> float:
    return sum(e["end"] - e["start"] for e in events if e["kind"] == "span" and e["name"] == name)


def between_trials(events: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """The time trial slots ran no trial function, and (one trial at a time) its parts."""
    fit = _span(events, "driver.fit")
    funcs = sorted(
        (e for e in events if e["kind"] == "span" and e["name"] == "trial.func"),
        key=lambda e: e["start"],
    )
    busy = sum(f["end"] - f["start"] for f in funcs)
    out: dict[str, Any] = {
        "fit_s": fit["end"] - fit["start"],
        "trial_functions_s": busy,
        "idle_slot_s": concurrency * (fit["end"] - fit["start"]) - busy,
        "first_trial_start_s": funcs[0]["start"] - fit["start"],
        "after_last_trial_s": fit["end"] - max(f["end"] for f in funcs),
    }
    points: dict[tuple[str, str], float] = {}
    for e in events:
        if e["kind"] == "point":
            points.setdefault((e["name"], e.get("trial_name") or e.get("trial")), e["t"])
    setups = [e for e in events if e["kind"] == "point" and e["name"] == "actor.setup"]
    out["actors_built"] = len(setups)
    out["actors_reused"] = sum(
        1 for e in events if e["kind"] == "point" and e["name"] == "actor.reset"
    )
    out["process_age_at_setup_s"] = (
        statistics.median(e["t"] - e["process_created"] for e in setups) if setups else None
    )
    if concurrency != 1:
        return out
    parts: dict[str, list[float]] = defaultdict(list)
    for previous, current in zip(funcs, funcs[1:], strict=False):
        name = current["trial"]
        seen_end = points.get(("tune.trial_complete", previous["trial"]))
        ready = points.get(("actor.setup", name)) or points.get(("actor.reset", name))
        if seen_end is None or ready is None:
            continue
        parts["Tune sees the trial end"].append(seen_end - previous["end"])
        parts["next actor built or reset (process, imports)"].append(ready - seen_end)
        parts["first train call"].append(current["start"] - ready)
    out["gap_parts_s"] = {k: statistics.mean(v) for k, v in parts.items()}
    out["gap_median_s"] = (
        statistics.median(c["start"] - p["end"] for p, c in zip(funcs, funcs[1:], strict=False))
        if len(funcs) > 1
        else None
    )
    return out


def driver_steps(events: list[dict[str, Any]]) -> dict[str, float]:
    names = (
        "claim",
        "ray_init",
        "parent_run",
        "build_tuner",
        "fit",
        "ray_shutdown",
        "tables",
        "collect_runs",
        "report",
        "finish_parent_run",
    )
    return {f"{n}_s": _duration(events, f"driver.{n}") for n in names}


def analyse(loop: dict, loop_events: list, sweep: dict, sweep_events: list, args) -> dict:
    trials = args.trials
    loop_cat = per_category(loop_events, trials)
    sweep_cat = per_category(sweep_events, trials)
    between = between_trials(sweep_events, args.concurrency)
    driver = driver_steps(sweep_events)
    start = driver["claim_s"] + driver["ray_init_s"] + driver["parent_run_s"]
    start += driver["build_tuner_s"]
    end = sweep["wall_s"] - start - driver["fit_s"]
    rows = []
    for category in dict.fromkeys(CATEGORIES.values()):
        rows.append(
            {
                "where": category,
                "loop_s": loop_cat[category],
                "sweep_s": sweep_cat[category],
                "overhead_s": sweep_cat[category] - loop_cat[category],
            }
        )
    loop_gaps = (loop["wall_s"] - sum(loop_cat.values()) * trials) / trials
    slots = between["idle_slot_s"] / args.concurrency / trials
    rows.append(
        {"where": BETWEEN, "loop_s": loop_gaps, "sweep_s": slots, "overhead_s": slots - loop_gaps}
    )
    rows.append(
        {"where": START, "loop_s": 0.0, "sweep_s": start / trials, "overhead_s": start / trials}
    )
    rows.append({"where": END, "loop_s": 0.0, "sweep_s": end / trials, "overhead_s": end / trials})
    overhead = (sweep["wall_s"] - loop["wall_s"]) / trials
    return {
        "rows": rows,
        "loop_wall_s": loop["wall_s"],
        "sweep_wall_s": sweep["wall_s"],
        "sweep_fit_s": driver["fit_s"],
        "per_trial_overhead_s": overhead,
        "per_trial_overhead_in_fit_s": (driver["fit_s"] - loop["wall_s"]) / trials,
        "target_s": TARGET_S,
        "within_target": overhead <= TARGET_S,
        "driver": driver,
        "between_trials": between,
    }


def print_table(result: dict[str, Any], settings: dict[str, Any]) -> None:
    a = result["analysis"]
    print()
    print(
        f"sweep of {settings['trials']} trials ({settings['steps']} steps, 32×32, rank 4), "
        f"{settings['concurrency']} at a time, reuse_actors={result['sweep']['reuse_actors']}"
    )
    print(
        f"plain loop {a['loop_wall_s']:.1f} s · sweep {a['sweep_wall_s']:.1f} s "
        f"(fit {a['sweep_fit_s']:.1f} s) · load average {result['load_before'][0]:.1f} → "
        f"{result['load_after'][0]:.1f} on {os.cpu_count()} cores"
    )
    print()
    print("| where (seconds per trial) | plain loop | sweep | overhead |")
    print("| --- | ---: | ---: | ---: |")
    for row in a["rows"]:
        loop_s, sweep_s, extra = row["loop_s"], row["sweep_s"], row["overhead_s"]
        print(f"| {row['where']} | {loop_s:.2f} | {sweep_s:.2f} | {extra:+.2f} |")
    total = a["per_trial_overhead_s"]
    verdict = "within" if a["within_target"] else "ABOVE"
    print(
        f"| **per-trial overhead** | {a['loop_wall_s'] / settings['trials']:.2f} |"
        f" {a['sweep_wall_s'] / settings['trials']:.2f} | **{total:+.2f}** |"
    )
    print(f"\nper-trial overhead {total:.2f} s: {verdict} the {TARGET_S:g} s target")
    b = a["between_trials"]
    print(
        f"actors built {b['actors_built']}, reused {b['actors_reused']}; median process age at "
        f"actor setup {b['process_age_at_setup_s'] or 0:.1f} s; first trial starts "
        f"{b['first_trial_start_s']:.1f} s into fit; fit ends {b['after_last_trial_s']:.1f} s "
        "after the last trial"
    )
    for part, seconds in b.get("gap_parts_s", {}).items():
        print(f"  between trials, {part}: {seconds:.2f} s")
    d = a["driver"]
    print(
        "driver: "
        + ", ".join(f"{k.removesuffix('_s')} {v:.2f} s" for k, v in d.items() if k != "fit_s")
    )


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--reuse-actors",
        choices=("sweep", "on", "off"),
        default="sweep",
        help="sweep (default): what the orchestrator chooses for this sweep; on/off: forced "
        "(off is what it chose before it reused actors for tiny sweeps)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set in the sweep's driver (and so its Ray) before it starts, e.g. "
        "TUNE_GLOBAL_CHECKPOINT_S=60",
    )
    parser.add_argument("--loop-only", type=Path, help=argparse.SUPPRESS)  # internal: work folder
    args = harness.parse(parser, argv, quick={"trials": 2, "steps": 1})
    trials = trial_configs(args.trials, args.steps)
    os.environ.setdefault(
        "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")
    )
    if args.loop_only:
        print(json.dumps(run_loop(trials, args.loop_only)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="sweep-overhead-"))
    try:
        load_before = os.getloadavg()
        loop_events = work / "loop.jsonl"
        (work / "loop").mkdir()
        command = [sys.executable, "-m", "benchmarks.sweep_overhead", "--loop-only"]
        command += [str(work / "loop"), *harness.passed(args, "trials", "steps")]
        env = {**os.environ, timeline.ENV: str(loop_events)}
        print(f"plain loop: {args.trials} trials in one process ...", flush=True)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"the plain loop failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        loop = json.loads(done.stdout.strip().splitlines()[-1])

        print(f"sweep: {args.trials} trials through the orchestrator ...", flush=True)
        for item in args.env:
            key, _, value = item.partition("=")
            os.environ[key] = value
        sweep_events = work / "sweep.jsonl"
        os.environ[timeline.ENV] = str(sweep_events)
        reuse = {"sweep": None, "on": True, "off": False}[args.reuse_actors]
        (work / "sweep").mkdir()
        sweep = run_orchestrated(trials, args.concurrency, reuse, work / "sweep")
        os.environ.pop(timeline.ENV)
        if sweep["exit_code"] != 0:
            sys.exit(f"the sweep failed (exit {sweep['exit_code']}); its folder: {work}")
        load_after = os.getloadavg()

        settings = harness.settings(args, "loop_only")
        result = {
            "settings": settings,
            "trial": trials[0],
            "cores": os.cpu_count(),
            "load_before": load_before,
            "load_after": load_after,
            "loop": loop,
            "sweep": sweep,
            "analysis": analyse(
                loop, timeline.read(loop_events), sweep, timeline.read(sweep_events), args
            ),
            # The raw timelines, to read other figures from later.
            "events": {"loop": timeline.read(loop_events), "sweep": timeline.read(sweep_events)},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(result, settings)
    # One row per side (the plain loop, the sweep): its wall time and what it saw; the rest beside.
    rows = [{"side": side, **result.pop(side)} for side in ("loop", "sweep")]
    harness.write_rows(args.out, rows, **result)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
