"""A folder of images that `orchestrator.predict` reads: inputs, or targets of the same names.

An image is a file with an image extension (other files are left alone); its name is its stem.
Every one is checked readable before any model loads, so a bad file is one line, not a
traceback after minutes of sampling. Each is fitted to the trial's resolution as the task data
is (`tasks.datasets.fit`: centre-cropped to the aspect, then resized).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tasks.datasets import fit

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def list_images(folder: Path, flag: str) -> dict[str, Path]:
    """NAME → file of each image of `folder`, sorted by name, each checked readable."""
    if not folder.is_dir():
        raise ValueError(f"{flag} {str(folder)!r}: no such folder")
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix.lower() in EXTENSIONS and not p.name.startswith(".") and p.is_file()
    )
    if not files:
        raise ValueError(
            f"{flag} {str(folder)!r}: no images; expected files ending in {', '.join(EXTENSIONS)}"
        )
    images: dict[str, Path] = {}
    for file in files:
        if file.stem in images:
            raise ValueError(
                f"{flag} {str(folder)!r}: {images[file.stem].name} and {file.name} share the name "
                f"{file.stem!r}; one image per name"
            )
        check_readable(file, flag)
        images[file.stem] = file
    return images


def check_readable(path: Path, flag: str) -> None:
    if path.stat().st_size == 0:
        raise ValueError(f"{flag}: {str(path)!r} is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{flag}: unreadable image {str(path)!r}: {error}") from None


def targets_for(names: list[str], folder: Path) -> dict[str, Path]:
    """The target of each input name in `folder` (same name, any image extension)."""
    targets = list_images(folder, "--targets")
    missing = [name for name in names if name not in targets]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ValueError(
            f"--targets {str(folder)!r}: no target for {missing[0]!r}{more}; expected "
            f"{missing[0]}.png (or another image extension) for each input"
        )
    return {name: targets[name] for name in names}


def read_fitted(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The image as H×W×3 uint8 at `size` = (height, width)."""
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"unreadable image {str(path)!r}: {error}") from None
    return fit(array, size)
