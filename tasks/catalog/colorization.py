"""Colorization (§4.2 restoration): recover the colour photograph from its luma.

The input keeps three equal channels because the backbones take RGB frames; the luma uses
ITU-R BT.601 weights, the usual definition of "grayscale" (PIL's "L" mode uses the same)."""

from __future__ import annotations

import numpy as np

from tasks.image_tasks import ImageTask
from tasks.registry import Pair

BT601 = np.array([0.299, 0.587, 0.114])


def grayscale(image: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 → H×W×3 uint8 with three equal BT.601 luma channels."""
    luma = np.clip(np.rint(image.astype(np.float64) @ BT601), 0, 255).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


class Colorization(ImageTask):
    name = "colorization"

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        return Pair(x=grayscale(image), y=image)
