"""Binary segmentation (§4.4 dense prediction): paint the object category white on black.

Scenes are generated (tasks.sources.shape_scene), so the ground-truth mask is exact rather
than an annotator's approximation; the category is "shape", all shapes in the scene."""

from __future__ import annotations

import numpy as np

from tasks.registry import Pair, Task
from tasks.sources import shape_scene


class BinarySegmentation(Task):
    name = "binary_segmentation"
    metrics = ("miou",)

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        x, mask = shape_scene(index, size)
        y = np.zeros_like(x)
        y[mask] = 255
        return Pair(x=x, y=y)
