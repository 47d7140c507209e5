"""How close two code paths must agree where they compute the same thing differently.

Bit-exact comparisons belong where the computation is literally the same (a resume, the same
call twice). Two code paths (LoRA inside the trial's DeepSpeed engine vs loaded by diffusers'
`load_lora_weights`; a fused vs an unfused kernel; another CPU's vector width) agree to float
rounding only: on an AVX-512-FP16 Xeon a trial's `val_psnr` was 12.101396356753288 and the
reloaded adapter's 12.101394874867918. These are the stated tolerances for such comparisons.
"""

from __future__ import annotations

import numpy as np
import torch

#: Pixels of two sampled videos may differ by at most this many grey levels (uint8)...
GREY_LEVELS = 1
#: ...on at most this share of the pixels; every other pixel is equal.
PIXEL_SHARE = 0.01
#: Latents: float32 rounding after a few dozen layers and sampling steps.
LATENT_ATOL = 1e-4
LATENT_RTOL = 1e-4
#: Metrics computed on such videos (PSNR in dB, SSIM, mIoU...): relative, with a floor.
METRIC_RTOL = 1e-4
METRIC_ATOL = 1e-6


def assert_videos_close(a: np.ndarray, b: np.ndarray) -> None:
    """uint8 videos (or frames) equal up to `GREY_LEVELS` on at most `PIXEL_SHARE` of pixels."""
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8, (a.shape, b.shape)
    difference = np.abs(a.astype(np.int16) - b.astype(np.int16))
    worst = int(difference.max())
    share = float(np.count_nonzero(difference) / difference.size)
    assert worst <= GREY_LEVELS, f"pixels differ by up to {worst} grey levels"
    assert share <= PIXEL_SHARE, f"{share:.2%} of pixels differ (at most {PIXEL_SHARE:.0%})"


def assert_latents_close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=LATENT_ATOL, rtol=LATENT_RTOL)


def metrics_close(a: dict[str, float], b: dict[str, float]) -> bool:
    """The same metric names, each value within `METRIC_RTOL` (or `METRIC_ATOL` near zero)."""
    return a.keys() == b.keys() and all(
        abs(a[k] - b[k]) <= max(METRIC_ATOL, METRIC_RTOL * abs(b[k])) for k in a
    )
