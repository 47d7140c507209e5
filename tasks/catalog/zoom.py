"""Zoom (§4.1 geometric tasks): the target is the central half of the input (both sides),
enlarged back to full size: a 2× zoom on the centre."""

from __future__ import annotations

import numpy as np

from tasks.image_tasks import ImageTask, center_crop, resize
from tasks.registry import Pair

FACTOR = 2


class Zoom(ImageTask):
    name = "zoom"

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        centre = center_crop(image, (size[0] // FACTOR, size[1] // FACTOR))
        return Pair(x=image, y=resize(centre, size))
