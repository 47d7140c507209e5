"""Horizontal shear (§4.1 geometric tasks): rows slide sideways in proportion to their height
above the centre, by SHEAR pixels per row."""

from __future__ import annotations

from tasks.catalog._rotation import AffineTask

SHEAR = 0.3


class Shear(AffineTask):
    name = "shear"

    def inverse(self) -> tuple[float, float, float, float]:
        return 1.0, SHEAR, 0.0, 1.0
