"""`python -m orchestrator.sweep NAME`: run a named sweep of `search_spaces/` on Ray Tune.

Local Ray and a SQLite MLflow store inside the sweep folder when nothing else is given; with
`--address` the driver joins a running cluster. Running the same sweep folder again resumes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import re
import sys
from pathlib import Path

from orchestrator.placement_checks import check_batches
from orchestrator.resources import DEFAULT_CARD_GB, placement_estimates, shares, sweep_placement
from orchestrator.search import Search, add_arguments, from_args, sizing_trials, with_validate_every
from orchestrator.weights_check import check_weights
from search_spaces import Sweep, load_sweep, sweep_names, with_axis
from tasks import get_task
from tasks.datasets import CHEAP_TO_OPEN, LOADERS
from trainables.backbones import SCALES, micro_weights, paper_seconds_per_step
from trainables.config import TrialConfig
from trainables.weights import weights_digest

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.sweep",
        description="Run a sweep of few-shot LoRA trials on video diffusion models with Ray Tune.",
    )
    parser.add_argument("sweep", help=f"a sweep of search_spaces/: {', '.join(sweep_names())}")
    parser.add_argument(
        "--storage",
        default="./sweeps",
        help="where sweeps live: a folder, or a filesystem URI every node reaches "
        "(s3://bucket/prefix, gs://…); default ./sweeps",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="carry on the sweep of this name (an error if there is none); running the same "
        "command again resumes too",
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: a SQLite store inside the sweep's storage folder)",
    )
    parser.add_argument("--name", help="the sweep run's name and folder (default: the sweep's)")
    parser.add_argument("--address", help="address of a running Ray cluster (default: local Ray)")
    placement = parser.add_argument_group(
        "resources", "what one trial gets (default: the policy of orchestrator/resources.py)"
    )
    placement.add_argument(
        "--gpus-per-trial",
        type=float,
        metavar="G",
        help="a share of one card (0.25, 0.5, 1) or a whole number of GPUs (that many workers)",
    )
    placement.add_argument(
        "--workers", type=int, metavar="K", help="run each trial as a group of K ranks"
    )
    placement.add_argument(
        "--card-gb",
        type=float,
        metavar="GB",
        help="GPU memory of the cluster's cards (default: from its vram_<N>gb resources, else "
        "24); with --dry-run, shows each trial's share on such cards",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print each trial's config as one JSON line (and a count and estimate on stderr)",
    )
    axes = parser.add_argument_group(
        "axes", "set an axis of the sweep to exactly these comma-separated values"
    )
    for flag, (_, kind) in AXES.items():
        names = [f"--{flag}", *(f"--{a}" for a in ALIASES.get(flag, ()))]
        axes.add_argument(*names, dest=flag, type=_list_of(kind), metavar="A,B,...")
    axes.add_argument("--steps", type=int, help="training steps of every trial")
    axes.add_argument(
        "--scale",
        choices=SCALES,
        help="tiny (random weights), micro (the repo's pretrained LTX weights) or full (--weights)",
    )
    axes.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="BACKBONE=URI",
        help="a backbone's hub-layout weights: a folder, a storage URI (s3://…) or "
        "hf://ORG/NAME[@REVISION], fetched once per GPU node (repeatable; docs/weights.md)",
    )
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="DATASET=PATH",
        help="read the tasks that use this dataset from it instead of their embedded source: "
        f"{', '.join(LOADERS)} (repeatable)",
    )
    add_arguments(parser)  # --scheduler, --search, --sample, ... (orchestrator.search)
    return parser.parse_args(argv)


# CLI flag → (trial setting, value type)
AXES = {
    "tasks": ("task", str),
    "n": ("n", int),
    "seeds": ("seed", int),
    "backbones": ("backbone", str),
    "trajectories": ("trajectory", str),
    "modules": ("modules", str),
    "ranks": ("rank", int),
}
ALIASES = {"modules": ("groups",)}  # the paper calls LoRA module sets "groups" too


def _list_of(kind: type):
    def parse(text: str) -> list:
        try:
            values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}s, got {text!r}") from None
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        return values

    return parse


def _pairs(items: list[str], flag: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise ValueError(f"bad {flag} {item!r}; expected {what}=PATH")
        out[key] = path
    return out


def apply_data(trials: list[dict], items: list[str]) -> list[dict]:
    """`--data DATASET=PATH`: every trial whose task reads DATASET takes it as its source."""
    data = _pairs(items, "--data", "DATASET")
    for dataset in data:
        if dataset not in LOADERS:
            raise ValueError(
                f"unknown dataset {dataset!r} in --data; allowed: {', '.join(LOADERS)}"
            )
        if not Path(data[dataset]).expanduser().exists():
            raise ValueError(f"--data {dataset}={data[dataset]}: no such file or folder")
    sourceless = {t["task"] for t in trials if t.get("dataset") is None}
    for task in sorted(sourceless):  # a task with no embedded source (pairs) needs its --data
        needs = get_task(task)
        if not needs.embedded and not set(needs.datasets) & set(data):
            raise ValueError(
                f"task {task!r} has no embedded source; give it its data: "
                f"--data {needs.datasets[0]}=PATH (docs/data.md)"
            )
    if not data:
        return trials
    # Per task, not per trial: a grid repeats each task hundreds of times.
    readable_by_task = {
        task: [d for d in get_task(task).datasets if d in data]
        for task in dict.fromkeys(trial["task"] for trial in trials)
    }
    used = set()
    out = []
    for trial in trials:
        readable = readable_by_task[trial["task"]]
        if readable:
            used.add(readable[0])
            trial = {**trial, "dataset": readable[0], "data_root": data[readable[0]]}
        out.append(trial)
    unused = sorted(set(data) - used)
    if unused:
        raise ValueError(f"--data {unused[0]}=...: no task of this sweep reads {unused[0]!r}")
    return out


def apply_overrides(trials: list[dict], args: argparse.Namespace) -> list[dict]:
    """The CLI's narrowing and widening of a sweep, then scale, weights and data."""
    for flag, (key, _) in AXES.items():
        if getattr(args, flag) is not None:
            trials = with_axis(trials, key, getattr(args, flag))
    weights = _pairs(args.weights, "--weights", "BACKBONE")
    for backbone, path in weights.items():  # with --address, on a GPU node (orchestrator.run)
        check_weights(backbone, path, layout=getattr(args, "address", None) is None)
    updates: dict = {}
    if args.steps is not None:
        updates["steps"] = args.steps
    if args.scale is not None:
        updates["scale"] = args.scale
    trials = [{**t, **updates} for t in trials]
    for trial in trials:
        backbone = trial.get("backbone", "cogvideox")
        if backbone in weights:
            trial["weights"] = weights[backbone]
        if trial.get("scale") == "full" and not trial.get("weights"):
            raise ValueError(
                f"--scale full needs --weights {backbone}=PATH (a folder, s3://… or hf://ORG/NAME)"
            )
    return apply_data(trials, args.data)


