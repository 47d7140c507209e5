"""COCO 2017 through pycocotools: binary masks of one category (instances_*.json) and person
keypoints (person_keypoints_*.json) for the segmentation and pose tasks."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.datasets import DatasetError, require


class Coco:
    """`root` holds `annotations/` and the image folders (`train2017/`, `val2017/`)."""

    def __init__(self, root: str | Path, split: str = "val2017", kind: str = "instances") -> None:
        from pycocotools.coco import COCO

        self.root = require(Path(root), "a COCO 2017 folder with annotations/ and images")
        self.images = require(self.root / split, f"the {split}/ image folder of COCO 2017")
        annotations = require(
            self.root / "annotations" / f"{kind}_{split}.json",
            f"COCO's annotations/{kind}_{split}.json",
        )
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
                self.coco = COCO(str(annotations))
        except (ValueError, KeyError, TypeError) as error:
            raise DatasetError(
                f"{str(annotations)!r} is not COCO annotation JSON: {error}"
            ) from None

    def _image(self, image_id: int) -> np.ndarray:
        info = self.coco.loadImgs(image_id)[0]
        path = require(self.images / info["file_name"], "the image its annotation names")
        with Image.open(path) as opened:
            return np.asarray(opened.convert("RGB"))

    def category_ids(self, name: str) -> int:
        found = self.coco.getCatIds(catNms=[name])
        if not found:
            names = sorted(c["name"] for c in self.coco.loadCats(self.coco.getCatIds()))
            raise DatasetError(f"no COCO category {name!r}; the file has: {', '.join(names)}")
        return found[0]

    def category_masks(self, name: str) -> list[int]:
        """Ids of the images that show `name`, in a stable order."""
        return sorted(self.coco.getImgIds(catIds=[self.category_ids(name)]))

    def mask(self, image_id: int, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The image and the union of its `name` instance masks (bool H×W)."""
        image = self._image(image_id)
        category = self.category_ids(name)
        mask = np.zeros(image.shape[:2], bool)
        for annotation in self.coco.loadAnns(
            self.coco.getAnnIds(imgIds=[image_id], catIds=[category], iscrowd=None)
        ):
            mask |= self.coco.annToMask(annotation).astype(bool)
        return image, mask

    def people(self) -> list[int]:
        """Ids of the images with at least one person with annotated keypoints."""
        person = self.category_ids("person")
        ids = self.coco.getImgIds(catIds=[person])
        return sorted(
            i
            for i in ids
            if any(
                a.get("num_keypoints", 0) > 0
                for a in self.coco.loadAnns(self.coco.getAnnIds(imgIds=[i]))
            )
        )

    def keypoints(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The image and its people's keypoints: (people, 17, 3) as COCO's [x, y, visibility]."""
        image = self._image(image_id)
        annotations = self.coco.loadAnns(
            self.coco.getAnnIds(imgIds=[image_id], catIds=[self.category_ids("person")])
        )
        points = [
            np.asarray(a["keypoints"], np.float32).reshape(17, 3)
            for a in annotations
            if a.get("num_keypoints", 0) > 0
        ]
        return image, np.stack(points) if points else np.zeros((0, 17, 3), np.float32)
