"""Loaders of the real datasets the paper uses, each reading the dataset's own on-disk layout.

A missing or malformed dataset is one `DatasetError` naming the path and what was expected.
"""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """The dataset at a path is missing or not laid out as expected."""


def require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{str(path)!r} does not exist; expected {what}")
    return path
