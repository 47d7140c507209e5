"""SPEC §2: how an (x, y) pair becomes the F-frame video the backbone is fine-tuned on.

The trajectory is one of the ablated factors (Tables 1 and 8), so each one must be exactly the
formula the protocol states: results across trajectories are only comparable if frame 1 is x,
frame F is y, and the frames between follow the stated schedule bit for bit.
"""

from __future__ import annotations

import numpy as np

TRAJECTORIES = ("linear", "quadratic", "discrete", "tiles")

GRID = 4  # tiles: the image is cut in GRID×GRID rectangles
N_TILES = GRID * GRID


def _check_image(name: str, image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array; got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be H×W×3; got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8; got dtype {image.dtype}")


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def tile_order(seed: int) -> np.ndarray:
    """The seeded order in which tiles switch from x to y; tile k is at row k // 4, col k % 4.

    Exposed so tests and visualisations can reproduce the schedule without rendering."""
    seed = _check_int("seed", seed, 0)
    return np.random.default_rng(seed).permutation(N_TILES)


def tile_boxes(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of each tile, row-major; boundaries are rounded linspace so any
    size ≥ 4 splits into 16 non-empty rectangles even when it is not a multiple of 4."""
    rows = np.round(np.linspace(0, height, GRID + 1)).astype(int)
    cols = np.round(np.linspace(0, width, GRID + 1)).astype(int)
    return [
        (int(rows[r]), int(rows[r + 1]), int(cols[c]), int(cols[c + 1]))
        for r in range(GRID)
        for c in range(GRID)
    ]


def _blend(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(1 − w)·x + w·y per frame in float64, rounded half-to-even; w = 0 and w = 1 reproduce x
    and y exactly, which keeps the endpoint guarantee free of rounding surprises."""
    xf, yf = x.astype(np.float64), y.astype(np.float64)
    w = weights[:, None, None, None]
    out = (1.0 - w) * xf[None] + w * yf[None]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _tiles(x: np.ndarray, y: np.ndarray, frames: int, seed: int) -> np.ndarray:
    height, width = x.shape[:2]
    if height < GRID or width < GRID:
        raise ValueError(f"tiles needs images at least {GRID}×{GRID}; got {height}×{width}")
    boxes = tile_boxes(height, width)
    order = tile_order(seed)
    out = np.repeat(x[None], frames, axis=0)
    for f in range(frames):
        # ⌊t_f·16⌋ in integer arithmetic: (f−1)/(F−1)·16 with f counted from 1.
        shown = (f * N_TILES) // (frames - 1)
        for k in order[:shown]:
            top, bottom, left, right = boxes[k]
            out[f, top:bottom, left:right] = y[top:bottom, left:right]
    return out


def render(
    x: np.ndarray, y: np.ndarray, trajectory: str, frames: int = 9, seed: int = 0
) -> np.ndarray:
    """The F×H×W×3 uint8 transition video from x (frame 1) to y (frame F).

    `seed` only matters for "tiles" (it fixes the tile order); it is validated for all
    trajectories so a bad value fails early rather than when the ablation reaches tiles."""
    if trajectory not in TRAJECTORIES:
        raise ValueError(f"unknown trajectory {trajectory!r}; allowed: {', '.join(TRAJECTORIES)}")
    _check_image("x", x)
    _check_image("y", y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape; got {x.shape} and {y.shape}")
    frames = _check_int("frames", frames, 2)
    seed = _check_int("seed", seed, 0)

    t = np.arange(frames, dtype=np.float64) / (frames - 1)
    if trajectory == "linear":
        return _blend(x, y, t)
    if trajectory == "quadratic":
        return _blend(x, y, t**2)
    if trajectory == "discrete":
        first_y = frames // 2
        return np.concatenate(
            [np.repeat(x[None], first_y, 0), np.repeat(y[None], frames - first_y, 0)]
        )
    return _tiles(x, y, frames, seed)
