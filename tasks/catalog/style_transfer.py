"""Style transfer (§4.1): the target is the photo in one fixed style, a poster-like rendering
(smoothed, quantized to a warm 6-colour palette, dark edges) that is exact and needs no style
network, so its PSNR/SSIM against the styled target are well defined."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.filters import sobel

from tasks.image_tasks import ImageTask
from tasks.registry import Pair

PALETTE = np.array(
    [[38, 20, 45], [140, 45, 60], [225, 110, 60], [245, 200, 110], [90, 140, 150], [250, 240, 220]],
    np.float64,
)
EDGE = 0.12  # Sobel magnitude (on [0, 1] luma) above which a pixel is inked


def stylize(image: np.ndarray) -> np.ndarray:
    smooth = gaussian_filter(image.astype(np.float64), sigma=(1.0, 1.0, 0))
    nearest = ((smooth[..., None, :] - PALETTE) ** 2).sum(axis=-1).argmin(axis=-1)
    out = PALETTE[nearest]
    edges = sobel(smooth.mean(axis=-1) / 255.0) > EDGE
    out[edges] = PALETTE[0]
    return out.astype(np.uint8)


class StyleTransfer(ImageTask):
    name = "style_transfer"

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        return Pair(x=image, y=stylize(image))
