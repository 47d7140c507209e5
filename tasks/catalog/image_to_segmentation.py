"""Image → segmentation (§4.4): paint each pixel in its class's ADE20K palette colour; scored by
mIoU after decoding the prediction to the nearest palette colour.

Embedded: generated outdoor scenes with exact labels (tasks.scenes). Real: ADE20K."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.datasets.ade20k import PALETTE, colorize
from tasks.registry import Pair, Task
from tasks.scenes import labelled_scene


def segmentation_pair(image: np.ndarray, labels: np.ndarray) -> Pair:
    return Pair(x=image, y=colorize(labels), info={"labels": labels, "palette": PALETTE})


class ImageToSegmentation(Task):
    name = "image_to_segmentation"
    metrics = ("palette_miou",)
    datasets = ("ade20k",)

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        return segmentation_pair(*labelled_scene(index, size))

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        return segmentation_pair(*data.sample(index, size))
