"""Rotations and shear share one recipe: transform a photo larger than the frame, then cut the
frame out of the middle of both, so neither image shows the empty corners of the transform."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from tasks.image_tasks import ImageTask, center_crop
from tasks.registry import Pair


class AffineTask(ImageTask):
    """A fixed affine map of the plane about the image centre, given as PIL's inverse matrix."""

    def inverse(self) -> tuple[float, float, float, float]:
        """(a, b, d, e): output (x, y) about the centre samples input (a·x + b·y, d·x + e·y)."""
        raise NotImplementedError

    def source_size(self, size: tuple[int, int]) -> tuple[int, int]:
        # A square that holds the frame's preimage under the map: corners map at most
        # ‖inverse‖∞ × half-diagonal away from the centre.
        a, b, d, e = self.inverse()
        reach = max(abs(a) + abs(b), abs(d) + abs(e))
        side = math.ceil(reach * max(size)) + 2
        return side, side

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        a, b, d, e = self.inverse()
        side = image.shape[0]
        c = side / 2
        matrix = (a, b, c - a * c - b * c, d, e, c - d * c - e * c)
        moved = Image.fromarray(image).transform(
            (side, side), Image.Transform.AFFINE, matrix, Image.Resampling.BICUBIC
        )
        return Pair(x=center_crop(image, size), y=center_crop(np.asarray(moved), size))


def rotation(degrees: float) -> tuple[float, float, float, float]:
    """Inverse of a counter-clockwise rotation on screen (y points down)."""
    t = math.radians(degrees)
    return math.cos(t), -math.sin(t), math.sin(t), math.cos(t)
