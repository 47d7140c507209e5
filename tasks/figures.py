"""People-like figures with exact COCO-17 keypoints: the embedded source of the pose task.

Each figure is a jointed body (head, torso, two-segment arms and legs) with random joint
angles, drawn in clothing and skin colours on a blurred photo background, so the task is to
find bodies and parts, not to copy the target's colour code. Keypoints are where the drawing
puts the joints, hence exact."""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

from tasks.sources import background, check_index, check_size

# Body proportions as fractions of the figure's height (roughly a person's).
HEAD, NECK, TORSO = 0.13, 0.04, 0.32
SHOULDER, HIP = 0.24, 0.16
UPPER_ARM, FOREARM, THIGH, SHIN = 0.17, 0.15, 0.24, 0.22
SKIN = ((224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 219, 172), (92, 58, 30))


def _point(origin: np.ndarray, length: float, angle: float) -> np.ndarray:
    """`length` away from `origin` at `angle` radians from straight down (y grows downwards)."""
    return origin + length * np.array([math.sin(angle), math.cos(angle)])


def _clothes(rng: np.random.Generator) -> tuple[int, int, int]:
    hue, sat, val = rng.uniform(), rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.85)
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, sat, val))


def figure_keypoints(rng: np.random.Generator, centre: np.ndarray, height: float) -> np.ndarray:
    """(17, 3) COCO keypoints of one standing, gesturing figure whose hips are at `centre`."""
    lean = rng.uniform(-0.15, 0.15)
    hip_mid = centre
    neck = _point(hip_mid, -TORSO * height, lean)
    head = _point(neck, -(NECK + HEAD / 2) * height, lean)
    across = np.array([math.cos(lean), -math.sin(lean)])  # the body's left-right axis
    points = np.zeros((17, 2))
    facing = rng.choice([-1.0, 1.0])  # which way the face turns: eyes and nose shift with it
    points[0] = head + across * facing * 0.02 * height + [0, 0.01 * height]
    for side, (eye, ear) in ((1, (1, 3)), (-1, (2, 4))):
        points[eye] = head + across * (side * 0.025 + facing * 0.01) * height - [0, 0.015 * height]
        points[ear] = head + across * side * 0.055 * height
    for side, (shoulder, elbow, wrist, hip, knee, ankle) in (
        (1, (5, 7, 9, 11, 13, 15)),
        (-1, (6, 8, 10, 12, 14, 16)),
    ):
        points[shoulder] = neck + across * side * SHOULDER / 2 * height
        points[hip] = hip_mid + across * side * HIP / 2 * height
        upper = lean + side * rng.uniform(0.1, 2.6)  # from hanging down to raised overhead
        points[elbow] = _point(points[shoulder], UPPER_ARM * height, upper)
        points[wrist] = _point(points[elbow], FOREARM * height, upper + side * rng.uniform(0, 1.2))
        thigh = lean + side * rng.uniform(-0.1, 0.5)
        points[knee] = _point(points[hip], THIGH * height, thigh)
        points[ankle] = _point(points[knee], SHIN * height, thigh - side * rng.uniform(0, 0.6))
    return np.concatenate([points, np.full((17, 1), 2.0)], axis=1)


def draw_figure(draw: ImageDraw.ImageDraw, keypoints: np.ndarray, height: float, rng) -> None:
    skin = SKIN[int(rng.integers(len(SKIN)))]
    shirt, trousers = _clothes(rng), _clothes(rng)
    limb = max(2, round(0.06 * height))
    p = [tuple(k[:2]) for k in keypoints]
    for a, b in ((11, 13), (13, 15), (12, 14), (14, 16)):
        draw.line([p[a], p[b]], trousers, limb)
    draw.polygon([p[5], p[6], p[12], p[11]], fill=shirt)
    for a, b, colour in ((5, 7, shirt), (7, 9, skin), (6, 8, shirt), (8, 10, skin)):
        draw.line([p[a], p[b]], colour, limb)
    cx, cy = (keypoints[3, :2] + keypoints[4, :2]) / 2
    radius = HEAD / 2 * height
    draw.ellipse([cx - radius * 0.8, cy - radius, cx + radius * 0.8, cy + radius], fill=skin)


def people_scene(index: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """1–3 figures on a textured background and their keypoints, (people, 17, 3) as COCO's
    [x, y, visibility] in pixels; keypoints outside the image are unannotated (visibility 0)."""
    index, size = check_index(index), check_size(size)
    rng = np.random.default_rng((index, 5))
    rows, cols = size
    count = int(rng.integers(1, 4))
    image = Image.fromarray(np.clip(np.rint(background(rng, size, index)), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    people = []
    # Figures stand side by side in slots so they rarely overlap and every head stays visible.
    for slot in rng.permutation(count):
        height = rows * rng.uniform(0.55, 0.85)
        centre = np.array(
            [cols * (slot + rng.uniform(0.35, 0.65)) / count, rows * rng.uniform(0.5, 0.6)]
        )
        keypoints = figure_keypoints(rng, centre, height)
        draw_figure(draw, keypoints, height, rng)
        people.append(keypoints)
    keypoints = np.array(people, np.float32)
    inside = (
        (keypoints[..., 0] >= 0)
        & (keypoints[..., 0] < cols)
        & (keypoints[..., 1] >= 0)
        & (keypoints[..., 1] < rows)
    )
    keypoints[..., 2] = np.where(inside, keypoints[..., 2], 0)
    return np.asarray(image), keypoints
