"""Grid classification (§4.2, §B.2): a 4×4 grid of 16 images from seven classes in, the grid of
their class symbols out; scored by accuracy over all cells, plus the 7×7 confusion matrix.

Images of a class for training grids and for validation grids come from disjoint parts of the
class (the paper: 80 and 20 of 100 TinyImageNet images a class). Embedded: the classes are seven
of the bundled photographs (every image of a class a different crop of it). Real: TinyImageNet
with the paper's seven classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tasks.grid import CLASSES, GRID, compose, decode, symbol_grid
from tasks.metrics import confusion
from tasks.registry import Pair, Split, Task
from tasks.sources import is_validation, photo_crop, validation_index

EMBEDDED_CLASSES = (
    "astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry",
    "motorcycle",
)  # fmt: skip
PER_CLASS = 100
TRAIN_PER_CLASS = 80


def class_names(dataset: str | None) -> list[str]:
    """The names of classes 0..6 as the source `dataset` (None: embedded) calls them."""
    if dataset == "tinyimagenet":
        from tasks.datasets.tinyimagenet import PAPER_CLASSES

        return list(PAPER_CLASSES)
    return list(EMBEDDED_CLASSES)


def embedded_image(label: int, number: int, size: tuple[int, int]) -> np.ndarray:
    """The `number`-th image of embedded class `label`: a crop of that class's photograph (a
    class is a photograph, so its validation images are other crops of the same photograph:
    grid classification is the one embedded task whose validation images do not come from
    the held-out photographs)."""
    return photo_crop(EMBEDDED_CLASSES[label], number, size)


class GridClassification(Task):
    name = "grid_classification"
    metrics = ("accuracy",)
    datasets = ("tinyimagenet",)

    def _grid(
        self, index: int, size: tuple[int, int], image: Callable[[int, int, bool], np.ndarray]
    ) -> Pair:
        validation = is_validation(index)
        rng = np.random.default_rng((index, 9))
        labels = rng.integers(0, CLASSES, GRID * GRID)
        tiles = [image(int(k), int(rng.integers(1 << 30)), validation) for k in labels]
        return Pair(
            x=compose(tiles, size), y=symbol_grid(list(labels), size), info={"labels": labels}
        )

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        cell = (max(1, size[0] // GRID), max(1, size[1] // GRID))

        def image(label: int, draw: int, validation: bool) -> np.ndarray:
            part = PER_CLASS - TRAIN_PER_CLASS if validation else TRAIN_PER_CLASS
            offset = TRAIN_PER_CLASS if validation else 0
            return embedded_image(label, offset + draw % part, cell)

        return self._grid(index, size, image)

    def real_pool(self, data: Any) -> int:
        return 1_000  # grids are drawn, not stored: any index makes a new one

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        names = data.class_names

        def image(label: int, draw: int, validation: bool) -> np.ndarray:
            pool = data.images(names[label], "val" if validation else "train")
            return pool[draw % len(pool)]

        return self._grid(index, size, image)

    def make_split(self, make: Callable[[int], Pair], train: list[int], val: list[int]) -> Split:
        return Split(train=[make(i) for i in train], val=[make(validation_index(i)) for i in val])

    def score(
        self,
        predictions: list[np.ndarray],
        pairs: list[Pair],
        metrics: tuple[str, ...] | None = None,
    ) -> dict[str, float]:
        """Accuracy over all cells of all grids, and the confusion matrix as one metric per cell
        (`confusion_<true>_<decoded>`, counts) so the report can rebuild it from MLflow."""
        scores = super().score(predictions, pairs, metrics)
        matrix = sum(
            confusion(decode(p), pair.info["labels"], CLASSES)
            for p, pair in zip(predictions, pairs, strict=True)
        )
        for true in range(CLASSES):
            for decoded in range(CLASSES):
                scores[f"confusion_{true}_{decoded}"] = float(matrix[true, decoded])
        return scores
