"""How full the resources policy keeps the GPUs: a sweep of sleeping probe trials of mixed
shares on logical GPUs, through the orchestrator's own path.

`orchestrator.run.run_sweep` runs the sweep as `python -m orchestrator.sweep` would, on a local
Ray started with `num_gpus=N` and one `vram_80gb` unit per GPU (logical GPUs on this CPU
machine), so the card class is read from the cluster (`card_memory_gb`), each kind of trial gets
its share from `sweep_placement`, and Tune asks for it through `orchestrator.tuner.
trial_placement`. Only the trainable is swapped for a probe: it sleeps its trial's `probe_s`
seconds and records when it ran and on which GPU (`ray.get_gpu_ids()`); a trial that the
policy spreads over several workers runs the probe in each rank of a group with
`trainables.workers.run_group`, as the product does (the Tune trial reserves the ranks' GPUs).

Default mix on 4 GPUs of 80 GB: LTX tiny (¼ card), CogVideoX full (¼), Wan full (1 card) and
Wan full pinned to 2 workers (2 whole GPUs) with `batch_size` 2 (a group trial's global batch is
split over its ZeRO-3 ranks, `orchestrator.placement_checks.check_batches`: Wan's Table 3 batch
of 1 does not split over 2), durations drawn between `--min-s` and `--max-s`.

Figures: the share of GPU capacity busy (Σ over running probes of their share ÷ N) over the
time some trial was still pending — from the sweep's `fit` start and from the first probe's
start — to the last probe's start; the idle capacity split into "a pending trial would have
fit" (scheduling, actor and group start latency) and "no pending trial fits the free pieces"
(fragmentation); the gap between a probe ending on a GPU and the next starting on it; and the
checks that no GPU held more than its capacity and no two ranks of one group shared a GPU.

    .venv/bin/python -m benchmarks.packing [--gpus 4] [--min-s 6] [--max-s 18] [--mix 12,8,4,2]
        [--reuse-actors sweep|on|off] [--quick] [--out benchmarks/results/packing.json]

One module over 400 lines: the probe trials, the sweep that places them and the timeline
analysis of where capacity went are one measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks import _timeline as timeline
from benchmarks import harness

DEFAULT_OUT = Path(__file__).parent / "results" / "packing.json"
# The probes' durations and kinds by trial seed, in a JSON file the workers read: trial configs
# must stay valid `TrialConfig`s (the Tuner names trials from them).
PROBES_ENV = "VDM_BENCH_PROBES"
IMPORTED_AT = time.time()  # in a worker: when unpickling the probe imported this module
TARGET = 0.95
EPS = 1e-9
# What each kind of probe trial is: (label, trial settings).
KINDS = (
    ("ltx tiny", {"backbone": "ltx", "scale": "tiny"}),
    ("cogvideox full", {"backbone": "cogvideox", "scale": "full", "weights": "/w/cogvideox"}),
    ("wan full", {"backbone": "wan", "scale": "full", "weights": "/w/wan"}),
    (
        "wan full, 2 workers",
        # A batch that splits over the 2 ranks (check_batches refuses Wan's batch of 1).
        {"backbone": "wan", "scale": "full", "weights": "/w/wan", "workers": 2, "batch_size": 2},
    ),
)


# ---- the probe trainable (runs in Ray's workers; this module stays light to import) ----------


def probe_trial(config: dict[str, Any]) -> None:
    import ray
    from ray import tune

    start = time.time()
    name = tune.get_context().get_trial_name()
    trial = config["trial"]
    probe = json.loads(Path(os.environ[PROBES_ENV]).read_text())[str(trial["seed"])]
    heavy = "torch" in sys.modules  # what this actor imported before the probe ran
    timeline.point(
        "probe.actor",
        trial_name=name,
        process_created=_process_created(),
        module_imported=IMPORTED_AT,
        start=start,
    )
    if int(trial.get("workers", 1)) > 1:
        _group_probe(config, probe, name, start, heavy)
        return
    ids = [str(i) for i in ray.get_gpu_ids()]
    assigned = ray.get_runtime_context().get_assigned_resources()
    time.sleep(probe["seconds"])
    end = time.time()
    timeline.point(
        "probe.run",
        trial_name=name,
        probe_kind=probe["kind"],
        start=start,
        end=end,
        gpu_ids=ids,
        share=assigned.get("GPU", 0.0),
        rank=None,
        torch_imported=heavy,
    )
    tune.report({"probe_start": start, "probe_end": end, "gpu_ids": ",".join(ids)})


def _process_created() -> float:
    import psutil

    return psutil.Process().create_time()


def light_placement(config: dict[str, Any]) -> Any:
    """`orchestrator.tuner.trial_placement` without importing the project (whose modules
    import torch): the same key, the same table, the same bundles (`run` checks they are equal
    for every trial). With `--light-actors` the probes' actors start without torch, leaving
    Ray's and Tune's own latency."""
    from ray.tune.execution.placement_groups import PlacementGroupFactory

    trial = config["trial"]
    # placement_key resolves a full-scale trial's memory settings from its backbone's defaults
    # (importing torch): take the table's one key of this backbone, scale and worker count.
    base = f"{trial.get('backbone', 'cogvideox')}/{trial.get('scale', 'tiny')}"
    workers = int(trial.get("workers", 1))
    suffix = f"/w{workers}" if workers != 1 else ""
    keys = [
        k
        for k in config["placement"]
        if (k == base + suffix or k.startswith(base + "/"))
        and (k.endswith(suffix) if suffix else re.search(r"/w\d+$", k) is None)
    ]
    if len(keys) != 1:
        raise ValueError(f"light_placement: not one placement for {base}{suffix}: {keys}")
    placement = config["placement"][keys[0]]
    workers = int(placement["workers"])

    def bundle(cpu: float, gpu: float) -> dict[str, float]:
        return {"CPU": cpu, **({"GPU": gpu} if gpu else {})}

    bundles = [bundle(placement["cpu"], placement["gpu"] if workers == 1 else 0.0)]
    if workers > 1:
        bundles += [bundle(trial.get("worker_cpus", 1.0), placement["gpu"])] * workers
    return PlacementGroupFactory(bundles, strategy="PACK")


def _group_probe(
    config: dict[str, Any], probe: dict[str, Any], name: str, start: float, heavy: bool
) -> None:
    """The product's group: the trial's placement (`with_placement`) and `trainables.workers.
    run_group` in the bundles the trial reserved; each rank sleeps and records its GPU ids."""
    import ray
    from ray import tune

    from trainables.workers import run_group

    trial = config["trial"]
    placement = config["placement"][_key(trial)]
    workers = int(placement["workers"])
    timeline.point(
        "probe.group_driver",
        trial_name=name,
        start=start,
        gpu_ids=[str(i) for i in ray.get_gpu_ids()],
        workers=workers,
        torch_imported=heavy,
    )
    run_group(
        rank_probe,
        {
            "seconds": probe["seconds"],
            "trial_name": name,
            "kind": probe["kind"],
            "events": os.environ.get(timeline.ENV, ""),
        },
        workers=workers,
        worker_cpus=float(trial.get("worker_cpus", 1.0)),
        gpus_per_worker=placement["gpu"],
        publish=tune.report,
    )
    timeline.point("probe.group_done", trial_name=name)


def _key(trial: dict[str, Any]) -> str:
    from trainables.config import placement_key

    return placement_key(trial)


def rank_probe(loop_config: dict[str, Any], rank: int, publish: Any) -> None:
    import ray

    if loop_config["events"]:
        os.environ[timeline.ENV] = loop_config["events"]
    start = time.time()
    ids = [str(i) for i in ray.get_gpu_ids()]
    time.sleep(loop_config["seconds"])
    end = time.time()
    timeline.point(
        "probe.run",
        trial_name=loop_config["trial_name"],
        probe_kind=loop_config["kind"],
        start=start,
        end=end,
        gpu_ids=ids,
        share=1.0 if ids else 0.0,
        rank=rank,
        torch_imported="torch" in sys.modules,
    )
    publish({"rank": rank, "gpu_ids": ",".join(ids)})


def probe_trainable() -> Any:
    """Stands in for `trainables.sweep_trial.spot_aware_trainable` in `orchestrator.tuner`; taken
    from this module by its import name, so Ray pickles it by reference."""
    return importlib.import_module("benchmarks.packing").probe_trial


# ---- the sweep ------------------------------------------------------------------------------


def probe_trials(
    mix: list[int], min_s: float, max_s: float, seed: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The trial configs (the seed tells them apart) and each one's probe: kind, seconds."""
    rng = random.Random(seed)
    kinds = [(label, settings) for (label, settings), n in zip(KINDS, mix, strict=True)]
    kinds = [kind for kind, n in zip(kinds, mix, strict=True) for _ in range(n)]
    rng.shuffle(kinds)
    trials, probes = [], {}
    for i, (label, settings) in enumerate(kinds):
        trials.append({"task": "hflip", "seed": i, **settings})
        probes[str(i)] = {"kind": label, "seconds": round(rng.uniform(min_s, max_s), 2)}
    return trials, probes


