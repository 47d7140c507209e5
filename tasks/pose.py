"""The pose colour code of SPEC §1 on COCO's 17 keypoints: the renderer that makes targets and
the part definitions the Match Rate metric decodes. One module, so both read the same table."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# COCO person keypoints: 0 nose, 1–2 eyes, 3–4 ears, 5–6 shoulders, 7–8 elbows, 9–10 wrists,
# 11–12 hips, 13–14 knees, 15–16 ankles.
PARTS: dict[str, tuple[int, ...]] = {
    "head": (0, 1, 2, 3, 4),
    "torso": (5, 6, 12, 11),  # polygon order: around the body
    "arms": (7, 8, 9, 10),
    "legs": (13, 14, 15, 16),
}
COLORS: dict[str, tuple[int, int, int]] = {
    "head": (255, 255, 255),
    "torso": (0, 0, 255),
    "arms": (255, 0, 0),
    "legs": (0, 255, 0),
}
BACKGROUND = (0, 0, 0)
# Limb segments drawn as thick lines (joint pairs), in COCO indices.
LIMBS = {
    "arms": ((5, 7), (7, 9), (6, 8), (8, 10)),
    "legs": ((11, 13), (13, 15), (12, 14), (14, 16)),
}


def _visible(person: np.ndarray, joints: tuple[int, ...]) -> np.ndarray:
    return np.array([person[j, :2] for j in joints if person[j, 2] > 0]).reshape(-1, 2)


def person_scale(person: np.ndarray) -> float:
    """A length in pixels that grows with the person: the shoulder width, else a quarter of the
    visible keypoints' extent; line widths and the head radius follow it."""
    if person[5, 2] > 0 and person[6, 2] > 0:
        width = float(np.hypot(*(person[5, :2] - person[6, :2])))
        if width > 0:
            return width
    points = person[person[:, 2] > 0, :2]
    if len(points) < 2:
        return 4.0
    return max(4.0, float(np.hypot(*(points.max(0) - points.min(0)))) / 4)


def render_pose(keypoints: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The target of the pose task: body parts of every person drawn in their colours on black
    (legs, then arms, torso and head on top). `keypoints` is (people, 17, 3) as COCO's
    [x, y, visibility] in pixels of an image of `size` = (height, width)."""
    height, width = size
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for person in np.asarray(keypoints, np.float64).reshape(-1, 17, 3):
        scale = person_scale(person)
        line = max(2, round(scale * 0.18))
        for part in ("legs", "arms"):
            for a, b in LIMBS[part]:
                if person[a, 2] > 0 and person[b, 2] > 0:
                    draw.line([tuple(person[a, :2]), tuple(person[b, :2])], COLORS[part], line)
        torso = _visible(person, PARTS["torso"])
        if len(torso) >= 3:
            draw.polygon([tuple(p) for p in torso], fill=COLORS["torso"])
        elif len(torso) == 2:
            draw.line([tuple(p) for p in torso], COLORS["torso"], line)
        head = _visible(person, PARTS["head"])
        if len(head):
            cx, cy = head.mean(axis=0)
            radius = max(2.0, 0.35 * scale)
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], COLORS["head"])
    return np.asarray(canvas)


def reference_centroids(keypoints: np.ndarray) -> dict[str, np.ndarray]:
    """Per part, one centroid per person: the mean of that part's annotated keypoints (SPEC §1,
    Match Rate). Returns part → (k, 2) arrays of (x, y)."""
    found: dict[str, list[np.ndarray]] = {part: [] for part in PARTS}
    for person in np.asarray(keypoints, np.float64).reshape(-1, 17, 3):
        for part, joints in PARTS.items():
            points = _visible(person, joints)
            if len(points):
                found[part].append(points.mean(axis=0))
    return {part: np.array(c).reshape(-1, 2) for part, c in found.items()}


def crop_keypoints(
    keypoints: np.ndarray, box: tuple[int, int, int, int], size: tuple[int, int]
) -> np.ndarray:
    """Keypoints carried through the crop `box` = (left, top, width, height) and the resize to
    `size` = (height, width); those that fall outside become unannotated (visibility 0)."""
    left, top, crop_w, crop_h = box
    height, width = size
    out = np.array(keypoints, np.float32).reshape(-1, 17, 3)
    out[..., 0] = (out[..., 0] - left) * width / crop_w
    out[..., 1] = (out[..., 1] - top) * height / crop_h
    inside = (
        (out[..., 0] >= 0) & (out[..., 0] < width) & (out[..., 1] >= 0) & (out[..., 1] < height)
    )
    out[..., 2] = np.where(inside, out[..., 2], 0)
    return out
