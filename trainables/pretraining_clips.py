"""Video-like clips for pretraining the micro backbone: camera motion over bundled
photographs, never a task's transformation.

A pretrained video prior is what lets a few examples specify a task. The micro backbone learns
one from clips a camera could film: a pan, a zoom, a small roll, a slow drift of brightness and
colour, and sprites moving across. None of the tasks' transformations can arise: every frame is
a rotation by at most `MAX_ROLL_DEG` and a zoom of the same photograph, never mirrored (the affine
map keeps orientation), never rotated by 90°, never turned grey, masked or segmented. The
photographs come from `PRETRAINING_SOURCES` only; `tasks.sources.HELD_OUT_SOURCES` are kept for
the tasks' validation pairs, so a pretrained model never saw the images it is scored on.

No library renders this: PIL's affine resampling does each frame, the motion is drawn here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage import draw

from tasks.sources import TRAINING_SOURCES, check_index, check_size, source_image

#: The photographs tasks draw training pairs from (tasks.sources: validation pairs come from
#: the held-out ones, which pretraining never shows).
PRETRAINING_SOURCES = TRAINING_SOURCES

MAX_ROLL_DEG = 8.0  # camera roll over a whole clip
MAX_PAN = 0.25  # of the view's side, over a whole clip
ZOOM_RANGE = (0.8, 1.25)  # end scale over start scale
MAX_BRIGHTNESS_DRIFT = 0.12  # added, in units of full scale, over a whole clip
MAX_COLOUR_DRIFT = 0.10  # per-channel gain change over a whole clip
MAX_SPRITES = 2
VIEW_FRACTION = (0.3, 0.55)  # the view's side, as a fraction of the photograph's shorter side


@dataclass(frozen=True)
class Motion:
    """One clip's camera and scene motion, from its first frame (t = 0) to its last (t = 1)."""

    source: str
    centre: tuple[float, float]  # source pixels (x, y) at t = 0
    pan: tuple[float, float]  # source pixels moved by t = 1
    view: float  # source pixels per output pixel at t = 0
    zoom: float  # view at t = 1 over view at t = 0
    roll_deg: float  # at t = 1 (0 at t = 0)
    brightness: float  # added at t = 1
    gains: tuple[float, float, float]  # per-channel gain at t = 1 (1 at t = 0)
    sprites: tuple[tuple[float, float, float, float, float, tuple[int, int, int]], ...]
    # each: x0, y0, x1, y1 (fractions of the frame), radius (fraction), colour

    def affine(self, t: float, size: tuple[int, int]) -> tuple[float, ...]:
        """PIL's AFFINE data at time `t`: output pixel → source pixel, a rotation and a scale
        (determinant > 0: never a mirror)."""
        height, width = size
        scale = self.view * self.zoom**t
        angle = math.radians(self.roll_deg * t)
        a, b = scale * math.cos(angle), -scale * math.sin(angle)
        d, e = scale * math.sin(angle), scale * math.cos(angle)
        cx, cy = self.centre[0] + self.pan[0] * t, self.centre[1] + self.pan[1] * t
        return (
            a,
            b,
            cx - a * width / 2 - b * height / 2,
            d,
            e,
            cy - d * width / 2 - e * height / 2,
        )


def motion(index: int, size: tuple[int, int]) -> Motion:
    """The motion of clip `index` at `size` (height, width), drawn from its own seed, kept so
    that every frame's view lies inside the photograph."""
    index, (height, width) = check_index(index), check_size(size)
    rng = np.random.default_rng((index, 8))
    source = PRETRAINING_SOURCES[index % len(PRETRAINING_SOURCES)]
    src_w, src_h = _photo(source).size
    side = min(src_w, src_h) * rng.uniform(*VIEW_FRACTION)
    view = side / max(height, width)
    zoom = float(np.exp(rng.uniform(*np.log(ZOOM_RANGE))))
    # The view's half-diagonal at its largest, in source pixels: rotation-proof room to keep.
    reach = 0.5 * math.hypot(height, width) * view * max(1.0, zoom)
    pan = rng.uniform(-MAX_PAN, MAX_PAN, 2) * side
    low_x, high_x = reach + max(0.0, -pan[0]), src_w - reach - max(0.0, pan[0])
    low_y, high_y = reach + max(0.0, -pan[1]), src_h - reach - max(0.0, pan[1])
    if low_x > high_x or low_y > high_y:  # no room for this pan: the camera holds still
        pan = np.zeros(2)
        low_x, high_x, low_y, high_y = reach, src_w - reach, reach, src_h - reach
    centre = (rng.uniform(low_x, high_x), rng.uniform(low_y, high_y))
    sprites = tuple(
        (
            *rng.uniform(0.1, 0.9, 4).tolist(),
            float(rng.uniform(0.05, 0.12)),
            tuple(int(c) for c in rng.integers(0, 256, 3)),
        )
        for _ in range(int(rng.integers(0, MAX_SPRITES + 1)))
    )
    return Motion(
        source=source,
        centre=(float(centre[0]), float(centre[1])),
        pan=(float(pan[0]), float(pan[1])),
        view=float(view),
        zoom=zoom,
        roll_deg=float(rng.uniform(-MAX_ROLL_DEG, MAX_ROLL_DEG)),
        brightness=float(rng.uniform(-MAX_BRIGHTNESS_DRIFT, MAX_BRIGHTNESS_DRIFT)),
        gains=tuple(float(g) for g in 1 + rng.uniform(-MAX_COLOUR_DRIFT, MAX_COLOUR_DRIFT, 3)),
        sprites=sprites,
    )


def clip(index: int, size: tuple[int, int], frames: int = 9) -> np.ndarray:
    """Clip `index`: `frames` × height × width × 3 uint8, its motion spread evenly in time."""
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f"bad frames {frames!r}; allowed: an int ≥ 2")
    height, width = check_size(size)
    m = motion(index, (height, width))
    photo = _photo(m.source)
    out = np.empty((frames, height, width, 3), dtype=np.uint8)
    for f in range(frames):
        t = f / (frames - 1)
        view = photo.transform(
            (width, height),
            Image.Transform.AFFINE,
            m.affine(t, (height, width)),
            resample=Image.Resampling.BICUBIC,
        )
        frame = np.asarray(view, dtype=np.float64) / 255.0
        gains = 1 + (np.asarray(m.gains) - 1) * t
        frame = frame * gains + m.brightness * t
        for x0, y0, x1, y1, radius, colour in m.sprites:
            rr, cc = draw.disk(
                ((y0 + (y1 - y0) * t) * height, (x0 + (x1 - x0) * t) * width),
                radius * min(height, width),
                shape=(height, width),
            )
            frame[rr, cc] = np.asarray(colour) / 255.0
        out[f] = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    return out


@functools.cache
def _photo(name: str) -> Image.Image:
    if name not in PRETRAINING_SOURCES:
        raise ValueError(
            f"bad source {name!r} for pretraining; allowed: {', '.join(PRETRAINING_SOURCES)}"
        )
    return source_image(name)
