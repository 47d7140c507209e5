"""ADE20K as released for the MIT Scene Parsing Benchmark (ADEChallengeData2016): images with
150-class label maps, the ground truth of the paper's semantic-segmentation task."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.datasets import DatasetError, fit, require

# Row 0 black for "other" (label 0); rows 1..150 the standard ADE20K 150-class colours, as in
# mmsegmentation's ADE20KDataset and CSAIL semantic-segmentation-pytorch's color150.
PALETTE: np.ndarray = np.array(
    [[0, 0, 0],
     [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50],
     [4, 200, 3], [120, 120, 80], [140, 140, 140], [204, 5, 255],
     [230, 230, 230], [4, 250, 7], [224, 5, 255], [235, 255, 7],
     [150, 5, 61], [120, 120, 70], [8, 255, 51], [255, 6, 82],
     [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3],
     [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255],
     [255, 7, 71], [255, 9, 224], [9, 7, 230], [220, 220, 220],
     [255, 9, 92], [112, 9, 255], [8, 255, 214], [7, 255, 224],
     [255, 184, 6], [10, 255, 71], [255, 41, 10], [7, 255, 255],
     [224, 255, 8], [102, 8, 255], [255, 61, 6], [255, 194, 7],
     [255, 122, 8], [0, 255, 20], [255, 8, 41], [255, 5, 153],
     [6, 51, 255], [235, 12, 255], [160, 150, 20], [0, 163, 255],
     [140, 140, 140], [250, 10, 15], [20, 255, 0], [31, 255, 0],
     [255, 31, 0], [255, 224, 0], [153, 255, 0], [0, 0, 255],
     [255, 71, 0], [0, 235, 255], [0, 173, 255], [31, 0, 255],
     [11, 200, 200], [255, 82, 0], [0, 255, 245], [0, 61, 255],
     [0, 255, 112], [0, 255, 133], [255, 0, 0], [255, 163, 0],
     [255, 102, 0], [194, 255, 0], [0, 143, 255], [51, 255, 0],
     [0, 82, 255], [0, 255, 41], [0, 255, 173], [10, 0, 255],
     [173, 255, 0], [0, 255, 153], [255, 92, 0], [255, 0, 255],
     [255, 0, 245], [255, 0, 102], [255, 173, 0], [255, 0, 20],
     [255, 184, 184], [0, 31, 255], [0, 255, 61], [0, 71, 255],
     [255, 0, 204], [0, 255, 194], [0, 255, 82], [0, 10, 255],
     [0, 112, 255], [51, 0, 255], [0, 194, 255], [0, 122, 255],
     [0, 255, 163], [255, 153, 0], [0, 255, 10], [255, 112, 0],
     [143, 255, 0], [82, 0, 255], [163, 255, 0], [255, 235, 0],
     [8, 184, 170], [133, 0, 255], [0, 255, 92], [184, 0, 255],
     [255, 0, 31], [0, 184, 255], [0, 214, 255], [255, 0, 112],
     [92, 255, 0], [0, 224, 255], [112, 224, 255], [70, 184, 160],
     [163, 0, 255], [153, 0, 255], [71, 255, 0], [255, 0, 163],
     [255, 204, 0], [255, 0, 143], [0, 255, 235], [133, 255, 0],
     [255, 0, 235], [245, 0, 255], [255, 0, 122], [255, 245, 0],
     [10, 190, 212], [214, 255, 0], [0, 204, 255], [20, 0, 255],
     [255, 255, 0], [0, 153, 255], [0, 41, 255], [0, 255, 204],
     [41, 0, 255], [41, 255, 0], [173, 0, 255], [0, 245, 255],
     [71, 0, 255], [122, 0, 255], [0, 255, 184], [0, 92, 255],
     [184, 255, 0], [0, 133, 255], [255, 214, 0], [25, 194, 194],
     [102, 255, 0], [92, 0, 255]],
    np.uint8,
)  # fmt: skip
PALETTE.setflags(write=False)

SPLITS = {"training": "train", "validation": "val"}


def colorize(labels: np.ndarray) -> np.ndarray:
    """An H×W label map (0 = other, 1..150 the classes) as an H×W×3 uint8 image via PALETTE."""
    if labels.size and int(labels.max()) >= len(PALETTE):
        raise ValueError(f"label {int(labels.max())} is past ADE20K's {len(PALETTE) - 1} classes")
    return PALETTE[labels]


class ADE20K:
    """`root` is the ADEChallengeData2016 folder: images/<split>/*.jpg, each with the label map
    annotations/<split>/<same stem>.png, and sceneCategories.txt naming each image's scene."""

    def __init__(self, root: str | Path, split: str = "training", scene: str | None = None) -> None:
        self.root = require(Path(root), "the ADEChallengeData2016 folder")
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
        images = require(self.root / "images" / split, f"ADE20K's images/{split}/ folder")
        annotations = require(
            self.root / "annotations" / split, f"ADE20K's annotations/{split}/ folder"
        )
        self.images = sorted(images.glob("*.jpg"))
        if not self.images:
            raise DatasetError(
                f"{str(images)!r} has no images; expected ADE_{SPLITS[split]}_<8 digits>.jpg"
            )
        self.annotations = [annotations / f"{path.stem}.png" for path in self.images]
        for image, annotation in zip(self.images, self.annotations, strict=True):
            if not annotation.is_file():
                raise DatasetError(
                    f"{str(image)!r} has no annotation; expected {str(annotation)!r}"
                )
        if scene is not None:
            self._keep(scene)

    def _keep(self, scene: str) -> None:
        categories = require(
            self.root / "sceneCategories.txt",
            "ADE20K's sceneCategories.txt (image stem and scene a line) to filter by scene",
        )
        scenes = dict(
            line.split(maxsplit=1) for line in categories.read_text().splitlines() if line.strip()
        )
        found = Counter(scenes.get(path.stem, "").strip() for path in self.images)
        keep = [
            i for i, path in enumerate(self.images) if scenes.get(path.stem, "").strip() == scene
        ]
        if not keep:
            common = [name for name, _ in found.most_common() if name][:8]
            raise DatasetError(
                f"no image in {str(self.images[0].parent)!r} has scene {scene!r} in "
                f"{str(categories)!r}; scenes there include: {', '.join(common) or 'none'}"
            )
        self.images = [self.images[i] for i in keep]
        self.annotations = [self.annotations[i] for i in keep]

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The index-th image (H×W×3 uint8) and its labels (H×W uint8, 0 = other, 1..150),
        center-cropped to the aspect of `size` and resized (the labels nearest-neighbour)."""
        with Image.open(self.images[index]) as opened:
            image = np.asarray(opened.convert("RGB"))
        with Image.open(self.annotations[index]) as opened:
            if opened.mode not in ("L", "P"):
                raise DatasetError(
                    f"{str(self.annotations[index])!r} is a {opened.mode} image; expected a "
                    "single-channel uint8 class-index PNG"
                )
            labels = np.asarray(opened)
        if labels.shape != image.shape[:2]:
            raise DatasetError(
                f"{str(self.annotations[index])!r} is {labels.shape}, its image "
                f"{image.shape[:2]}; expected the same size"
            )
        return fit(image, size), fit(labels, size, nearest=True)
