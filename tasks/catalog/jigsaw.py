"""Jigsaw (§4.2 restoration): the input is the photo cut in a K×K grid of patches, shuffled;
the target is the photo. Each pair has its own (seeded) shuffle that moves every patch."""

from __future__ import annotations

import numpy as np

from tasks.image_tasks import ImageTask
from tasks.registry import Pair

K = 3


def derangement(rng: np.random.Generator, count: int) -> np.ndarray:
    """A random order that leaves no patch in place, so no part of the input is already solved."""
    while True:
        order = rng.permutation(count)
        if not np.any(order == np.arange(count)):
            return order


class Jigsaw(ImageTask):
    name = "jigsaw"

    def transform(self, image: np.ndarray, index: int, size: tuple[int, int]) -> Pair:
        # Patches must be equal to be swapped: the remainder of a side under K pixels stays
        # where it is in both images.
        ph, pw = size[0] // K, size[1] // K
        patches = [
            image[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw] for r in range(K) for c in range(K)
        ]
        order = derangement(np.random.default_rng((index, 4)), K * K)
        x = image.copy()
        for slot, source in enumerate(order):
            r, c = divmod(slot, K)
            x[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw] = patches[source]
        return Pair(x=x, y=image)
