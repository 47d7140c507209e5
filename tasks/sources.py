"""Image sources embedded in the install: no task may need the network.

Natural images come from scikit-image's bundled files (only those shipped in the wheel; the
pooch-fetched ones would fail offline). A handful of photographs becomes an effectively unlimited
pool through seeded crops, scales and flips, which is enough for n ≤ 30 few-shot pairs plus a
disjoint validation split. Segmentation scenes are generated, so their masks are exact.

The photographs are split in two, and an index says which half it draws from: indices from
`VALIDATION_START` on (a task's validation pairs, `validation_index`) crop only
`HELD_OUT_SOURCES`, smaller ones (training pairs, and the micro backbone's pretraining clips) only
`TRAINING_SOURCES`. So a pretrained backbone never saw a photograph its tasks are scored on, and
no validation image is a crop of a training pair's photograph.
"""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Callable

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data, draw

# Bundled RGB photographs (skimage.data `cat` is `chelsea` again, so it is left out).
_LOADERS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": data.astronaut,
    "chelsea": data.chelsea,
    "coffee": data.coffee,
    "rocket": data.rocket,
    "hubble_deep_field": data.hubble_deep_field,
    "immunohistochemistry": data.immunohistochemistry,
    "retina": data.retina,
    "colorwheel": data.colorwheel,
    "motorcycle": lambda: data.stereo_motorcycle()[0],
}
SOURCE_NAMES = tuple(_LOADERS)
#: Photographs only validation pairs are cut from: never in a training pair or in pretraining.
HELD_OUT_SOURCES: tuple[str, ...] = ("coffee", "chelsea", "motorcycle")
TRAINING_SOURCES: tuple[str, ...] = tuple(n for n in SOURCE_NAMES if n not in HELD_OUT_SOURCES)
#: Indices from here on are validation indices (above any index a pool or a seed draws).
VALIDATION_START = 1 << 40

MIN_SCALE = 0.3  # smallest crop, as a fraction of the largest crop of the requested aspect
MIN_STD = 12.0  # crops flatter than this (retina's black border, the sky) are redrawn
MAX_TRIES = 50
MIN_SCENE_SIDE = 8  # below this, 2–60 % mask coverage cannot be guaranteed


@functools.cache
def source_image(name: str) -> Image.Image:
    """One bundled photograph, whole, as RGB (`SOURCE_NAMES`)."""
    if name not in _LOADERS:
        raise ValueError(f"unknown source {name!r}; allowed: {', '.join(SOURCE_NAMES)}")
    return Image.fromarray(_LOADERS[name]()).convert("RGB")


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    if (
        not isinstance(size, tuple | list)
        or len(size) != 2
        or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in size)
        or min(size) < 1
    ):
        raise ValueError(f"size must be (height, width) of positive ints; got {size!r}")
    return int(size[0]), int(size[1])


def check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        raise ValueError(f"index must be an int >= 0; got {index!r}")
    return int(index)


def is_validation(index: int) -> bool:
    return index >= VALIDATION_START


def validation_index(index: int) -> int:
    """Pool index `index` as a validation index (unchanged if it already is one)."""
    index = check_index(index)
    return index if is_validation(index) else VALIDATION_START + index


def same_split(index: int, draw: int) -> int:
    """`draw` (a seed a generator drew) as an index of the same split as `index`: a scene's
    background and textures come from the photographs its own pair may use."""
    return validation_index(draw) if is_validation(index) else draw


def natural_image(index: int, size: tuple[int, int]) -> np.ndarray:
    """A deterministic H×W×3 uint8 view of one bundled photograph; `size` is (height, width).

    Consecutive indices cycle through their split's photographs (`HELD_OUT_SOURCES` for
    validation indices, else `TRAINING_SOURCES`), and each index draws its own crop box, scale
    and flip, so in practice any two indices give different images (tested for 300)."""
    index = check_index(index)
    photos = HELD_OUT_SOURCES if is_validation(index) else TRAINING_SOURCES
    return photo_crop(photos[index % len(photos)], index, size)


