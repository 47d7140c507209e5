"""Segmentation → image (§4.4): render a plausible scene from an ADE20K-palette label map;
scored by PSNR and SSIM against the real image (a one-shot task of global style, Figure 7).

Embedded: generated outdoor scenes (tasks.scenes). Real: ADE20K, optionally one scene
category (the paper trains per environment: chamber, coast, badlands)."""

from __future__ import annotations

from typing import Any

import numpy as np

from tasks.datasets.ade20k import colorize
from tasks.registry import Pair, Task
from tasks.scenes import labelled_scene


def rendering_pair(image: np.ndarray, labels: np.ndarray) -> Pair:
    return Pair(x=colorize(labels), y=image)


class SegmentationToImage(Task):
    name = "segmentation_to_image"
    metrics = ("psnr", "ssim")
    datasets = ("ade20k",)

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        return rendering_pair(*labelled_scene(index, size))

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        return rendering_pair(*data.sample(index, size))
