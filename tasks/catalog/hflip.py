"""Horizontal flip (§4.1 geometric tasks): the target is the input mirrored left to right."""

from __future__ import annotations

import numpy as np

from tasks.image_tasks import ImageTask
from tasks.registry import Pair


class HFlip(ImageTask):
    name = "hflip"

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        return Pair(x=image, y=np.ascontiguousarray(image[:, ::-1]))
