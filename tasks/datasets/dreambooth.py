"""DreamBooth (Ruiz et al., 2022): a folder of subject folders, each holding a few photos; the
paper's geometric, style, restoration and jigsaw tasks draw their images from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tasks.datasets import DatasetError, fit, require

EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}


class DreamBooth:
    def __init__(self, root: str | Path) -> None:
        self.root = require(Path(root), "the DreamBooth dataset folder (one folder per subject)")
        self.files = sorted(
            path
            for subject in sorted(p for p in self.root.iterdir() if p.is_dir())
            for path in subject.iterdir()
            if path.suffix.lower() in EXTENSIONS
        )
        if not self.files:
            raise DatasetError(
                f"{str(self.root)!r} has no images in subject folders; expected "
                f"<subject>/<image>{{{','.join(sorted(EXTENSIONS))}}}"
            )

    def __len__(self) -> int:
        return len(self.files)

    def subject(self, index: int) -> str:
        return self.files[index % len(self.files)].parent.name

    def image(self, index: int, size: tuple[int, int]) -> np.ndarray:
        """The index-th photo, center-cropped to the aspect of `size` and resized: H×W×3 uint8."""
        with Image.open(self.files[index % len(self.files)]) as opened:
            return fit(np.asarray(opened.convert("RGB")), size)
