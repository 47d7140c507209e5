"""SPEC §1 metrics on single uint8 images; tasks average them over the validation pairs.

Looked up by name (`Task.metrics`), so a task declares what it is scored on without importing
anything, and the reporting layer can list metric names before any image exists.
"""

from __future__ import annotations

import math

import numpy as np
from skimage.metrics import structural_similarity

DATA_RANGE = 255.0


def _check_pair(pred: np.ndarray, target: np.ndarray) -> None:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape; got {pred.shape} and {target.shape}"
        )
    if pred.ndim != 3:
        raise ValueError(f"images must be H×W×C; got shape {pred.shape}")


def psnr(pred: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB with data range 255; identical images give inf rather than a division error,
    since a perfect prediction is a legitimate (if rare) outcome of a trial."""
    _check_pair(pred, target)
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(DATA_RANGE**2 / mse)


def ssim(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean SSIM over channels (skimage defaults: 7×7 window, so images must be at least 7×7)."""
    _check_pair(pred, target)
    return float(
        structural_similarity(
            np.asarray(pred, np.float64),
            np.asarray(target, np.float64),
            channel_axis=-1,
            data_range=DATA_RANGE,
        )
    )


def _binarize(image: np.ndarray, threshold: float) -> np.ndarray:
    gray = np.asarray(image, np.float64).mean(axis=-1) / DATA_RANGE
    return gray >= threshold


def _iou(pred: np.ndarray, target: np.ndarray) -> float:
    union = np.count_nonzero(pred | target)
    if union == 0:
        # A class absent from both is predicted perfectly; counting it 0 would punish a correct
        # all-black prediction of an empty mask.
        return 1.0
    return np.count_nonzero(pred & target) / union


def miou(pred: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Mean of the white-class and black-class IoU after thresholding gray (channel mean / 255)
    at `threshold`, as SPEC §1 defines it for binary segmentation.

    Returns a fraction in [0, 1]; the paper's tables print percent, so the reporting layer
    multiplies by 100 — keeping fractions here keeps every metric on its natural scale."""
    _check_pair(pred, target)
    white_pred, white_target = _binarize(pred, threshold), _binarize(target, threshold)
    white = _iou(white_pred, white_target)
    black = _iou(~white_pred, ~white_target)
    return (white + black) / 2.0
