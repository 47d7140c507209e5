"""Rotation by 45° counter-clockwise (§4.1 geometric tasks)."""

from __future__ import annotations

from tasks.catalog._rotation import AffineTask, rotation


class Rot45(AffineTask):
    name = "rot45"

    def inverse(self) -> tuple[float, float, float, float]:
        return rotation(45)
