"""SPEC §1: a task is a seeded handful of (x, y) pairs plus a disjoint validation split.

Tasks live one per module in `tasks.catalog` and register themselves by subclassing `Task`, so
adding a task touches one file and the sweeps can list every task by name without a hand-kept
table that drifts from the code.
"""

from __future__ import annotations

import abc
import functools
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from tasks import metrics as _metrics
from tasks.sources import validation_index

N_RANGE = (1, 30)  # SPEC §1: n in 1..30 training pairs
POOL = 1000  # pairs are drawn from the first POOL indices of a task's source
MIN_SIDE = 16

_REGISTRY: dict[str, type[Task]] = {}


@dataclass(frozen=True, eq=False)
class Pair:
    """One example: x is what the model is conditioned on, y what it must produce; `info` holds
    the ground truth a metric needs beyond y (an inpainting mask, pose keypoints, grid labels).

    No generated `==`: comparing numpy arrays elementwise has no single truth value, so equality
    would raise; compare `x` and `y` explicitly instead."""

    x: np.ndarray
    y: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Split:
    train: list[Pair]
    val: list[Pair]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


class Task(abc.ABC):
    """A named source of pairs and the metrics they are scored on (primary metric first, since
    tuning and the report tables rank trials by it)."""

    name: ClassVar[str]
    metrics: ClassVar[tuple[str, ...]]
    datasets: ClassVar[tuple[str, ...]] = ()  # real sources, by tasks.datasets loader name
    dataset_options: ClassVar[dict[str, dict[str, Any]]] = {}
    embedded: ClassVar[bool] = True  # False: only a real dataset (`datasets`) gives its pairs

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if _is_base(cls):
            return
        for metric in cls.metrics:
            if not callable(getattr(_metrics, metric, None)):
                raise TypeError(f"task {cls.name!r} names unknown metric {metric!r}")
        known = _REGISTRY.get(cls.name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(
                f"task name {cls.name!r} is taken by {known.__module__}.{known.__name__}"
            )
        _REGISTRY[cls.name] = cls

    @abc.abstractmethod
    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        """The pair at `index` of this task's embedded pool, at `size` = (height, width);
        deterministic."""

    def open_data(self, name: str, root: str, **options: Any) -> Any:
        """Open the real dataset `name` at `root` as this task reads it (`options` go to the
        loader, over the task's own `dataset_options`)."""
        if name not in self.datasets:
            allowed = ", ".join(self.datasets) or "none"
            raise ValueError(f"task {self.name!r} cannot read dataset {name!r}; allowed: {allowed}")
        from tasks.datasets import open_dataset

        return open_dataset(name, root, **{**self.dataset_options.get(name, {}), **options})

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        """The pair at `index` of an opened real dataset (one of `datasets`)."""
        raise ValueError(f"task {self.name!r} has no real dataset source")

    def real_pool(self, data: Any) -> int:
        """How many distinct pairs the opened dataset offers."""
        return len(data)

    def metrics_for(self, dataset: str | None, root: str | None) -> tuple[str, ...]:
        """The metrics a trial reading `dataset` at `root` (None: the embedded source) is
        scored on, primary first: the task's own, unless its data names them (a folder of
        pairs may, in its task.json)."""
        return self.metrics

    def draw(
        self, pool: int, n: int, n_val: int, seed: int, data: Any
    ) -> tuple[list[int], list[int]]:
        """The training and validation indices of a seed: n + n_val drawn without replacement
        from one pool, so the splits never overlap (embedded validation indices then point at
        the held-out photographs)."""
        chosen = np.random.default_rng(seed).choice(pool, size=n + n_val, replace=False)
        indices = [int(i) for i in chosen]
        val = indices[n:]
        if data is None:
            val = [validation_index(i) for i in val]
        return indices[:n], val

    def make_split(self, make: Callable[[int], Pair], train: list[int], val: list[int]) -> Split:
        """Pairs from the drawn indices; a task whose validation must come from a held-out part
        of its source (grid classification: 80/20 images per class) overrides this."""
        return Split(train=[make(i) for i in train], val=[make(i) for i in val])

    def check_n(self, n: int, n_val: int, data: Any = None) -> int:
        """Check n (SPEC §1: 1..30) and n_val against what the source holds (the embedded pool,
        or the opened dataset `data`); return the pool's size. A sweep's driver calls it before
        Ray starts, so a bad n is one line there, not a traceback inside a trial."""
        low, high = N_RANGE
        if not _is_int(n) or not low <= n <= high:
            raise ValueError(f"bad n {n!r} for task {self.name!r}; allowed: {low}..{high}")
        if not _is_int(n_val) or not 1 <= n_val <= POOL - high:
            raise ValueError(f"bad n_val {n_val!r}; allowed: 1..{POOL - high}")
        pool = POOL if data is None else self.real_pool(data)
        if pool < n + n_val:
            raise ValueError(
                f"bad n {n} for task {self.name!r}: its dataset offers {pool} pairs and "
                f"n + n_val = {n + n_val} are needed; allowed: n ≤ {pool - n_val}"
            )
        return pool

    def pairs(
        self,
        n: int,
        seed: int,
        n_val: int = 4,
        size: tuple[int, int] = (64, 64),
        data: Any = None,
    ) -> Split:
        """n training and n_val validation pairs, drawn without replacement from one pool so the
        splits never overlap; the same arguments always give the same pairs. `data` is an
        opened real dataset (`tasks.datasets.open_dataset`); None uses the embedded source."""
        pool = self.check_n(n, n_val, data)
        if not _is_int(seed) or seed < 0:
            raise ValueError(f"seed must be an int >= 0; got {seed!r}")
        if (
            not isinstance(size, tuple | list)
            or len(size) != 2
            or not all(_is_int(s) and s >= MIN_SIDE for s in size)
        ):
            raise ValueError(f"size must be (height, width), ints >= {MIN_SIDE}; got {size!r}")
        size = (int(size[0]), int(size[1]))
        if data is None:
            make = functools.partial(self.make_pair, size=size)
        else:
            make = functools.partial(self.make_real_pair, data, size=size)
        train, val = self.draw(pool, n, n_val, int(seed), data)
        return self.make_split(make, train, val)

    def score(
        self,
        predictions: list[np.ndarray],
        pairs: list[Pair],
        metrics: tuple[str, ...] | None = None,
    ) -> dict[str, float]:
        """Each of the task's metrics (or `metrics`, from `metrics_for`), averaged over the
        pairs (a perfect PSNR stays inf).

        A metric gets, besides (prediction, y), the entries of `pair.info` it names as
        parameters (an inpainting mask, true depth, keypoints, labels)."""
        if len(predictions) != len(pairs) or not pairs:
            raise ValueError(
                f"need equal, non-empty lists; got {len(predictions)} predictions "
                f"and {len(pairs)} targets"
            )
        scores = {}
        for metric in self.metrics if metrics is None else metrics:
            function = getattr(_metrics, metric)
            wanted = set(inspect.signature(function).parameters)
            scores[metric] = float(
                np.mean(
                    [
                        function(p, pair.y, **{k: v for k, v in pair.info.items() if k in wanted})
                        for p, pair in zip(predictions, pairs, strict=True)
                    ]
                )
            )
        return scores


def _is_base(cls: type[Task]) -> bool:
    """Intermediate bases (no own name, or make_pair still abstract) are not registered.

    `__abstractmethods__` cannot be used: ABCMeta sets it only after `__init_subclass__` ran."""
    return "name" not in vars(cls) or getattr(cls.make_pair, "__isabstractmethod__", False)


@functools.cache
def _discover() -> None:
    """Import every task module of tasks.catalog (those whose names do not start with an
    underscore); their Task subclasses register on definition. Once per process: validating
    thousands of trial configs asks for the names each time."""
    from tasks import catalog

    for module in pkgutil.iter_modules(catalog.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{catalog.__name__}.{module.name}")


def task_names() -> list[str]:
    _discover()
    return sorted(_REGISTRY)


def trial_metrics(
    task: str, dataset: str | None = None, data_root: str | None = None
) -> tuple[str, ...]:
    """The metrics of a trial of `task` on `dataset` at `data_root`, primary first (an empty
    string, as MLflow params give None back, is None)."""
    return get_task(task).metrics_for(dataset or None, data_root or None)


def get_task(name: str) -> Task:
    _discover()
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; allowed: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()
