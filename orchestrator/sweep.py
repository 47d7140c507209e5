"""`python -m orchestrator.sweep NAME`: run a named sweep of `search_spaces/` on Ray Tune.

Local Ray and a SQLite MLflow store inside the sweep folder when nothing else is given; with
`--address` the driver joins a running cluster. Running the same sweep folder again resumes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys

from search_spaces import load_sweep, sweep_names
from trainables.config import TrialConfig

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.sweep",
        description="Run a sweep of few-shot LoRA trials on video diffusion models with Ray Tune.",
    )
    parser.add_argument("sweep", help=f"a sweep of search_spaces/: {', '.join(sweep_names())}")
    parser.add_argument(
        "--storage", default="./sweeps", help="folder (or cluster storage) for results (./sweeps)"
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI (default: a SQLite store inside the sweep's storage folder)",
    )
    parser.add_argument("--name", help="the sweep run's name and folder (default: the sweep's)")
    parser.add_argument("--address", help="address of a running Ray cluster (default: local Ray)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print each trial's config as one JSON line and exit",
    )
    return parser.parse_args(argv)


def resolve_trials(sweep_name: str) -> tuple[object, list[TrialConfig]]:
    sweep = load_sweep(sweep_name)
    return sweep, [TrialConfig.from_dict(trial) for trial in sweep.trials]


def describe(configs: list[TrialConfig]) -> str:
    scales = sorted({f"{c.backbone}/{c.scale}" for c in configs})
    tiny = all(c.scale == "tiny" for c in configs)
    note = " (tiny backbones: random weights, a plumbing run, not a result)" if tiny else ""
    return f"{len(configs)} trials on {', '.join(scales)}{note}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sweep, configs = resolve_trials(args.sweep)
        name = args.sweep if args.name is None else args.name
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"bad --name {name!r}; allowed: letters, digits, '.', '_', '-'")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        for config in configs:
            print(json.dumps(dataclasses.asdict(config), sort_keys=True))
        return 0
    # Said first, before Ray, DeepSpeed and MLflow load and start talking.
    print(f"vdm-sweeps: sweep {name!r}: {describe(configs)}", flush=True)
    from orchestrator.run import run_sweep

    return run_sweep(sweep, configs, name, args)


if __name__ == "__main__":
    sys.exit(main())