def sweep_probe_trials(
    name: str, min_s: float, max_s: float, seed: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A real sweep's trials, in its own order, at full scale (placeholder weights: probes load
    nothing); the seed is replaced by the trial's index, which keys its probe."""
    from search_spaces import load_sweep
    from trainables.config import backbone_and_scale

    rng = random.Random(seed)
    trials, probes = [], {}
    for i, trial in enumerate(load_sweep(name).trials):
        backbone, _ = backbone_and_scale(trial)
        trials.append({**trial, "scale": "full", "weights": f"/w/{backbone}", "seed": i})
        label = f"{backbone} full" + (f", {trial['workers']} workers" if "workers" in trial else "")
        probes[str(i)] = {"kind": label, "seconds": round(rng.uniform(min_s, max_s), 2)}
    return trials, probes


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import ray

    import orchestrator.run as run_module
    import orchestrator.tuner as tuner_module
    from search_spaces import Sweep

    if args.sweep:
        trials, probes = sweep_probe_trials(args.sweep, args.min_s, args.max_s, args.seed)
    else:
        trials, probes = probe_trials(args.mix, args.min_s, args.max_s, args.seed)
    (work / "probes.json").write_text(json.dumps(probes))
    os.environ[PROBES_ENV] = str(work / "probes.json")  # before Ray starts: workers inherit it
    kwargs = {} if args.reuse_actors == "sweep" else {"reuse_actors": args.reuse_actors == "on"}
    sweep = Sweep(description="packing probes (benchmarks.packing)", trials=trials, **kwargs)
    request = run_module.SweepRequest("packing", storage=str(work / "sweeps"))
    init = ray.init
    seen: dict[str, Any] = {}

    def logical_gpus(*a, **k):
        k.update(num_cpus=args.cpus, num_gpus=args.gpus, resources={"vram_80gb": args.gpus})
        with timeline.span("driver.ray_init"):
            return init(*a, **k)

    build_tuner = run_module.build_tuner

    def instrumented(sweep, storage, tracking, placement, *a, callbacks=None, **k):
        seen["placement"] = placement
        if args.light_actors:
            for trial in sweep.trials:
                config = {"trial": trial, "placement": placement}
                same = light_placement(config) == tuner_module.trial_placement(config)
                assert same, f"light_placement differs from trial_placement for {trial}"
        # The driver's points come from a Tune callback beside the orchestrator's own.
        callbacks = [*(callbacks or []), timeline.tune_callback()]
        tuner, resumed = build_tuner(
            sweep, storage, tracking, placement, *a, callbacks=callbacks, **k
        )
        tuner.fit = timeline.timed(tuner.fit, "driver.fit")
        seen["reuse_actors"] = tuner_module.reuses_actors(sweep)  # what build_tuner gave Tune
        return tuner, resumed

    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(ray, "init", logical_gpus))
        stack.enter_context(_patched(run_module, "build_tuner", instrumented))
        stack.enter_context(_patched(tuner_module, "spot_aware_trainable", probe_trainable))
        if args.light_actors:
            light = importlib.import_module("benchmarks.packing").light_placement
            stack.enter_context(_patched(tuner_module, "trial_placement", light))
        if args.reuse_actors != "sweep" and hasattr(tuner_module, "reuses_actors"):
            forced = args.reuse_actors == "on"
            stack.enter_context(_patched(tuner_module, "reuses_actors", lambda *_: forced))
        code = run_module.run_sweep(sweep, request)
    return {"exit_code": code, "trials": trials, "probes": probes, **seen}


