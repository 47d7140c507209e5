"""The grid-classification encoding (SPEC §1, §B.2): 16 images in a 4×4 grid in, a 4×4 grid of
class symbols out, each class one shape in one colour on black, decoded by nearest symbol."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

GRID = 4
CLASSES = 7
# One (shape, colour) per class: shapes and colours both differ, so symbols stay apart in L2
# even when a model gets only one of the two right.
SYMBOLS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("circle", (255, 0, 0)),
    ("square", (0, 255, 0)),
    ("triangle", (0, 0, 255)),
    ("diamond", (255, 255, 0)),
    ("cross", (255, 0, 255)),
    ("ring", (0, 255, 255)),
    ("bar", (255, 255, 255)),
)


@functools.cache
def symbol(label: int, cell: tuple[int, int]) -> np.ndarray:
    """The symbol of class `label` filling a cell of `cell` = (height, width) pixels."""
    if not 0 <= label < CLASSES:
        raise ValueError(f"label must be in 0..{CLASSES - 1}; got {label}")
    height, width = cell
    image = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    shape, colour = SYMBOLS[label]
    left, top, right, bottom = 0.15 * width, 0.15 * height, 0.85 * width, 0.85 * height
    cx, cy = width / 2, height / 2
    thick = max(1, round(min(height, width) * 0.15))
    if shape == "circle":
        draw.ellipse([left, top, right, bottom], fill=colour)
    elif shape == "square":
        draw.rectangle([left, top, right, bottom], fill=colour)
    elif shape == "triangle":
        draw.polygon([(cx, top), (right, bottom), (left, bottom)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(cx, top), (right, cy), (cx, bottom), (left, cy)], fill=colour)
    elif shape == "cross":
        draw.line([(left, top), (right, bottom)], colour, thick)
        draw.line([(left, bottom), (right, top)], colour, thick)
    elif shape == "ring":
        draw.ellipse([left, top, right, bottom], outline=colour, width=thick)
    else:
        draw.rectangle([left, cy - thick, right, cy + thick], fill=colour)
    out = np.asarray(image)
    out.setflags(write=False)
    return out


def cells(size: tuple[int, int]) -> list[tuple[slice, slice]]:
    """The 16 cells of a grid image of `size`, row by row; sides that do not divide by 4 leave
    their remainder to the last row and column."""
    rows = np.linspace(0, size[0], GRID + 1).astype(int)
    cols = np.linspace(0, size[1], GRID + 1).astype(int)
    return [
        (slice(rows[r], rows[r + 1]), slice(cols[c], cols[c + 1]))
        for r in range(GRID)
        for c in range(GRID)
    ]


def compose(tiles: list[np.ndarray], size: tuple[int, int]) -> np.ndarray:
    """A grid image of `size` from 16 tiles, each resized to its cell."""
    out = np.zeros((*size, 3), np.uint8)
    for tile, (rows, cols) in zip(tiles, cells(size), strict=True):
        cell = (rows.stop - rows.start, cols.stop - cols.start)
        if tile.shape[:2] != cell:
            tile = np.asarray(
                Image.fromarray(tile).resize((cell[1], cell[0]), Image.Resampling.BILINEAR)
            )
        out[rows, cols] = tile
    return out


def symbol_grid(labels: list[int], size: tuple[int, int]) -> np.ndarray:
    return compose(
        [
            symbol(int(k), (r.stop - r.start, c.stop - c.start))
            for k, (r, c) in zip(labels, cells(size), strict=True)
        ],
        size,
    )


def decode(image: np.ndarray) -> np.ndarray:
    """The class of each of the 16 cells: the symbol nearest in L2 (SPEC §B.2)."""
    image = np.asarray(image, np.float64)
    out = []
    for rows, cols in cells(image.shape[:2]):
        cell = image[rows, cols]
        shape = cell.shape[:2]
        distances = [((cell - symbol(k, shape)) ** 2).sum() for k in range(CLASSES)]
        out.append(int(np.argmin(distances)))
    return np.array(out)
