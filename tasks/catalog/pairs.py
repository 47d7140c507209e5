"""The user's own task (`--tasks pairs --data pairs=PATH`): a folder of (input, target) images,
no code. Layout, fitting and metric in tasks.datasets.pairs and docs/data.md.

There is no embedded source: a trial needs the folder. With a val/ folder, a seed draws its n
training pairs from train/ and its n_val validation pairs from val/; without one, both come
from train/, drawn without replacement, so a seed's validation pairs are held out of its
training pairs."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.datasets.pairs import DEFAULT_METRICS, PairsFolder, folder_metrics
from tasks.registry import Pair, Task

NO_SOURCE = "task 'pairs' has no embedded source; give it a folder: --data pairs=PATH"


class Pairs(Task):
    name = "pairs"
    metrics = DEFAULT_METRICS  # unless the folder's task.json names others (metrics_for)
    datasets = ("pairs",)
    embedded = False

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        raise ValueError(NO_SOURCE)

    def make_real_pair(self, data: PairsFolder, index: int, size: tuple[int, int]) -> Pair:
        x, y = data.sample(index, size)
        return Pair(x=x, y=y)

    def real_pool(self, data: PairsFolder) -> int:
        return len(data.train)

    def metrics_for(self, dataset: str | None, root: str | None) -> tuple[str, ...]:
        return self.metrics if root is None else folder_metrics(root)

    def check_n(self, n: int, n_val: int, data: Any = None) -> int:
        """Besides the ranges every task checks: train/ holds n pairs (and n_val more without
        val/), val/ holds n_val."""
        bound = super().check_n(n, n_val)  # the ranges
        if data is None:
            return bound
        train = len(data.train)
        where = f"{str(data.root / 'train')!r} holds {train} pair{'s' * (train != 1)}"
        if data.val is None and train < n + n_val:
            raise ValueError(
                f"bad n {n} for task 'pairs': {where} and, with no val/, n + n_val = "
                f"{n + n_val} are needed (n_val held out for validation); allowed: "
                f"n + n_val ≤ {train}, or a val/ folder"
            )
        if data.val is not None and train < n:
            raise ValueError(f"bad n {n} for task 'pairs': {where}; allowed: n ≤ {train}")
        if data.val is not None and len(data.val) < n_val:
            count = len(data.val)
            raise ValueError(
                f"bad n_val {n_val} for task 'pairs': {str(data.root / 'val')!r} holds {count} "
                f"pair{'s' * (count != 1)}; allowed: n_val ≤ {count}"
            )
        return train

    def draw(
        self, pool: int, n: int, n_val: int, seed: int, data: Any
    ) -> tuple[list[int], list[int]]:
        if data is None or data.val is None:
            return super().draw(pool, n, n_val, seed, data)
        rng = np.random.default_rng(seed)
        train = rng.choice(len(data.train), size=n, replace=False)
        val = rng.choice(len(data.val), size=n_val, replace=False) + len(data.train)
        return [int(i) for i in train], [int(i) for i in val]
