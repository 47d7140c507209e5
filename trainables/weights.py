"""Weights on disk: a backbone's weights folder (its layout checked before diffusers reads it,
its identity for cache keys, its content digest for the run's record; remote sources:
trainables.weight_sources), the repo's pretrained
micro weights, and the bytes of a written LoRA adapter file (metadata and header in one order,
so one adapter gives one file).

Plain files and hashes: nothing here imports torch, so the sweep's driver checks folders without
it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Pretrained micro backbones shipped in the repo, one hub-layout folder each
#: (`python -m trainables.pretrain_micro` writes them).
MICRO_WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def require_folder(path: str | os.PathLike[str], subfolders: tuple[str, ...], hub_id: str) -> Path:
    """Fail with one line naming what is missing, before diffusers fails with ten."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(
            f"weights folder {str(root)!r} does not exist; expected {hub_id} layout"
        )
    missing = [name for name in subfolders if not (root / name).is_dir()]
    if missing:
        raise FileNotFoundError(
            f"weights folder {str(root)!r} lacks {', '.join(missing)}; expected the "
            f"{hub_id} layout with subfolders {', '.join(subfolders)}"
        )
    return root


def weights_source(
    scale: str,
    path: str | os.PathLike[str] | None,
    hub_id: str,
    micro: Path | None = None,
) -> str | os.PathLike[str] | None:
    """None for the tiny build; for `micro`, the repo's pretrained folder `micro` (or `path`);
    for `full`, `path`: a folder or a remote source laid out as `hub_id`
    (trainables.weight_sources checks and fetches it)."""
    if scale == "tiny" and path is None:
        return None
    if scale == "micro" and path is None:
        if micro is None:
            raise ValueError(f"{hub_id} has no micro backbone; allowed scales: tiny, full")
        return micro
    if path is None:
        raise ValueError(
            f"scale {scale!r} needs a local weights folder (path), or a storage or hf:// URI, "
            f"laid out as {hub_id}"
        )
    return path


def weights_digest(root: Path) -> str:
    """A short content hash of a folder's weight files: says which pretrained weights ran
    (a micro folder is a few MB, so hashing its bytes is cheap)."""
    digest = hashlib.sha256()
    for file in sorted(Path(root).rglob("*.safetensors")):
        digest.update(file.relative_to(root).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def file_identity(root: Path, *relative: str) -> str:
    """Cheap identity of weight files (path, size, mtime): hashing GBs per trial is not."""
    parts = [str(root.resolve())]
    for name in relative:
        for file in sorted((root / name).glob("*")):
            stat = file.stat()
            parts.append(f"{name}/{file.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def adapter_metadata(transformer: torch.nn.Module) -> dict[str, Any]:
    """The LoRA config as an adapter file's metadata, with every set as a sorted list: peft keeps
    `target_modules` as a set, whose order (and so the file's bytes) changes from process to
    process with string hashing; one config must give one file."""
    config = transformer.peft_config["default"].to_dict()
    return {
        key: sorted(value) if isinstance(value, set | frozenset) else value
        for key, value in config.items()
    }


def canonicalize_safetensors_header(path: Path) -> None:
    """Rewrite a safetensors file's JSON header with its keys sorted, in place and atomically.

    safetensors writes its `__metadata__` map in the Rust HashMap's order, which is seeded per
    process ("format" and "lora_adapter_metadata" swap places run to run), so the same tensors
    and metadata would give different bytes. Written by hand: no library option orders the header.
    The tensor entries carry their own offsets, so only the header's bytes change; its length
    stays the same (the same JSON, reordered) and it is padded with spaces as safetensors pads.
    """
    import json
    import struct

    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    ordered = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    if len(ordered) > length:  # not the compact JSON safetensors writes: leave the file as is
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data[:8] + ordered.ljust(length, b" ") + data[8 + length :])
    os.replace(temporary, path)
