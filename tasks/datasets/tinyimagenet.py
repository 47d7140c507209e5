"""Tiny ImageNet (200 classes of 64×64 images): the paper's class-conditional grids use seven of
its classes, 100 images each, 80 per class for training grids and 20 for validation grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tasks.datasets import DatasetError, require

# The paper's class names and the Tiny ImageNet wnids that stand for them.
PAPER_CLASSES: dict[str, str] = {
    "bridge": "n04366367",  # suspension bridge
    "car": "n04285008",  # sports car
    "cat": "n02123045",  # tabby
    "coffee": "n03063599",  # coffee mug
    "dog": "n02099601",  # golden retriever
    "goldfish": "n01443537",
    "teddy bear": "n04399382",
}

SPLITS = ("train", "val")


class TinyImageNet:
    """`root` is the `tiny-imagenet-200` folder.

    Each class takes the first `per_class` images of train/<wnid>/images in sorted filename
    order, topped up from the val split (val/val_annotations.txt) when train has too few; the
    first `train_fraction` of them are its "train" images, the rest its "val" images.
    """

    def __init__(
        self,
        root: str | Path,
        classes: dict[str, str] = PAPER_CLASSES,
        per_class: int = 100,
        train_fraction: float = 0.8,
    ) -> None:
        self.root = require(Path(root), "the tiny-imagenet-200 folder")
        wnids_file = require(self.root / "wnids.txt", "Tiny ImageNet's wnids.txt (one wnid a line)")
        wnids = set(wnids_file.read_text().split())
        for name, wnid in classes.items():
            if wnid not in wnids:
                raise DatasetError(
                    f"{str(wnids_file)!r} does not list {wnid!r} (class {name!r}); "
                    "expected every class's wnid in it"
                )
        self.classes = dict(classes)
        self.per_class = per_class
        self.cut = round(per_class * train_fraction)
        self._val: dict[str, list[Path]] | None = None
        self._phrases: dict[str, str] | None = None
        self._cache: dict[Path, np.ndarray] = {}
        self.files = {name: self._files(name, wnid) for name, wnid in classes.items()}

    def _val_files(self) -> dict[str, list[Path]]:
        if self._val is None:
            annotations = require(
                self.root / "val" / "val_annotations.txt",
                "Tiny ImageNet's val/val_annotations.txt (file, wnid, x0, y0, x1, y1 a line)",
            )
            self._val = {}
            for number, line in enumerate(annotations.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) < 2:
                    raise DatasetError(
                        f"{str(annotations)!r} line {number} is {line!r}; expected "
                        "tab-separated file, wnid, x0, y0, x1, y1"
                    )
                self._val.setdefault(fields[1], []).append(self.root / "val" / "images" / fields[0])
            for files in self._val.values():
                files.sort(key=lambda path: path.name)
        return self._val

    def _files(self, name: str, wnid: str) -> list[Path]:
        folder = self.root / "train" / wnid / "images"
        files = sorted(folder.glob("*.JPEG")) if folder.is_dir() else []
        files = files[: self.per_class]
        if len(files) < self.per_class:
            files += self._val_files().get(wnid, [])[: self.per_class - len(files)]
        if len(files) < self.per_class:
            raise DatasetError(
                f"class {name!r} ({wnid}) has {len(files)} images in {str(folder)!r} and the val "
                f"split of {str(self.root)!r}; expected {self.per_class}"
            )
        return files

    @property
    def class_names(self) -> list[str]:
        return list(self.classes)

    def phrase(self, wnid: str) -> str:
        """The words.txt phrase of `wnid`, e.g. "goldfish, Carassius auratus"."""
        words = require(self.root / "words.txt", "Tiny ImageNet's words.txt (wnid<TAB>phrase)")
        if self._phrases is None:
            self._phrases = dict(
                line.split("\t", 1) for line in words.read_text().splitlines() if "\t" in line
            )
        if wnid not in self._phrases:
            raise DatasetError(f"{str(words)!r} has no line for {wnid!r}; expected wnid<TAB>phrase")
        return self._phrases[wnid].strip()

    def _load(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            require(path, "a Tiny ImageNet JPEG")
            with Image.open(path) as opened:
                image = np.array(opened.convert("RGB"))  # some are grayscale
            image.setflags(write=False)  # shared by every call through the cache
            self._cache[path] = image
        return self._cache[path]

    def images(self, class_name: str, split: str) -> list[np.ndarray]:
        """The class's "train" (first 80 %) or "val" (the rest) images, each H×W×3 uint8."""
        if class_name not in self.files:
            raise ValueError(f"unknown class {class_name!r}; expected one of {self.class_names}")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        files = self.files[class_name]
        chosen = files[: self.cut] if split == "train" else files[self.cut :]
        return [self._load(path) for path in chosen]
