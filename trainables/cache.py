"""Content-addressed cache of what every trial of a sweep would otherwise recompute: the VAE
latents of transition videos, the conditioning features, the prompt embedding.

An entry's key is a hash of everything its value depends on (backbone, weights identity, the
exact video bytes, which already fix task data, trajectory, frames and resolution). Entries are
safetensors files written to a temporary name and renamed into place, so a reader never sees
half a file; two trials filling the same entry at once both compute it and the last rename
wins with an identical file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

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
    """`fetch(key, compute)`; with no folder it only counts (every fetch computes)."""

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key[:2] / f"{key}.safetensors"

    def fetch(
        self, key: str, compute: Callable[[], dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        path = self.path(key)
        if path is not None and path.exists():
            try:
                value = load_file(path)
            except (SafetensorError, OSError) as error:  # never trust a damaged entry
                log.warning("latent cache: recomputing unreadable %s (%s)", path, error)
            else:
                self.hits += 1
                return value
        self.misses += 1
        value = compute()
        if path is not None:
            self._write(path, value)
        return value

    @staticmethod
    def _write(path: Path, value: dict[str, torch.Tensor]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file({k: v.detach().cpu().contiguous() for k, v in value.items()}, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def summary(self) -> str:
        where = self.root if self.root is not None else "off"
        return f"latent cache ({where}): {self.hits} hits, {self.misses} misses"
