"""Pose estimation (§4.4 dense prediction): draw each person's body parts in the SPEC's colour
code (head white, torso blue, arms red, legs green) on black; scored by Match Rate.

Embedded: generated figures with exact keypoints (tasks.figures). Real: COCO 2017
person_keypoints, keypoints carried through the same crop and resize as the image."""

from __future__ import annotations

from typing import Any

from tasks.datasets import crop_box, fit
from tasks.figures import people_scene
from tasks.pose import crop_keypoints, render_pose
from tasks.registry import Pair, Task


class Pose(Task):
    name = "pose"
    metrics = ("match_rate",)
    datasets = ("coco",)
    dataset_options = {"coco": {"kind": "person_keypoints"}}

    def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
        image, keypoints = people_scene(index, size)
        return Pair(x=image, y=render_pose(keypoints, size), info={"keypoints": keypoints})

    def real_pool(self, data: Any) -> int:
        return len(data.people())

    def make_real_pair(self, data: Any, index: int, size: tuple[int, int]) -> Pair:
        image, keypoints = data.keypoints(data.people()[index])
        keypoints = crop_keypoints(keypoints, crop_box(image.shape[:2], size), size)
        return Pair(
            x=fit(image, size), y=render_pose(keypoints, size), info={"keypoints": keypoints}
        )
