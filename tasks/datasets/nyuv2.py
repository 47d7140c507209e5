"""NYU Depth v2, labelled subset (Silberman et al., 2012): 1449 aligned RGB and depth frames of
indoor scenes in one MATLAB v7.3 file, the ground truth of the paper's depth-estimation task.

"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasks.datasets import DatasetError, fit, require

if TYPE_CHECKING:
    import h5py

FILE = "nyu_depth_v2_labeled.mat"
EXPECTED = "a MATLAB v7.3 .mat with 'images' and 'depths'"


class NYUv2:
    """`path` is `nyu_depth_v2_labeled.mat` or the folder holding it.

    h5py sees MATLAB's column-major arrays with their axes reversed: `images` as (N, 3, W, H)
    and `depths` as (N, W, H); `sample` transposes them back to H×W×3 and H×W. The file is
    opened on first use and kept open, so only the frames asked for are read.
    """

    def __init__(self, path: str | Path) -> None:
        import h5py  # here, so listing loaders does not load h5py

        path = require(Path(path), f"{FILE} ({EXPECTED}) or the folder holding it")
        if path.is_dir():
            path = require(path / FILE, EXPECTED)
        self.path = path
        if not h5py.is_hdf5(path):
            raise DatasetError(f"{str(path)!r} is not HDF5; expected {EXPECTED}")
        with h5py.File(path, "r") as file:
            images, depths = file.get("images"), file.get("depths")
            if not isinstance(images, h5py.Dataset) or not isinstance(depths, h5py.Dataset):
                raise DatasetError(f"{str(path)!r} lacks 'images' or 'depths'; expected {EXPECTED}")
            if (
                images.ndim != 4
                or images.shape[1] != 3
                or depths.shape != (images.shape[0], *images.shape[2:])
            ):
                raise DatasetError(
                    f"{str(path)!r} has 'images' {images.shape} and 'depths' {depths.shape}; "
                    f"expected {EXPECTED} shaped (N, 3, W, H) and (N, W, H)"
                )
            self.count = images.shape[0]
        self._file: h5py.File | None = None

    def __len__(self) -> int:
        return self.count

    def __getstate__(self) -> dict[str, Any]:  # an open HDF5 handle does not pickle
        return {**self.__dict__, "_file": None}

    def _open(self) -> h5py.File:
        if self._file is None:
            import h5py

            self._file = h5py.File(self.path, "r")
        return self._file

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def sample(
        self, index: int, size: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The index-th frame: image H×W×3 uint8 and depth H×W float32 in meters, fitted to
        `size` = (height, width) when given (depth by nearest neighbour)."""
        if not -self.count <= index < self.count:
            raise IndexError(f"NYUv2 index {index} out of range for {self.count} frames")
        index %= self.count
        file = self._open()
        image = np.ascontiguousarray(file["images"][index].transpose(2, 1, 0), dtype=np.uint8)
        depth = np.ascontiguousarray(file["depths"][index].T, dtype=np.float32)
        if size is None:
            return image, depth
        return fit(image, size), fit(depth, size, nearest=True)
