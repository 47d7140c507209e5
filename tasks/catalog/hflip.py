"""Horizontal flip (§4.1 geometric tasks): the target is the input mirrored left to right."""

from __future__ import annotations

import numpy as np

from tasks.registry import Pair, Task
from tasks.sources import natural_image


class HFlip(Task):
    name = "hflip"
    metrics = ("psnr", "ssim")

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        x = natural_image(index, size)
        return Pair(x=x, y=np.ascontiguousarray(x[:, ::-1]))
