"""Binary segmentation (§4.4 dense prediction): paint the object category white on black.

Embedded scenes are generated (tasks.sources.shape_scene), so the ground-truth mask is exact;
the category is "shape", all shapes in the scene. The real source is COCO 2017 instance masks
of one category (the paper's examples segment dogs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.datasets import fit
from tasks.registry import Pair, Task
from tasks.sources import shape_scene

CATEGORY = "dog"


def mask_target(mask: np.ndarray) -> np.ndarray:
    return np.repeat(np.where(mask, 255, 0).astype(np.uint8)[..., None], 3, axis=-1)


class BinarySegmentation(Task):
    name = "binary_segmentation"
    metrics = ("miou",)
    datasets = ("coco",)

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        x, mask = shape_scene(index, size)
        return Pair(x=x, y=mask_target(mask))

    def real_pool(self, data: Any) -> int:
        return len(data.category_masks(CATEGORY))

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        image, mask = data.mask(data.category_masks(CATEGORY)[index], CATEGORY)
        resized = fit(mask.astype(np.uint8) * 255, size, nearest=True) > 127
        return Pair(x=fit(image, size), y=mask_target(resized))
