"""Generated scenes with exact dense ground truth: depth for the depth task, ADE20K class labels
for image ↔ segmentation. Both are drawn back to front with a z-buffer-free painter's order, so
what is visible is by construction what the ground truth says."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage import draw

from tasks.sources import background, check_index, check_size, natural_image, same_split

# ---- depth -------------------------------------------------------------------------------
CAMERA_HEIGHT = 1.6  # metres above the floor
FAR = 20.0  # the back wall, metres
FOG = 12.0  # metres over which the image fades to haze: a monocular cue like real air


def depth_scene(index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A floor receding to a far wall, with 1–4 upright textured boards standing on the floor at
    random distances; returns the image (uint8) and the depth of every pixel in metres."""
    index, size = check_index(index), check_size(size)
    rng = np.random.default_rng((index, 6))
    rows, cols = size
    focal = rows * rng.uniform(0.8, 1.2)
    horizon = rows * rng.uniform(0.3, 0.5)
    row = np.arange(rows, dtype=np.float64)[:, None]
    below = row > horizon + 1e-6
    floor = np.where(below, CAMERA_HEIGHT * focal / np.maximum(row - horizon, 1e-6), np.inf)
    depth = np.broadcast_to(np.minimum(floor, FAR), size).copy()
    image = np.where(
        below[..., None],
        natural_image(same_split(index, int(rng.integers(2**31))), size).astype(np.float64),
        background(rng, size, index),
    )
    # Boards far to near, so nearer ones are painted over farther ones.
    for distance in sorted(rng.uniform(2.0, FAR * 0.7, int(rng.integers(1, 5))), reverse=True):
        bottom = horizon + CAMERA_HEIGHT * focal / distance
        tall = rng.uniform(0.8, 2.5) * focal / distance
        wide = rng.uniform(0.5, 2.0) * focal / distance
        left = rng.uniform(-0.2, 1.0) * cols - wide / 2
        rr, cc = draw.rectangle(
            (max(bottom - tall, 0), max(left, 0)),
            (min(bottom, rows - 1), min(left + wide, cols - 1)),
            shape=size,
        )
        if rr.size == 0:
            continue
        texture = natural_image(same_split(index, int(rng.integers(2**31))), size).astype(
            np.float64
        )
        image[rr, cc] = 0.7 * texture[rr, cc] + 0.3 * rng.uniform(0, 255, 3)
        depth[rr, cc] = distance
    haze = np.exp(-depth / FOG)[..., None]
    image = image * (0.35 + 0.65 * haze) + 150 * (1 - haze) * 0.65
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), depth.astype(np.float32)


def depth_image(depth: np.ndarray) -> np.ndarray:
    """Depth as gray, near = bright, linear in depth over the image's valid range (so that a
    least-squares scale and shift recovers it exactly); invalid pixels (NaN, ≤ 0) are black."""
    depth = np.asarray(depth, np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    gray = np.zeros(depth.shape)
    if valid.any():
        near, far = depth[valid].min(), depth[valid].max()
        gray[valid] = 255 * (far - depth[valid]) / max(far - near, 1e-9)
    return np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


# ---- labelled outdoor scenes --------------------------------------------------------------
# ADE20K class indices (1-based, 0 = other) of the classes the generator paints.
SKY, BUILDING, TREE, ROAD, GRASS, MOUNTAIN, WATER, SAND = 3, 2, 5, 7, 10, 17, 22, 47
GROUNDS = (GRASS, ROAD, WATER, SAND)
# Each class's look: a base colour and how much texture it carries.
LOOKS = {
    SKY: ((120, 170, 230), 6),
    BUILDING: ((150, 140, 130), 20),
    TREE: ((40, 100, 40), 30),
    ROAD: ((90, 90, 95), 12),
    GRASS: ((80, 150, 60), 25),
    MOUNTAIN: ((120, 110, 100), 22),
    WATER: ((40, 90, 150), 15),
    SAND: ((220, 200, 150), 12),
}


def _texture(rng: np.random.Generator, size: tuple[int, int], label: int) -> np.ndarray:
    colour, grain = LOOKS[label]
    noise = gaussian_filter(rng.normal(0, 1, size), sigma=max(1.0, min(size) / 64))
    noise = noise / max(noise.std(), 1e-9)
    tint = rng.uniform(-15, 15, 3)
    return np.asarray(colour) + tint + grain * noise[..., None]


def labelled_scene(index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """An outdoor scene (sky, a ground of grass/road/water/sand, mountains, buildings, trees)
    and its ADE20K label per pixel (uint8)."""
    index, size = check_index(index), check_size(size)
    rng = np.random.default_rng((index, 8))
    rows, cols = size
    labels = np.full(size, SKY, np.uint8)
    horizon = int(rows * rng.uniform(0.35, 0.65))
    labels[horizon:] = GROUNDS[int(rng.integers(len(GROUNDS)))]
    for _ in range(int(rng.integers(0, 3))):
        peak = (horizon - rng.uniform(0.1, 0.3) * rows, rng.uniform(0, cols))
        half = rng.uniform(0.2, 0.5) * cols
        rr, cc = draw.polygon(
            [horizon, peak[0], horizon], [peak[1] - half, peak[1], peak[1] + half], shape=size
        )
        labels[rr, cc] = MOUNTAIN
    for _ in range(int(rng.integers(0, 4))):
        wide, tall = rng.uniform(0.08, 0.2) * cols, rng.uniform(0.1, 0.35) * rows
        left = rng.uniform(0, cols - wide)
        rr, cc = draw.rectangle((horizon - tall, left), (horizon, left + wide), shape=size)
        labels[rr, cc] = BUILDING
    for _ in range(int(rng.integers(1, 4))):
        radius = rng.uniform(0.05, 0.12) * min(rows, cols)
        base = rng.uniform(horizon, rows)
        rr, cc = draw.ellipse(base - radius, rng.uniform(0, cols), radius, radius * 0.8, shape=size)
        labels[rr, cc] = TREE
    image = np.zeros((*size, 3))
    for label in np.unique(labels):
        where = labels == label
        image[where] = _texture(rng, size, int(label))[where]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), labels