def photo_crop(name: str, index: int, size: tuple[int, int]) -> np.ndarray:
    """View `index` of photograph `name`: its own seeded crop box, scale and flip."""
    index = check_index(index)
    height, width = check_size(size)
    image = source_image(name)
    rng = np.random.default_rng((index, 0))
    src_w, src_h = image.size
    aspect = height / width
    # The largest crop of the requested aspect, so crops are never distorted.
    max_w = min(src_w, src_h / aspect)
    max_h = max_w * aspect
    for _ in range(MAX_TRIES):
        scale = rng.uniform(MIN_SCALE, 1.0)
        crop_w, crop_h = max_w * scale, max_h * scale
        left = rng.uniform(0, src_w - crop_w)
        top = rng.uniform(0, src_h - crop_h)
        box = (left, top, left + crop_w, top + crop_h)
        out = np.asarray(image.resize((width, height), Image.Resampling.BICUBIC, box=box))
        if out.std() >= MIN_STD:
            break  # otherwise the last draw stands: flat but valid beats never returning
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out, dtype=np.uint8)


def background(rng: np.random.Generator, size: tuple[int, int], index: int) -> np.ndarray:
    """A blurred, low-contrast photo crop from the split of scene `index`: textured enough
    that segmentation is not colour thresholding, muted enough that the shapes remain the
    salient objects."""
    image = natural_image(same_split(index, int(rng.integers(0, 2**31))), size)
    image = image.astype(np.float64)
    sigma = max(1.0, min(size) / 32)
    blurred = gaussian_filter(image, sigma=(sigma, sigma, 0))
    return 0.6 * blurred + 0.4 * blurred.mean()


def _shape_coords(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    height, width = size
    cy, cx = rng.uniform(0.15, 0.85) * height, rng.uniform(0.15, 0.85) * width
    radius = rng.uniform(0.1, 0.28) * min(height, width)
    angle = rng.uniform(0, np.pi)
    kind = rng.choice(["ellipse", "rectangle", "triangle", "polygon"])
    if kind == "ellipse":
        ratio = rng.uniform(0.5, 1.0)
        return draw.ellipse(cy, cx, radius, radius * ratio, shape=size, rotation=angle)
    if kind == "rectangle":
        ratio = rng.uniform(0.4, 1.0)
        corners = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]]) * [radius, radius * ratio]
        thetas = np.arctan2(corners[:, 1], corners[:, 0]) + angle
        radii = np.hypot(corners[:, 0], corners[:, 1])
    elif kind == "triangle":
        thetas = angle + np.array([0, 2, 4]) * np.pi / 3 + rng.uniform(-0.3, 0.3, 3)
        radii = radius * rng.uniform(0.7, 1.0, 3)
    else:
        count = int(rng.integers(5, 8))
        thetas = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = radius * rng.uniform(0.7, 1.0, count)
    return draw.polygon(cy + radii * np.sin(thetas), cx + radii * np.cos(thetas), shape=size)


def _color(rng: np.random.Generator) -> np.ndarray:
    rgb = colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(0.5, 1.0), rng.uniform(0.35, 1.0))
    return np.array(rgb) * 255


def shape_scene(index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """1–3 flat-coloured shapes on a textured background, and the exact mask of all shapes.

    The mask covers the single "object" category (every shape), never nothing and never the
    whole image: scenes whose mask falls outside 2–60 % of the pixels are redrawn."""
    index = check_index(index)
    size = check_size(size)
    if min(size) < MIN_SCENE_SIDE:
        raise ValueError(f"shape_scene needs both sides >= {MIN_SCENE_SIDE}; got {size}")
    rng = np.random.default_rng((index, 1))
    for _ in range(MAX_TRIES):
        image = background(rng, size, index)
        mask = np.zeros(size, bool)
        for _ in range(int(rng.integers(1, 4))):
            rows, cols = _shape_coords(rng, size)
            image[rows, cols] = _color(rng)
            mask[rows, cols] = True
        if 0.02 <= mask.mean() <= 0.6:
            return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask
    raise RuntimeError(f"no scene with 2–60 % mask coverage in {MAX_TRIES} draws (index {index})")
