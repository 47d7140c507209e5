"""Named sweeps: one module per sweep in this package, each defining `SWEEP`, looked up by name.

Every module of this package whose name does not start with an underscore is a sweep, named by
its module (docs/extending.md); `_paper` holds the protocol facts several sweeps share."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Table:
    """One of the paper's result tables: rows = the values of `rows`, among the trials whose
    settings match `fixed`; columns = task × n; cells = the metric's mean ± std over seeds."""

    title: str
    rows: str
    fixed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sweep:
    """A sweep is data: the trial configs (plain dicts of `TrialConfig` fields) and what one
    trial needs. `resources` pins each trial's {"cpu": …, "gpu": …} (a GPU share is dropped
    where the cluster has none); None leaves it to the policy of orchestrator/resources.py."""

    description: str
    trials: list[dict[str, Any]]
    resources: dict[str, float] | None = None
    max_concurrent_trials: int | None = None
    # Whether a trial runs in the worker process (Ray actor) its predecessor used, which saves
    # that process's start and imports (~11 s a trial here) while its GPU share waits. None:
    # the policy of orchestrator.tuner.reuses_actors; False: a fresh process for every trial.
    reuse_actors: bool | None = None
    tables: list[Table] = field(default_factory=list)
    # Ranges to sample trial settings from, on top of each trial, with `--search random` or
    # `optuna` (orchestrator.search): Tune's own objects, e.g. {"lr": tune.loguniform(1e-5,
    # 1e-3), "rank": tune.choice([4, 8, 16])}. Empty: the grid of `trials`, as the paper's.
    search: dict[str, Any] = field(default_factory=dict)


def sweep_names() -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")
    )


def load_sweep(name: str) -> Sweep:
    """A sweep of this package by name, or a user's own sweep module by its path (`*.py`)."""
    if name.endswith(".py"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ValueError(f"no sweep file {name!r}")
        spec = importlib.util.spec_from_file_location(f"_user_sweep_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sweep = getattr(module, "SWEEP", None)
    else:
        names = sweep_names()
        if name not in names:
            raise ValueError(
                f"unknown sweep {name!r}; allowed: {', '.join(names)} or a path to a .py file"
            )
        sweep = importlib.import_module(f"{__name__}.{name}").SWEEP
    if not isinstance(sweep, Sweep):
        raise ValueError(f"sweep {name!r} must define SWEEP = Sweep(...)")
    return sweep


def with_axis(trials: list[dict[str, Any]], key: str, values: list[Any]) -> list[dict[str, Any]]:
    """Set one axis of a sweep to exactly `values`: narrows (a subset of its values) or widens
    (new values) it, keeping every other combination the sweep has.

    Combinations are told apart by the settings every trial has. A setting only some trials
    carry (the grid's Table 4 `steps`, on its CogVideoX trials alone) belongs to those trials:
    they keep it where their value of the axis stays, and a value new to the sweep starts from
    the shared settings without it, so widening never duplicates a combination."""
    shared = set.intersection(*(set(t) for t in trials)) - {key} if trials else set()

    def combination(trial: dict[str, Any]) -> tuple:
        return tuple(sorted(((k, trial[k]) for k in shared), key=repr))

    combinations: dict[tuple, dict[str, Any]] = {}
    existing: dict[tuple, list[dict[str, Any]]] = {}
    for trial in trials:
        combo = combination(trial)
        combinations.setdefault(combo, {k: trial[k] for k in shared})
        if key in trial:
            found = existing.setdefault((combo, repr(trial[key])), [])
            if trial not in found:
                found.append(trial)
    return [
        trial
        for combo, rest in combinations.items()
        for value in values
        for trial in existing.get((combo, repr(value)), [{**rest, key: value}])
    ]
