"""Metrics on hand-made images whose answers are known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.metrics import miou, psnr, ssim


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
