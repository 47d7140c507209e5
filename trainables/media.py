"""Files a person looks at: the sampled video (mp4) and an input | target | prediction strip."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import imageio.v2 as imageio
import numpy as np


def write_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Write through a temporary file in the same folder, then rename: readers never see half a
    file, and a failure leaves whatever was there before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_video(path: Path, frames: np.ndarray, fps: int = 8) -> Path:
    """H.264 mp4 through imageio's ffmpeg plugin; frames F×H×W×3 uint8."""

    def write(tmp: Path) -> None:
        imageio.mimwrite(tmp, list(frames), format="FFMPEG", fps=fps, macro_block_size=1)

    return write_atomically(path, write)


def strip(*images: np.ndarray, gap: int = 2) -> np.ndarray:
    """Images side by side with a white gap, for an at-a-glance comparison."""
    height = max(image.shape[0] for image in images)
    parts: list[np.ndarray] = []
    for image in images:
        padded = np.full((height, image.shape[1], 3), 255, np.uint8)
        padded[: image.shape[0]] = image
        parts += [padded, np.full((height, gap, 3), 255, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def write_png(path: Path, image: np.ndarray) -> Path:
    return write_atomically(path, lambda tmp: imageio.imwrite(tmp, image, format="PNG"))
