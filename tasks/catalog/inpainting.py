"""Inpainting (§4.2 restoration): a rectangle of the photo is flat gray in the input; the target
is the whole photo. Scored inside the hole (what had to be invented) and over the image."""

from __future__ import annotations

import numpy as np

from tasks.image_tasks import ImageTask
from tasks.registry import Pair

GRAY = 128
SIDE = (0.25, 0.5)  # the hole's sides, as fractions of the image's


class Inpainting(ImageTask):
    name = "inpainting"
    metrics = ("psnr_masked", "ssim_masked", "psnr", "ssim")

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        rng = np.random.default_rng((index, 3))
        height, width = size
        hole_h = max(1, round(rng.uniform(*SIDE) * height))
        hole_w = max(1, round(rng.uniform(*SIDE) * width))
        top = int(rng.integers(0, height - hole_h + 1))
        left = int(rng.integers(0, width - hole_w + 1))
        mask = np.zeros(size, bool)
        mask[top : top + hole_h, left : left + hole_w] = True
        x = image.copy()
        x[mask] = GRAY
        return Pair(x=x, y=image, info={"mask": mask})