def resolve_trials(args: argparse.Namespace) -> tuple[Sweep, list[TrialConfig], Search]:
    sweep = load_sweep(args.sweep)
    trials = with_validate_every(apply_overrides(sweep.trials, args), args.validate_every)
    sweep = dataclasses.replace(sweep, trials=trials)
    search = from_args(args, trials, sweep.search)
    return sweep, [TrialConfig.from_dict(trial) for trial in trials], search


def check_sources(configs: list[TrialConfig], cheap: bool | None = None) -> None:
    """Each real dataset a sweep reads (--data) holds the pairs its largest n needs: opened
    once per task and folder, here in the driver, before Ray starts. `cheap`: only the
    datasets of CHEAP_TO_OPEN (True), or only the others (False)."""
    largest: dict[tuple[str, str, str], TrialConfig] = {}
    for config in configs:
        if cheap is not None and (config.dataset in CHEAP_TO_OPEN) != cheap:
            continue
        if config.dataset is not None:
            key = (config.task, config.dataset, config.data_root)
            if key not in largest or config.n + config.n_val > largest[key].n + largest[key].n_val:
                largest[key] = config
    for (task_name, dataset, root), config in largest.items():
        task = get_task(task_name)
        try:
            task.check_n(config.n, config.n_val, task.open_data(dataset, root))
        except ValueError as error:
            raise ValueError(f"--data {dataset}={root}: {error}") from None


#: What a trial's full-scale cost depends on: its backbone, task, steps and workers.
_COST_KEYS = ("backbone", "task", "steps", "workers")


def gpu_hours(trials: list[dict]) -> float:
    """What the trials would cost at full scale (the backbones' Table 3 steps where a trial
    leaves them to the backbone), at the paper's measured speed per backbone and task.
    Computed once per distinct (backbone, task, steps, workers), not once per trial."""
    seconds = 0.0
    cost: dict[tuple, float] = {}
    for trial in trials:
        key = tuple(trial.get(k) for k in _COST_KEYS)
        if key not in cost:
            given = {k: v for k, v in zip(_COST_KEYS, key, strict=True) if v is not None}
            config = TrialConfig.from_dict({**given, "scale": "full"})
            per_step = paper_seconds_per_step(config.backbone, config.task)
            cost[key] = config.steps * config.workers * per_step
        seconds += cost[key]
    return seconds / 3600


def trial_line(config: TrialConfig) -> str:
    """One trial as the JSON line `--dry-run` prints: its fields, flat (`vars` of a flat
    dataclass is what `dataclasses.asdict` gives, without its deep copy)."""
    return json.dumps(vars(config), sort_keys=True)


