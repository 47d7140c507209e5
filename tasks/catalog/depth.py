"""Monocular depth (§4.3): depth rendered as gray, near = bright; scored by AbsRel and δ<1.25
after a least-squares scale and shift, so only relative depth is asked of an RGB output.

Embedded: generated scenes with exact depth (tasks.scenes). Real: NYUv2's labelled set or
ML-Hypersim."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.registry import Pair, Task
from tasks.scenes import depth_image, depth_scene


def depth_pair(image: np.ndarray, depth: np.ndarray) -> Pair:
    return Pair(x=image, y=depth_image(depth), info={"depth": depth.astype(np.float32)})


class Depth(Task):
    name = "depth"
    metrics = ("delta1", "abs_rel")
    datasets = ("nyuv2", "hypersim")

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        return depth_pair(*depth_scene(index, size))

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        return depth_pair(*data.sample(index, size))
