"""Content-addressed cache of what every trial of a sweep would otherwise recompute: the VAE
latents of transition videos, the conditioning features, the prompt embedding.

An entry's key is a hash of everything its value depends on (backbone, weights identity, the
exact video bytes, which already fix task data, trajectory, frames and resolution). Entries are
safetensors files written atomically (trainables.storage), so a reader never sees half a
file; two trials filling the same entry at once both compute it and the last rename
wins with an identical file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from trainables.storage import Storage

log = logging.getLogger(__name__)


def content_key(**parts: object) -> str:
    """sha256 over the parts; numpy arrays count by dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name in sorted(parts):
        value = parts[name]
        digest.update(name.encode())
        if isinstance(value, np.ndarray):
            digest.update(f"{value.dtype}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(json.dumps(value, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class TensorCache:
    """`fetch(key, compute)`; with no folder it only counts (every fetch computes). The folder
    is a local path or a storage URI (trainables.storage), so a cluster's trials share it."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.storage = Storage(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _parts(key: str) -> tuple[str, str]:
        return key[:2], f"{key}.safetensors"

    def fetch(
        self, key: str, compute: Callable[[], dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        if self.storage is not None and self.storage.exists(*self._parts(key)):
            try:
                value = load(self.storage.read_bytes(*self._parts(key)))
            except (SafetensorError, OSError) as error:  # never trust a damaged entry
                log.warning("latent cache: recomputing unreadable entry %s (%s)", key, error)
            else:
                self.hits += 1
                return value
        self.misses += 1
        value = compute()
        if self.storage is not None:
            tensors = {k: v.detach().cpu().contiguous() for k, v in value.items()}
            self.storage.write_bytes(save(tensors), *self._parts(key))
        return value

    def summary(self) -> str:
        where = self.storage.uri if self.storage is not None else "off"
        return f"latent cache ({where}): {self.hits} hits, {self.misses} misses"
