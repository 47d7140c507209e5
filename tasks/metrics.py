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


# How the reporting layer reads each metric: direction for best/second best, and which are
# fractions to print in percent (as the paper's tables do).
LOWER_IS_BETTER = frozenset({"abs_rel"})
PERCENT = frozenset({"miou", "palette_miou", "accuracy", "delta1"})


def _masked(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    _check_pair(pred, target)
    mask = np.asarray(mask, bool)
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must be H×W = {pred.shape[:2]}; got {mask.shape}")
    if not mask.any():
        raise ValueError("mask selects no pixel")
    return mask


def psnr_masked(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR over the pixels inside `mask` (all channels): what inpainting had to invent."""
    mask = _masked(pred, target, mask)
    return psnr(np.asarray(pred)[mask][None], np.asarray(target)[mask][None])


def ssim_masked(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """The mean of the SSIM map inside `mask`; the map is computed on the whole image, so the
    windows at the mask's border see the real context, as they would in a full-image SSIM."""
    mask = _masked(pred, target, mask)
    _, full = structural_similarity(
        np.asarray(pred, np.float64),
        np.asarray(target, np.float64),
        channel_axis=-1,
        data_range=DATA_RANGE,
        full=True,
    )
    return float(full.mean(axis=-1)[mask].mean())


def _aligned_depth(pred: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The prediction's gray mapped to depth by least squares (scale and shift), and the true
    depth, on the valid pixels (finite, > 0). Fitting in depth space makes a perfect linear
    near-is-bright rendering exact, whatever the sign of the scale."""
    depth = np.asarray(depth, np.float64)
    pred = np.asarray(pred)
    if pred.ndim != 3 or pred.shape[:2] != depth.shape:
        raise ValueError(f"pred must be H×W×C with H×W = {depth.shape}; got {pred.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    if valid.sum() < 2:
        raise ValueError("depth has fewer than 2 valid (finite, > 0) pixels")
    gray = pred.astype(np.float64).mean(axis=-1)[valid]
    truth = depth[valid]
    design = np.stack([gray, np.ones_like(gray)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, truth, rcond=None)
    # A non-positive estimate is as wrong as it gets; clamp it so the ratios stay finite.
    floor = truth.min() * 1e-3
    return np.maximum(scale * gray + shift, floor), truth


def abs_rel(pred: np.ndarray, target: np.ndarray, depth: np.ndarray) -> float:
    """Mean |d̂ − d| / d after least-squares scale and shift (SPEC §1, depth); lower is better."""
    estimate, truth = _aligned_depth(pred, depth)
    return float(np.mean(np.abs(estimate - truth) / truth))


def delta1(pred: np.ndarray, target: np.ndarray, depth: np.ndarray) -> float:
    """Share of valid pixels with max(d̂/d, d/d̂) < 1.25 after scale and shift; a fraction."""
    estimate, truth = _aligned_depth(pred, depth)
    return float(np.mean(np.maximum(estimate / truth, truth / estimate) < 1.25))


def decode_palette(image: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Each pixel's index of the nearest palette colour in L2 (H×W int). A k-d tree keeps memory
    at one row per pixel: the dense pixel × colour distance table of ADE20K's 151 colours at
    480×720 would be over a gigabyte."""
    from scipy.spatial import cKDTree

    image = np.asarray(image, np.float64)
    _, nearest = cKDTree(np.asarray(palette, np.float64)).query(image.reshape(-1, 3))
    return nearest.reshape(image.shape[:2])


def palette_miou(
    pred: np.ndarray, target: np.ndarray, labels: np.ndarray, palette: np.ndarray
) -> float:
    """mIoU of a colour-coded label map: the prediction is decoded to the nearest palette colour,
    then IoU is averaged over the classes present in the truth or the prediction (a fraction).

    `palette[k]` is the colour of class k, `labels` the true class per pixel."""
    labels = np.asarray(labels)
    if labels.shape != np.asarray(pred).shape[:2]:
        raise ValueError(f"labels must be H×W = {np.asarray(pred).shape[:2]}; got {labels.shape}")
    # Classes that share a colour (ADE20K's road and another both are 140,140,140) cannot be
    # told apart in an image: each is scored as the first class of its colour.
    _, first, same = np.unique(np.asarray(palette), axis=0, return_index=True, return_inverse=True)
    canonical = first[same.ravel()]
    decoded, labels = canonical[decode_palette(pred, palette)], canonical[labels]
    ious = [
        _iou(decoded == k, labels == k) for k in np.union1d(np.unique(decoded), np.unique(labels))
    ]
    return float(np.mean(ious))


def accuracy(pred: np.ndarray, target: np.ndarray, labels: np.ndarray) -> float:
    """Grid classification: the share of the 16 cells whose decoded symbol is the true class
    (a fraction); the task adds the confusion matrix over all validation grids."""
    from tasks.grid import decode

    _check_pair(pred, target)
    return float(np.mean(decode(pred) == np.asarray(labels)))


def confusion(decoded: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """classes × classes counts: row = true class, column = decoded class."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(labels).ravel(), np.asarray(decoded).ravel()), 1)
    return matrix


MATCH_FACTOR = 1.5  # × the mean distance between head centroids (SPEC §1)
MATCH_DEFAULT_PX = 20.0  # when fewer than two heads are annotated


def predicted_centroids(pred: np.ndarray) -> dict[str, np.ndarray]:
    """Decode a pose image by nearest colour (black or a part's) and return, per part, the
    centroids (x, y) of its connected components (8-connectivity)."""
    from scipy import ndimage

    from tasks.pose import BACKGROUND, COLORS

    parts = list(COLORS)
    decoded = decode_palette(pred, np.array([BACKGROUND, *COLORS.values()]))
    out = {}
    for k, part in enumerate(parts, start=1):
        components, count = ndimage.label(decoded == k, structure=np.ones((3, 3)))
        if count == 0:
            out[part] = np.zeros((0, 2))
            continue
        centers = ndimage.center_of_mass(np.ones_like(components), components, range(1, count + 1))
        out[part] = np.array([(x, y) for y, x in centers])
    return out


def match_rate(pred: np.ndarray, target: np.ndarray, keypoints: np.ndarray) -> float:
    """Pose Match Rate (SPEC §1, §B.1) in percent: the share of reference part centroids (from
    the annotated keypoints) with a predicted component centroid of the same part within
    1.5 × the mean distance between the people's head centroids (20 px under two heads)."""
    from tasks.pose import reference_centroids

    _check_pair(pred, target)
    reference = reference_centroids(keypoints)
    heads = reference["head"]
    if len(heads) >= 2:
        gaps = [np.hypot(*(a - b)) for i, a in enumerate(heads) for b in heads[i + 1 :]]
        threshold = MATCH_FACTOR * float(np.mean(gaps))
    else:
        threshold = MATCH_DEFAULT_PX
    predicted = predicted_centroids(pred)
    total = matched = 0
    for part, centers in reference.items():
        for center in centers:
            total += 1
            found = predicted[part]
            if len(found) and np.hypot(*(found - center).T).min() < threshold:
                matched += 1
    if total == 0:
        raise ValueError("no annotated keypoints to match against")
    return 100.0 * matched / total
