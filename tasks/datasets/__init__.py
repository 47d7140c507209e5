"""Loaders of the real datasets the paper uses, each reading the dataset's own on-disk layout.

A missing or malformed dataset is one `DatasetError` naming the path and what was expected.
Loaders are imported by name on first use, so the embedded tasks never pay for h5py or
pycocotools.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

LOADERS = {
    "dreambooth": "tasks.datasets.dreambooth:DreamBooth",
    "coco": "tasks.datasets.coco:Coco",
    "tinyimagenet": "tasks.datasets.tinyimagenet:TinyImageNet",
    "nyuv2": "tasks.datasets.nyuv2:NYUv2",
    "ade20k": "tasks.datasets.ade20k:ADE20K",
    "hypersim": "tasks.datasets.hypersim:Hypersim",
    "pairs": "tasks.datasets.pairs:PairsFolder",
}
#: Sources small enough to open (and check) in a sweep's dry run too: a few-shot folder.
CHEAP_TO_OPEN = frozenset({"pairs"})


class DatasetError(ValueError):
    """The dataset at a path is missing or not laid out as expected."""


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{str(path)!r} does not exist; expected {what}")
    return path


def open_dataset(name: str, root: str | Path, **options: Any) -> Any:
    """The loader `name` (a key of LOADERS) opened on `root`."""
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(LOADERS)}")
    module, _, attribute = LOADERS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)(root, **options)


def crop_box(source_hw: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, width, height) in whole pixels of the centred crop of a source of
    `source_hw` that has the aspect of `size` = (height, width). Keypoints follow their image
    through it exactly (tasks.pose.crop_keypoints)."""
    rows, cols = source_hw
    height, width = size
    scale = min(cols / width, rows / height)
    crop_w, crop_h = round(width * scale), round(height * scale)
    return (cols - crop_w) // 2, (rows - crop_h) // 2, crop_w, crop_h


def fit(array: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Centre-crop `array` to the aspect of `size` = (height, width), then resize to it.

    Takes H×W×3 or H×W uint8 (images, class labels) and H×W floats (depth, returned as float32);
    `nearest` keeps the values of labels and depth (and depth's NaNs) instead of interpolating.
    """
    left, top, crop_w, crop_h = crop_box(array.shape[:2], size)
    cropped = np.ascontiguousarray(array[top : top + crop_h, left : left + crop_w])
    if array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)):
        image = Image.fromarray(cropped)
    elif array.dtype.kind == "f" and array.ndim == 2:
        image = Image.fromarray(cropped.astype(np.float32))  # PIL mode "F"
    else:
        raise ValueError(
            f"fit takes H×W×3 or H×W uint8 or H×W float; got {array.dtype} {array.shape}"
        )
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BICUBIC
    return np.array(image.resize((size[1], size[0]), resample))