@contextlib.contextmanager
def _patched(owner: Any, attribute: str, value: Any):
    original = getattr(owner, attribute)
    setattr(owner, attribute, value)
    try:
        yield
    finally:
        setattr(owner, attribute, original)


# ---- reading the timeline ------------------------------------------------------------------


def analyse(events: list[dict[str, Any]], trials: list[dict], gpus: int) -> dict[str, Any]:
    runs = [e for e in events if e["kind"] == "point" and e["name"] == "probe.run"]
    fit = next(e for e in events if e["kind"] == "span" and e["name"] == "driver.fit")
    uses = []  # (start, end, gpu id, share, trial)
    for r in runs:
        for gpu in r["gpu_ids"]:
            share = r["share"] if r["rank"] is None else 1.0
            uses.append((r["start"], r["end"], int(gpu), share / len(r["gpu_ids"]), r))
    by_trial: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        by_trial[r["trial_name"]].append(r)
    first_use = {name: min(r["start"] for r in rs) for name, rs in by_trial.items()}
    kind_of = {name: rs[0]["probe_kind"] for name, rs in by_trial.items()}
    need = {}  # trial → (per-GPU share, whole GPUs needed)
    for name, rs in by_trial.items():
        if rs[0]["rank"] is None:
            need[name] = (rs[0]["share"], 0)
        else:
            need[name] = (1.0, len(rs))
    last_start = max(first_use.values())

    def window(w0: float) -> dict[str, float]:
        cuts = sorted({w0, last_start, *(u[0] for u in uses), *(u[1] for u in uses)})
        cuts = [c for c in cuts if w0 <= c <= last_start]
        busy = idle_fit = idle_fragment = 0.0
        for a, b in zip(cuts, cuts[1:], strict=False):
            mid = (a + b) / 2
            used = [0.0] * gpus
            for s, e, g, share, _ in uses:
                if s <= mid < e:
                    used[g] += share
            free = [max(0.0, 1.0 - u) for u in used]
            pending = [n for n, t in first_use.items() if t > mid]
            fits = any(
                (whole == 0 and max(free) + EPS >= share)
                or (whole > 0 and sum(f >= 1.0 - EPS for f in free) >= whole)
                for share, whole in (need[n] for n in pending)
            )
            length = b - a
            busy += sum(min(u, 1.0) for u in used) * length
            idle = (gpus - sum(min(u, 1.0) for u in used)) * length
            if fits:
                idle_fit += idle
            else:
                idle_fragment += idle
        total = gpus * (last_start - w0)
        return {
            "seconds": last_start - w0,
            "busy_share": busy / total if total > 0 else 1.0,
            "idle_a_pending_trial_fit": idle_fit / total if total > 0 else 0.0,
            "idle_fragmentation": idle_fragment / total if total > 0 else 0.0,
        }

    # Oversubscription: the most any GPU held at once.
    peak = [0.0] * gpus
    for s, _, g, _, _ in uses:
        held = sum(share for s2, e2, g2, share, _ in uses if g2 == g and s2 <= s < e2)
        peak[g] = max(peak[g], held)
    # Ranks of one group on distinct GPUs.
    groups = {n: rs for n, rs in by_trial.items() if rs[0]["rank"] is not None}
    group_devices = {n: sorted(g for r in rs for g in r["gpu_ids"]) for n, rs in groups.items()}
    shared = {n: ids for n, ids in group_devices.items() if len(set(ids)) != len(ids)}
    drivers = [e for e in events if e["kind"] == "point" and e["name"] == "probe.group_driver"]
    actors = [e for e in events if e["kind"] == "point" and e["name"] == "probe.actor"]
    # Hand-over: a probe ends on a GPU → the next probe starts on it.
    handovers = []
    for _, e, g, _, _ in uses:
        if e >= last_start:
            continue
        later = [s2 for s2, _, g2, _, _ in uses if g2 == g and s2 >= e]
        if later:
            handovers.append(min(later) - e)
    # Tune's view: actor started (on_trial_start) → the probe began; for groups → ranks began.
    started = {}
    for e in events:
        if e["kind"] == "point" and e["name"] == "tune.trial_start":
            started.setdefault(e["trial_name"], e["t"])
    actor_to_probe = defaultdict(list)
    for name, t in first_use.items():
        if name in started:
            label = "group: Tune start → ranks run" if name in groups else "Tune start → probe runs"
            actor_to_probe[label].append(t - started[name])
    per_kind = defaultdict(list)
    for name, t in first_use.items():
        per_kind[kind_of[name]].append(t - fit["start"])
    return {
        "gpus": gpus,
        "trials": len(first_use),
        "expected_trials": len(trials),
        "from_fit_start": window(fit["start"]),
        "from_first_probe": window(min(first_use.values())),
        "target": TARGET,
        "peak_share_per_gpu": peak,
        "oversubscribed": any(p > 1.0 + 1e-6 for p in peak),
        "group_rank_devices": group_devices,
        "groups_sharing_a_device": shared,
        "group_drivers_holding_gpus": [d["gpu_ids"] for d in drivers if d["gpu_ids"]],
        "torch_imported_before_probe": sum(1 for r in runs if r["torch_imported"]),
        "probes_recorded": len(runs),
        "handover_s": {
            "count": len(handovers),
            "median": statistics.median(handovers) if handovers else None,
            "mean": statistics.mean(handovers) if handovers else None,
            "max": max(handovers) if handovers else None,
        },
        # The same hand-overs between trials of a realistic length L cost h / (L + h).
        "busy_share_at_trial_length": {
            f"{length}s": length / (length + statistics.mean(handovers)) if handovers else 1.0
            for length in (60, 600, 3600)
        },
        "tune_start_to_run_s": {k: statistics.median(v) for k, v in actor_to_probe.items()},
        # The probe's own process: created (often prestarted by Ray) → this module imported
        # (unpickling the trainable) → the probe ran.
        "actor_process_age_at_probe_s": _median(e["start"] - e["process_created"] for e in actors),
        "module_import_to_probe_s": _median(e["start"] - e["module_imported"] for e in actors),
        "first_start_after_fit_s": {k: min(v) for k, v in per_kind.items()},
        "last_start_after_fit_s": {k: max(v) for k, v in per_kind.items()},
        "fit_s": fit["end"] - fit["start"],
        "last_start_after_fit_start_s": last_start - fit["start"],
    }


