"""The family of tasks whose target is a function of one photograph: geometric transforms, style,
restoration and jigsaw (SPEC §1). A task of the family writes only its `transform`; the source,
embedded photographs or DreamBooth, is the family's."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
from PIL import Image

from tasks.registry import Pair, Task
from tasks.sources import natural_image


class ImageTask(Task):
    metrics = ("psnr", "ssim")
    datasets = ("dreambooth",)

    def source_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """The photo size the transform starts from; larger than `size` when the transform
        would otherwise pull empty corners into view (rotations, shear)."""
        return size

    @abc.abstractmethod
    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        """The pair made from `image` (of `source_size(size)`); `index` seeds any randomness."""

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        return self.transform(natural_image(index, self.source_size(size)), index, size)

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        return self.transform(data.image(index, self.source_size(size)), index, size)


def center_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = size
    top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
    return np.ascontiguousarray(image[top : top + height, left : left + width])


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((size[1], size[0]), Image.Resampling.BICUBIC))
