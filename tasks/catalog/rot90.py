"""Rotation by 90° counter-clockwise (§4.1 geometric tasks)."""

from __future__ import annotations

from tasks.catalog._rotation import AffineTask, rotation


class Rot90(AffineTask):
    name = "rot90"

    def inverse(self) -> tuple[float, float, float, float]:
        return rotation(90)