def _median(values) -> float | None:
    values = list(values)
    return statistics.median(values) if values else None


def print_table(result: dict[str, Any]) -> None:
    a = result["analysis"]
    print()
    print(
        f"{a['trials']} probe trials on {a['gpus']} logical GPUs of 80 GB; fit "
        f"{a['fit_s']:.1f} s, last probe started {a['last_start_after_fit_start_s']:.1f} s in; "
        f"reuse_actors={result['reuse_actors']}, light actors={result['light_actors']}; "
        f"load average {result['load_before'][0]:.1f} → "
        f"{result['load_after'][0]:.1f} on {os.cpu_count()} cores"
    )
    print("placement: " + "; ".join(f"{k} {v}" for k, v in result["placement"].items()))
    print()
    print("| while trials were pending | window (s) | GPU busy | idle: a pending trial fit |"
          " idle: fragmentation |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, key in (
        ("from fit start", "from_fit_start"),
        ("from first probe", "from_first_probe"),
    ):
        w = a[key]
        print(
            f"| {label} | {w['seconds']:.1f} | {w['busy_share']:.1%} |"
            f" {w['idle_a_pending_trial_fit']:.1%} | {w['idle_fragmentation']:.1%} |"
        )
    verdict = "meets" if a["from_first_probe"]["busy_share"] >= TARGET else "BELOW"
    print(f"\nGPU busy from the first probe: {verdict} the {TARGET:.0%} target")
    h = a["handover_s"]
    if h["count"]:
        print(
            "hand-over (a probe ends on a GPU → the next starts there): "
            f"median {h['median']:.2f} s, mean {h['mean']:.2f} s, max {h['max']:.2f} s"
            f" over {h['count']}"
        )
        print(
            "the same hand-overs between longer trials: "
            + ", ".join(
                f"{k.removesuffix('s')} s → {v:.1%} busy"
                for k, v in a["busy_share_at_trial_length"].items()
            )
        )
    for label, seconds in a["tune_start_to_run_s"].items():
        print(f"{label}: median {seconds:.2f} s")
    if a["actor_process_age_at_probe_s"] is not None:
        print(
            f"probe actors: process created {a['actor_process_age_at_probe_s']:.1f} s and this "
            f"module imported {a['module_import_to_probe_s']:.1f} s before the probe ran (medians)"
        )
    print(
        "first start after fit (s): "
        + ", ".join(f"{k} {v:.1f}" for k, v in a["first_start_after_fit_s"].items())
    )
    print(
        f"peak share per GPU: {[round(p, 3) for p in a['peak_share_per_gpu']]} "
        f"({'OVERSUBSCRIBED' if a['oversubscribed'] else 'never above 1'})"
    )
    print(
        f"group ranks' devices: {a['group_rank_devices']} → "
        + (
            "SHARED: " + str(a["groups_sharing_a_device"])
            if a["groups_sharing_a_device"]
            else "no two ranks of a group shared a GPU"
        )  # fmt: skip
    )
    print(
        f"group Tune trials holding a GPU: {a['group_drivers_holding_gpus'] or 'none'}; "
        f"probes whose actor had imported torch before running: "
        f"{a['torch_imported_before_probe']}/{a['probes_recorded']}"
    )


