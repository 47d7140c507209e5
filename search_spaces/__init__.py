"""Named sweeps: one module per sweep in this package, each defining `SWEEP`, looked up by name."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
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
    trial needs. `resources` is per trial; a GPU share is dropped where the cluster has none."""

    description: str
    trials: list[dict[str, Any]]
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0, "gpu": 1.0})
    max_concurrent_trials: int | None = None
    # Reusing worker processes saves ~3 s of start-up and the imports per trial; big backbones
    # want a fresh process per trial instead.
    reuse_actors: bool = False
    tables: list[Table] = field(default_factory=list)


def sweep_names() -> list[str]:
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name != "paper")


def load_sweep(name: str) -> Sweep:
    names = sweep_names()
    if name not in names:
        raise ValueError(f"unknown sweep {name!r}; allowed: {', '.join(names)}")
    sweep = importlib.import_module(f"{__name__}.{name}").SWEEP
    if not isinstance(sweep, Sweep):
        raise TypeError(f"search_spaces/{name}.py must define SWEEP = Sweep(...)")
    return sweep


def with_axis(trials: list[dict[str, Any]], key: str, values: list[Any]) -> list[dict[str, Any]]:
    """Set one axis of a sweep to exactly `values`: narrows (a subset of its values) or widens
    (new values) it, keeping every other combination the sweep has."""
    others: dict[tuple, dict[str, Any]] = {}
    for trial in trials:
        rest = {k: v for k, v in trial.items() if k != key}
        others.setdefault(tuple(sorted(rest.items(), key=repr)), rest)
    return [{**rest, key: value} for rest in others.values() for value in values]
