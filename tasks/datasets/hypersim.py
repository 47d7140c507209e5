"""Hypersim (Roberts et al., 2021): photorealistic synthetic indoor scenes with exact per-pixel
depth, read in the layout Apple's ml-hypersim download scripts leave, for the depth task.

Hypersim's `depth_meters` is the distance from each point to the camera centre, not planar depth
along the optical axis. The depth task evaluates after a least-squares scale and shift, so we use
it as given rather than converting it.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from tasks.datasets import DatasetError, fit, require

LAYOUT = (
    "<scene>/images/scene_cam_<XX>_final_preview/frame.<NNNN>.tonemap.jpg with "
    "<scene>/images/scene_cam_<XX>_geometry_hdf5/frame.<NNNN>.depth_meters.hdf5"
)
PREVIEW = re.compile(r"scene_cam_(\w+)_final_preview")


class Hypersim:
    """`root` holds scene folders (ai_001_001, ...). Each tone-mapped preview frame is paired
    with the depth of the same scene, camera and frame; frames lacking either are skipped."""

    def __init__(self, root: str | Path) -> None:
        self.root = require(Path(root), f"a folder of Hypersim scenes laid out as {LAYOUT}")
        self.frames: list[tuple[Path, Path]] = []
        for image in sorted(self.root.glob("*/images/scene_cam_*_final_preview/*.tonemap.jpg")):
            camera = PREVIEW.fullmatch(image.parent.name)
            if camera is None:
                continue
            frame = image.name.removesuffix(".tonemap.jpg")
            depth = (
                image.parent.parent
                / f"scene_cam_{camera.group(1)}_geometry_hdf5"
                / f"{frame}.depth_meters.hdf5"
            )
            if depth.is_file():
                self.frames.append((image, depth))
        if not self.frames:
            raise DatasetError(
                f"{str(self.root)!r} has no frames with both image and depth; expected {LAYOUT}"
            )

    def __len__(self) -> int:
        return len(self.frames)

    def sample(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The index-th frame: image H×W×3 uint8 and depth H×W float32 in meters (NaN where
        invalid, kept), center-cropped to the aspect of `size` and resized (depth nearest)."""
        image_path, depth_path = self.frames[index]
        with Image.open(image_path) as opened:
            image = np.asarray(opened.convert("RGB"))
        try:
            with h5py.File(depth_path, "r") as file:
                dataset = file.get("dataset")
                if not isinstance(dataset, h5py.Dataset) or dataset.ndim != 2:
                    raise DatasetError(
                        f"{str(depth_path)!r} lacks a 2-D 'dataset'; expected Hypersim's H×W "
                        "depth_meters HDF5"
                    )
                depth = dataset[()].astype(np.float32)
        except OSError as error:
            raise DatasetError(
                f"{str(depth_path)!r} is not readable HDF5 ({error}); expected Hypersim's H×W "
                "depth_meters HDF5"
            ) from None
        if depth.shape != image.shape[:2]:
            raise DatasetError(
                f"{str(depth_path)!r} is {depth.shape}, its image {str(image_path)!r} "
                f"{image.shape[:2]}; expected the same size"
            )
        return fit(image, size), fit(depth, size, nearest=True)