@harness.entry
def main(argv: list[str] | None = None) -> int:
    parser = harness.arguments(__doc__, DEFAULT_OUT)
    parser.add_argument("--gpus", type=int, default=4)
    parser.add_argument("--cpus", type=int, default=24, help="logical CPUs of the local Ray")
    parser.add_argument(
        "--mix",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[12, 8, 4, 2],
        help="how many trials of: ltx tiny, cogvideox full, wan full, wan full on 2 workers",
    )
    parser.add_argument(
        "--sweep",
        help="probe a real sweep's trials (search_spaces/NAME.py) at full scale, in its own "
        "order, instead of --mix",
    )
    parser.add_argument("--min-s", type=float, default=6.0)
    parser.add_argument("--max-s", type=float, default=18.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reuse-actors",
        choices=("sweep", "on", "off"),
        default="sweep",
        help="sweep (default): what the orchestrator chooses for this sweep; on/off: forced",
    )
    parser.add_argument(
        "--light-actors",
        action="store_true",
        help="ask for the same resources through a copy of trial_placement that imports "
        "nothing of the project, so probe actors start without torch (Ray's and Tune's own "
        "latency only)",
    )
    quick = {"gpus": 2, "cpus": 4, "mix": [1, 0, 0, 1], "min_s": 0.1, "max_s": 0.2}
    args = harness.parse(parser, argv, quick=quick)
    if len(args.mix) != len(KINDS):
        raise ValueError(f"bad --mix {args.mix}; allowed: {len(KINDS)} counts")
    work = Path(tempfile.mkdtemp(prefix="packing-"))
    events = work / "events.jsonl"
    os.environ[timeline.ENV] = str(events)
    load_before = os.getloadavg()
    outcome = run(args, work)
    load_after = os.getloadavg()
    os.environ.pop(timeline.ENV)
    if outcome["exit_code"] != 0:
        sys.exit(f"the probe sweep failed (exit {outcome['exit_code']}); see {work}")
    result = {
        "settings": harness.settings(args),
        "placement": outcome["placement"],
        "reuse_actors": outcome["reuse_actors"],
        "light_actors": args.light_actors,
        "trials": outcome["trials"],
        "probes": outcome["probes"],
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": load_after,
        "analysis": analyse(timeline.read(events), outcome["trials"], args.gpus),
        "events": timeline.read(events),  # the raw timeline, to read other figures from later
    }
    shutil.rmtree(work, ignore_errors=True)
    print_table(result)
    # One row per trial: its settings and its probe (kind, seconds); the rest beside them.
    rows = [{**t, "probe": result["probes"][str(t["seed"])]} for t in result.pop("trials")]
    del result["probes"]
    harness.write_rows(args.out, rows, **result)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