def describe(configs: list[TrialConfig], search: Search | None = None) -> str:
    """The first line a sweep prints: how many trials, on what, and which weights they run (and
    how they are sampled and scheduled, when not the grid, FIFO)."""
    scales = sorted({f"{c.backbone}/{c.scale}" for c in configs})
    notes = []
    if any(c.scale == "tiny" for c in configs):
        notes.append("tiny backbones: random weights, a plumbing run, not a result")
    for backbone in sorted({c.backbone for c in configs if c.scale == "micro" and not c.weights}):
        folder = micro_weights(backbone)
        notes.append(
            f"micro {backbone}: pretrained weights {folder.name} ({weights_digest(folder)})"
        )
    weights = sorted({c.weights for c in configs if c.weights})
    notes += [f"weights {w}" for w in weights]
    if search is not None and search.describe():
        notes.append(search.describe())
    note = f" ({'; '.join(notes)})" if notes else ""
    count = len(configs) if search is None else search.trial_count([vars(c) for c in configs])
    return f"{count} trials on {', '.join(scales)}{note}"


def machine_note(args: argparse.Namespace, configs: list[TrialConfig]) -> str:
    """What a local run without a GPU means, in the first line (a cluster has its own GPUs)."""
    import torch

    if args.address is not None or torch.cuda.is_available():
        return ""
    if all(c.scale != "full" for c in configs):
        return "; no GPU on this machine: the tiny and micro backbones run on the CPU"
    return "; no GPU on this machine: full-scale backbones on the CPU take days per trial"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sweep, configs, search = resolve_trials(args)
        name = Path(args.sweep).stem if args.name is None else args.name  # a .py path: its stem
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"bad --name {name!r}; allowed: letters, digits, '.', '_', '-'")
        sized = sizing_trials(search, sweep.trials)  # a sampled choice may move memory
        placement = sweep_placement(
            sized,
            args.card_gb if args.card_gb is not None else DEFAULT_CARD_GB,
            sweep.resources,
            args.gpus_per_trial,
            args.workers,
        )  # checks the overrides before anything starts
        if args.card_gb is not None or args.workers is not None:
            # The cards are known here only when given; else run_sweep checks on the cluster's.
            check_batches(sized, placement)
        if "://" in args.storage and not args.tracking_uri:
            raise ValueError(
                f"--storage {args.storage} is shared storage: give --tracking-uri, an MLflow "
                "server every node reaches (a SQLite file cannot live in an object store)"
            )
        check_sources(configs, cheap=True)  # a few-shot folder: checked in a dry run too
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        shown = sweep.trials
        if search.search != "grid":  # the sampled trials (random: seeded, as the run draws them)
            from orchestrator.tune_search import preview

            shown = preview(search, sweep.trials)
            configs = [TrialConfig.from_dict(trial) for trial in shown]
        sys.stdout.write("".join(f"{trial_line(config)}\n" for config in configs))
        count = search.trial_count(sweep.trials)
        hours = gpu_hours(shown) * count / len(shown)
        print(
            f"{count} trials; about {hours:,.2f} GPU-hours at full scale "
            "(the paper's Table 6 per-step times)"
            + (f"; {search.describe()}" if search.describe() else ""),
            file=sys.stderr,
        )
        if args.card_gb is not None:
            estimates = placement_estimates(sweep.trials, placement)
            print(
                f"on {args.card_gb:g} GB cards, {len(placement)} kind"
                f"{'s' * (len(placement) != 1)} of placement (memory estimate -> share):\n"
                + shares(placement, estimates, args.card_gb),
                file=sys.stderr,
            )
        return 0
    try:  # not in a dry run: opening a real dataset's index can take a while (COCO: ~20 s)
        check_sources(configs, cheap=False)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Said first, before Ray, DeepSpeed and MLflow load and start talking.
    first = f"vdm-sweeps: sweep {name!r}: {describe(configs, search)}{machine_note(args, configs)}"
    print(first, flush=True)
    from orchestrator.run import SweepRequest, run_sweep

    request = SweepRequest(
        name=name,
        storage=args.storage,
        resume=args.resume,
        tracking_uri=args.tracking_uri,
        address=args.address,
        card_gb=args.card_gb,
        gpus_per_trial=args.gpus_per_trial,
        workers=args.workers,
        search=search,
    )
    try:
        return run_sweep(sweep, request)
    except ValueError as error:  # a refused name, a missing sweep to resume, bad storage
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # storage that cannot be reached (checked first, by the claim)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: storage {args.storage} unreachable: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    code = main()
    if "--dry-run" in sys.argv[1:]:
        # Nothing to finalize but the objects torch, transformers and diffusers made at import:
        # spare the interpreter's exit the garbage collector's walks over them (~1 s).
        gc.freeze()
    sys.exit(code)
