"""Metrics on hand-made images whose answers are known in closed form."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from tasks import metrics
from tasks.grid import cells, decode, symbol, symbol_grid
from tasks.metrics import (
    abs_rel,
    accuracy,
    confusion,
    decode_palette,
    delta1,
    match_rate,
    miou,
    palette_miou,
    psnr,
    psnr_masked,
    ssim,
    ssim_masked,
)
from tasks.pose import COLORS, reference_centroids, render_pose


def mask_image(mask: np.ndarray) -> np.ndarray:
    return np.repeat((mask * 255).astype(np.uint8)[..., None], 3, axis=-1)


def test_psnr_constant_offset() -> None:
    target = np.full((8, 8, 3), 100, np.uint8)
    pred = target + np.uint8(10)
    assert psnr(pred, target) == pytest.approx(20 * math.log10(255 / 10))
    assert psnr(target, pred) == pytest.approx(20 * math.log10(255 / 10))


def test_psnr_no_uint8_wraparound() -> None:
    # 0 vs 255 everywhere: MSE 255², PSNR 0 dB (a uint8 subtraction would wrap to 1).
    assert psnr(np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)) == 0.0


def test_psnr_identical_is_inf() -> None:
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    assert psnr(image, image.copy()) == math.inf


def test_ssim_identical_is_one_and_drops_with_noise() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert ssim(image, image.copy()) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert ssim(noisy, image) < 0.9


def test_miou_hand_computed() -> None:
    pred = np.zeros((4, 4), bool)
    pred[0, :] = True  # 4 white pixels
    target = np.zeros((4, 4), bool)
    target[:2, :] = True  # 8 white pixels, 4 shared with pred
    # White IoU 4/8; black: pred black 12, target black 8, overlap 8 → 8/12.
    assert miou(mask_image(pred), mask_image(target)) == pytest.approx((4 / 8 + 8 / 12) / 2)
    assert miou(mask_image(pred), mask_image(target)) == pytest.approx(0.58333333)


def test_miou_perfect_and_inverted() -> None:
    target = np.zeros((4, 4), bool)
    target[1:3, 1:3] = True
    assert miou(mask_image(target), mask_image(target)) == 1.0
    assert miou(mask_image(~target), mask_image(target)) == 0.0


def test_miou_absent_class_counts_as_one() -> None:
    black = np.zeros((4, 4, 3), np.uint8)
    assert miou(black, black.copy()) == 1.0
    one_white = black.copy()
    one_white[0, 0] = 255
    # White: 0/1; black: 15/16.
    assert miou(one_white, black) == pytest.approx((0 + 15 / 16) / 2)


def test_miou_threshold_on_channel_mean() -> None:
    target = mask_image(np.ones((2, 2), bool))
    pred = np.zeros((2, 2, 3), np.uint8)
    pred[..., 0] = 255
    pred[..., 1] = 128  # gray = (255 + 128 + 0) / 3 / 255 ≈ 0.5007: white, though red is not
    assert miou(pred, target) == 1.0
    pred[..., 1] = 127  # gray ≈ 0.4993: black everywhere, so both IoUs are 0
    assert miou(pred, target) == 0.0
    pred[..., 1] = 128
    assert miou(pred, target, threshold=0.9) == 0.0
    assert miou(np.full((2, 2, 3), 128, np.uint8), target) == 1.0  # 128/255 ≥ 0.5


@pytest.mark.parametrize("metric", [psnr, ssim, miou])
def test_shape_mismatch(metric) -> None:
    with pytest.raises(ValueError, match=r"\(16, 16, 3\) and \(16, 17, 3\)"):
        metric(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 17, 3), np.uint8))


# --- Masked PSNR / SSIM (inpainting) -------------------------------------------------------------


def _textured(size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 236, (size, size, 3), dtype=np.uint8)


def _corner_mask(size: int = 16) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[:4, :4] = True  # 16 pixels in the top-left corner
    return mask


def test_masked_metrics_ignore_error_outside_the_mask() -> None:
    target = _textured()
    pred = target.copy()
    # Error in rows/cols 10..15 only: ≥ 6 px from the mask (rows/cols 0..3), so no 7×7 SSIM window
    # centred inside the mask (it reaches at most index 3 + 3 = 6) sees it.
    pred[10:, 10:] = 255 - pred[10:, 10:]
    mask = _corner_mask()
    assert psnr(pred, target) < 30  # the error is real overall ...
    assert ssim(pred, target) < 0.9
    assert psnr_masked(pred, target, mask) == math.inf  # ... and invisible inside the mask
    assert ssim_masked(pred, target, mask) == pytest.approx(1.0)


def test_masked_psnr_constant_offset_inside_mask() -> None:
    target = _textured()
    mask = _corner_mask()
    pred = target.copy()
    pred[mask] += 10  # ≤ 235 + 10, no wraparound
    # Inside: MSE = 10² → PSNR = 10·log10(255²/100) = 20·log10(25.5) ≈ 28.13 dB.
    assert psnr_masked(pred, target, mask) == pytest.approx(20 * math.log10(255 / 10))
    # Overall: MSE = 100 · 16/256 = 6.25 → PSNR = 10·log10(255²/6.25) = 20·log10(102) ≈ 40.17 dB.
    assert psnr(pred, target) == pytest.approx(20 * math.log10(255 / 2.5))
    assert psnr(pred, target) > psnr_masked(pred, target, mask)
    assert ssim_masked(pred, target, mask) < 1.0


@pytest.mark.parametrize("metric", [psnr_masked, ssim_masked])
def test_masked_metrics_reject_bad_masks(metric) -> None:
    image = _textured()
    with pytest.raises(ValueError, match="no pixel"):
        metric(image, image.copy(), np.zeros((16, 16), bool))
    with pytest.raises(ValueError, match="mask must be"):
        metric(image, image.copy(), np.ones((16, 15), bool))
    with pytest.raises(ValueError, match="mask must be"):
        metric(image, image.copy(), np.ones((16, 16, 3), bool))


# --- Depth: AbsRel and δ<1.25 after least-squares scale and shift -------------------------------


def _gray_image(gray: np.ndarray) -> np.ndarray:
    """An RGB image whose channel mean is `gray` while no channel equals it (R = g+30, B = g−30)."""
    gray = np.asarray(gray, np.int64)
    return np.stack([gray + 30, gray, gray - 30], axis=-1).astype(np.uint8)


DEPTH = np.array([[1.0, 2.0, 3.0], [4.0, 2.5, 1.5]])


@pytest.mark.parametrize(
    "gray",
    [
        250 - 50 * DEPTH,  # near = bright: [[200, 150, 100], [50, 125, 175]], slope −50
        40 + 20 * DEPTH,  # far = bright: [[60, 80, 100], [120, 90, 70]], slope +20
    ],
)
def test_depth_affine_prediction_is_exact(gray: np.ndarray) -> None:
    pred = _gray_image(gray)
    # gray = a·d + b exactly, so d = (gray − b)/a is in the LS model: residual 0.
    assert abs_rel(pred, pred, DEPTH) == pytest.approx(0.0, abs=1e-9)
    assert delta1(pred, pred, DEPTH) == 1.0


def test_depth_constant_prediction_fits_the_mean() -> None:
    depth = np.array([[1.0, 1.0, 4.0]])
    pred = _gray_image(np.full((1, 3), 77))
    # Gray is constant, so the best LS fit is the mean depth (1 + 1 + 4)/3 = 2 everywhere:
    # |2−1|/1 + |2−1|/1 + |2−4|/4 = 1 + 1 + 0.5 → AbsRel = 2.5/3 = 0.8333…
    assert abs_rel(pred, pred, depth) == pytest.approx(2.5 / 3)
    # Ratios max(2/1, 1/2) = 2, 2, max(2/4, 4/2) = 2: none < 1.25.
    assert delta1(pred, pred, depth) == 0.0


def test_depth_invalid_pixels_are_ignored() -> None:
    depth = np.array([[1.0, 1.0, 4.0], [np.nan, 0.0, np.inf], [-3.0, np.nan, 0.0]])
    rng = np.random.default_rng(1)
    for seed in range(3):
        pred = rng.integers(0, 256, (3, 3, 3), dtype=np.uint8)
        pred[0] = 77  # the three valid pixels: constant gray, as in the test above
        assert abs_rel(pred, pred, depth) == pytest.approx(2.5 / 3), seed
        assert delta1(pred, pred, depth) == 0.0
    # An exact affine rendering on the valid pixels stays exact whatever is elsewhere.
    depth = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 5.0]])
    for seed in range(3):
        pred = rng.integers(0, 256, (2, 3, 3), dtype=np.uint8)  # (1, 0) and (1, 1): anything
        pred[0] = _gray_image(np.array([[200, 150, 100]]))[0]  # 250 − 50·d for d = 1, 2, 3
        pred[1, 2] = 0  # gray 0 = 250 − 50·5
        assert abs_rel(pred, pred, depth) == pytest.approx(0.0, abs=1e-9), seed
        assert delta1(pred, pred, depth) == 1.0


@pytest.mark.parametrize("metric", [abs_rel, delta1])
def test_depth_needs_two_valid_pixels(metric) -> None:
    pred = _gray_image(np.array([[100, 150, 200]]))
    with pytest.raises(ValueError, match="fewer than 2"):
        metric(pred, pred, np.array([[np.nan, 0.0, 5.0]]))
    with pytest.raises(ValueError, match="H×W"):
        metric(pred, pred, np.ones((3, 1)))


# --- Palette mIoU (ADE20K-style label maps) ------------------------------------------------------

BLACK, RED, GREEN, BLUE = (0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)


def test_decode_palette_nearest_colour() -> None:
    palette = np.array([BLACK, RED, GREEN, BLUE])
    image = np.array([[[10, 10, 10], [200, 30, 30]], [[20, 240, 0], [0, 100, 180]]], np.uint8)
    # (0, 100, 180): to blue 100² + 75² = 15625, to black 100² + 180² = 42400, to green
    # 155² + 180² = 56425, to red 255² + 100² + 180² = 107425 → blue.
    decoded = decode_palette(image, palette)
    assert decoded.shape == (2, 2)
    assert decoded.tolist() == [[0, 1], [2, 3]]
    # A pixel exactly on a palette colour decodes to that colour's row.
    assert decode_palette(np.array([[BLUE, RED, BLACK]], np.uint8), palette).tolist() == [[3, 1, 0]]


def test_palette_miou_hand_computed() -> None:
    palette = np.array([BLACK, RED, GREEN])
    labels = np.array([[1, 1], [2, 0]])
    pred = palette[np.array([[1, 2], [2, 0]])].astype(np.uint8)
    # class 0: {(1,1)} vs {(1,1)} → 1; class 1: pred {(0,0)}, true {(0,0),(0,1)} → 1/2;
    # class 2: pred {(0,1),(1,0)}, true {(1,0)} → 1/2.  mIoU = (1 + 1/2 + 1/2)/3 = 2/3.
    assert palette_miou(pred, pred, labels, palette) == pytest.approx(2 / 3)
    # A class absent from both truth and prediction (blue) does not enter the mean.
    wider = np.array([BLACK, RED, GREEN, BLUE])
    assert palette_miou(pred, pred, labels, wider) == pytest.approx(2 / 3)
    assert palette_miou(palette[labels].astype(np.uint8), pred, labels, wider) == 1.0


def test_palette_miou_decodes_off_palette_colours() -> None:
    palette = np.array([BLACK, RED, GREEN])
    labels = np.array([[1, 1], [2, 0]])
    pred = np.array([[[230, 20, 10], [120, 200, 40]], [[30, 220, 25], [40, 35, 50]]], np.uint8)
    # Nearest: (230,20,10) red, (120,200,40) green, (30,220,25) green, (40,35,50) black:
    # the same decoded map [[1, 2], [2, 0]] as above → 2/3.
    assert decode_palette(pred, palette).tolist() == [[1, 2], [2, 0]]
    assert palette_miou(pred, pred, labels, palette) == pytest.approx(2 / 3)
    near = np.array([[[250, 5, 5], [240, 10, 0]], [[0, 250, 10], [5, 5, 5]]], np.uint8)
    assert palette_miou(near, near, labels, palette) == 1.0


def test_palette_miou_twin_colours_are_one_class() -> None:
    # Rows 1 and 3 are both red: an image cannot tell them apart.
    palette = np.array([BLACK, RED, GREEN, RED])
    for labels in (np.array([[3, 3], [2, 0]]), np.array([[1, 3], [2, 0]])):
        perfect = palette[labels].astype(np.uint8)
        assert palette_miou(perfect, perfect, labels, palette) == 1.0
    # Twins merged: true {red: (0,0),(0,1); green: (1,0); black: (1,1)}, prediction as in the
    # hand-computed test → (1 + 1/2 + 1/2)/3, not a 4-class mean.
    labels = np.array([[3, 1], [2, 0]])
    pred = palette[np.array([[1, 2], [2, 0]])].astype(np.uint8)
    assert palette_miou(pred, pred, labels, palette) == pytest.approx(2 / 3)


def test_palette_miou_rejects_wrong_label_shape() -> None:
    palette = np.array([BLACK, RED])
    pred = np.zeros((2, 2, 3), np.uint8)
    with pytest.raises(ValueError, match="labels must be"):
        palette_miou(pred, pred, np.zeros((2, 3), int), palette)
    with pytest.raises(ValueError, match="labels must be"):
        palette_miou(pred, pred, np.zeros(4, int), palette)


# --- Grid classification: accuracy and confusion -------------------------------------------------

GRID_LABELS = [0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1]


def test_symbol_grid_decodes_exactly() -> None:
    grid = symbol_grid(GRID_LABELS, (64, 64))
    assert decode(grid).tolist() == GRID_LABELS
    assert accuracy(grid, grid, np.array(GRID_LABELS)) == 1.0
    assert np.array_equal(
        confusion(decode(grid), GRID_LABELS, 7), np.diag([3, 3, 2, 2, 2, 2, 2])
    )  # counts of 0..6 in GRID_LABELS


def test_accuracy_and_confusion_with_two_wrong_cells() -> None:
    grid = symbol_grid(GRID_LABELS, (64, 64)).copy()
    where = cells((64, 64))
    # Cell 3 (true 3) shows class 5's symbol, cell 10 (true 3) shows class 0's.
    for index, shown in ((3, 5), (10, 0)):
        rows, cols = where[index]
        grid[rows, cols] = symbol(shown, (16, 16))
    truth = symbol_grid(GRID_LABELS, (64, 64))
    decoded = decode(grid)
    expected = list(GRID_LABELS)
    expected[3], expected[10] = 5, 0
    assert decoded.tolist() == expected
    assert accuracy(grid, truth, np.array(GRID_LABELS)) == pytest.approx(14 / 16)
    matrix = confusion(decoded, GRID_LABELS, 7)
    # Class 3 appears twice in the truth and both were misread: diagonal 3 → 0.
    want = np.diag([3, 3, 2, 0, 2, 2, 2])
    want[3, 5] = want[3, 0] = 1  # row = true, column = decoded
    assert np.array_equal(matrix, want)
    assert matrix.sum() == 16
    assert matrix[5, 3] == matrix[0, 3] == 0  # not transposed


# --- Pose Match Rate -----------------------------------------------------------------------------


def _blob(image: np.ndarray, x: int, y: int, colour: tuple[int, int, int]) -> None:
    """A 3×3 square centred on (x, y): its centroid is exactly (x, y)."""
    image[y - 1 : y + 2, x - 1 : x + 2] = colour


def _one_person() -> np.ndarray:
    keypoints = np.zeros((1, 17, 3))
    keypoints[0] = [
        [90, 90, 0],  # nose, not annotated: must not pull the head centroid
        [18, 18, 2],  # eyes
        [22, 18, 2],
        [16, 22, 1],  # ears (visibility 1 = labelled, occluded: still annotated)
        [24, 22, 2],
        [10, 40, 2],  # shoulders
        [30, 40, 2],
        [5, 50, 2],  # elbows
        [35, 50, 2],
        [4, 60, 2],  # wrists
        [36, 60, 2],
        [12, 70, 2],  # hips
        [28, 70, 2],
        [14, 85, 2],  # knees
        [26, 85, 2],
        [14, 98, 2],  # ankles
        [26, 98, 2],
    ]
    return keypoints


def test_reference_centroids_of_one_person() -> None:
    reference = reference_centroids(_one_person())
    # head (18+22+16+24)/4 = 20, (18+18+22+22)/4 = 20; torso (10+30+12+28)/4 = 20,
    # (40+40+70+70)/4 = 55; arms (5+35+4+36)/4 = 20, (50+50+60+60)/4 = 55; legs (20, 91.5).
    assert reference["head"].tolist() == [[20, 20]]
    assert reference["torso"].tolist() == [[20, 55]]
    assert reference["arms"].tolist() == [[20, 55]]
    assert reference["legs"].tolist() == [[20, 91.5]]


def test_match_rate_one_person_uses_20px() -> None:
    pred = np.zeros((100, 100, 3), np.uint8)
    _blob(pred, 20, 20, COLORS["head"])  # on the head centroid: matched
    _blob(pred, 20, 55, COLORS["torso"])  # on the torso centroid: matched
    _blob(pred, 50, 55, COLORS["arms"])  # 30 px right of the arms centroid (20, 55): ≥ 20, missed
    # no green: legs missed → 2 / 4
    assert match_rate(pred, pred, _one_person()) == 50.0
    # Moved to 19 px from the arms centroid it matches: 3 / 4.
    pred[54:57, 49:52] = 0
    _blob(pred, 39, 55, COLORS["arms"])
    assert match_rate(pred, pred, _one_person()) == 75.0
    # A green blob at the legs centroid (20, 91.5) ± 0.5 px: 4 / 4.
    pred[90:93, 19:22] = COLORS["legs"]  # centroid (20, 91)
    assert match_rate(pred, pred, _one_person()) == 100.0


def test_match_rate_ignores_unannotated_keypoints() -> None:
    keypoints = _one_person()
    keypoints[0, 13:17, 2] = 0  # legs not annotated: 3 reference centroids left
    pred = np.zeros((100, 100, 3), np.uint8)
    _blob(pred, 20, 20, COLORS["head"])
    _blob(pred, 20, 55, COLORS["torso"])
    _blob(pred, 50, 55, COLORS["arms"])  # still 30 px off → 2 / 3
    assert match_rate(pred, pred, keypoints) == pytest.approx(200 / 3)
    # A predicted part with no reference centroid costs nothing.
    _blob(pred, 80, 90, COLORS["legs"])
    assert match_rate(pred, pred, keypoints) == pytest.approx(200 / 3)


def _head_and_arms(people: list[tuple[tuple[float, float], tuple[float, float]]]) -> np.ndarray:
    """People with only the five head and four arm keypoints annotated, placed symmetrically
    (offsets ±2 / ±5 that cancel) around the given head and arms centroids."""
    keypoints = np.zeros((len(people), 17, 3))
    head_offsets = [(0, 0), (-2, -2), (2, -2), (-4, 2), (4, 2)]  # sum (0, 0)
    arm_offsets = [(-5, -5), (5, -5), (-5, 5), (5, 5)]  # sum (0, 0)
    for p, ((hx, hy), (ax, ay)) in enumerate(people):
        for j, (dx, dy) in zip(range(5), head_offsets, strict=True):
            keypoints[p, j] = [hx + dx, hy + dy, 2]
        for j, (dx, dy) in zip(range(7, 11), arm_offsets, strict=True):
            keypoints[p, j] = [ax + dx, ay + dy, 2]
    return keypoints


def test_match_rate_threshold_follows_head_distance() -> None:
    pred = np.zeros((120, 120, 3), np.uint8)
    _blob(pred, 20, 20, COLORS["head"])
    _blob(pred, 60, 20, COLORS["head"])
    _blob(pred, 20, 90, COLORS["arms"])  # 50 px below A's arms centroid (20, 40)
    two = _head_and_arms([((20, 20), (20, 40)), ((60, 20), (60, 40))])
    # Heads 40 px apart → threshold 1.5·40 = 60: A's arms match (50 < 60); B's arms (60, 40) are
    # √(40² + 50²) ≈ 64.0 px away: missed. Heads both matched → 3 / 4.
    assert match_rate(pred, pred, two) == 75.0
    # Person A alone: one head → 20 px, and the arms blob at 50 px is missed → 1 / 2.
    assert match_rate(pred, pred, two[:1]) == 50.0


def test_match_rate_threshold_is_mean_pairwise_head_distance() -> None:
    # Heads on a 3-4-5 triangle scaled by 10: gaps 30, 40, 50 → mean 40 → threshold 60 (in this
    # order, consecutive gaps alone would give 35, the nearest 45, the largest 75).
    heads = [(40, 10), (10, 10), (10, 50)]
    people = _head_and_arms([(h, (100, 100)) for h in heads])
    pred = np.zeros((120, 120, 3), np.uint8)
    for x, y in heads:
        _blob(pred, x, y, COLORS["head"])
    _blob(pred, 100, 45, COLORS["arms"])  # 55 px from the shared arms centroid (100, 100)
    # 3 heads + 3 arms centroids, all matched: 55 < 60 (but > 1.5·30 = 45, the nearest gap).
    assert match_rate(pred, pred, people) == 100.0
    pred[44:47, 99:102] = 0
    _blob(pred, 100, 39, COLORS["arms"])  # 61 px: missed → 3 / 6
    assert match_rate(pred, pred, people) == 50.0


def _standing(cx: float, top: float) -> np.ndarray:
    """One upright person, 20 px shoulders, arms down the sides, head at (cx, top + 8)."""
    person = np.zeros((17, 3))
    points = {
        0: (0, 8), 1: (-2, 6), 2: (2, 6), 3: (-4, 8), 4: (4, 8),
        5: (-10, 30), 6: (10, 30), 7: (-12, 45), 8: (12, 45), 9: (-12, 60), 10: (12, 60),
        11: (-8, 60), 12: (8, 60), 13: (-6, 80), 14: (6, 80), 15: (-6, 96), 16: (6, 96),
    }  # fmt: skip
    for j, (dx, dy) in points.items():
        person[j] = [cx + dx, top + dy, 2]
    return person


@pytest.mark.parametrize(
    ("keypoints", "size"),
    [
        (_standing(50, 0)[None], (100, 100)),
        (np.stack([_standing(40, 10), _standing(110, 5)]), (112, 160)),
    ],
)
def test_match_rate_render_pose_scores_full(keypoints: np.ndarray, size: tuple[int, int]) -> None:
    target = render_pose(keypoints, size)
    assert match_rate(target, target, keypoints) == 100.0
    assert match_rate(np.zeros_like(target), target, keypoints) == 0.0


def test_match_rate_render_pose_partial_annotation() -> None:
    keypoints = _standing(50, 0)[None]
    keypoints[0, [0, 3, 9, 10, 13, 14, 15, 16], 2] = 0  # no nose, ears, wrists or legs
    target = render_pose(keypoints, (100, 100))
    assert match_rate(target, target, keypoints) == 100.0
    assert match_rate(np.zeros_like(target), target, keypoints) == 0.0


def test_match_rate_needs_annotated_keypoints() -> None:
    keypoints = _one_person()
    keypoints[..., 2] = 0
    image = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(ValueError, match="no annotated keypoints"):
        match_rate(image, image, keypoints)
    with pytest.raises(ValueError, match="no annotated keypoints"):
        match_rate(image, image, np.zeros((0, 17, 3)))


# --- Metric registry sets ------------------------------------------------------------------------


def test_metric_direction_and_percent_sets() -> None:
    assert "abs_rel" in metrics.LOWER_IS_BETTER
    for name in ("psnr", "ssim", "psnr_masked", "ssim_masked", "delta1", "match_rate"):
        assert name not in metrics.LOWER_IS_BETTER
    # match_rate already returns percent: scaling it again would print 5000 %.
    assert "match_rate" not in metrics.PERCENT
    assert "abs_rel" not in metrics.PERCENT
    for name in metrics.LOWER_IS_BETTER | metrics.PERCENT:
        assert callable(getattr(metrics, name, None)), name
        assert inspect.isfunction(getattr(metrics, name)), name
