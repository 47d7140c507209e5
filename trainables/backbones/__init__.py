"""Backbone registry: one module per video diffusion model in this package, looked up by name."""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from pathlib import Path

from trainables.backbones.base import SCALES, Backbone, Sample

__all__ = [
    "Backbone",
    "Sample",
    "backbone_defaults",
    "backbone_scales",
    "backbone_names",
    "load",
    "micro_weights",
    "min_sample_steps",
    "size_multiple",
]

_NOT_BACKBONES = {"base"}


def backbone_names() -> list[str]:
    return list(_backbone_modules())


@functools.cache
def _backbone_modules() -> tuple[str, ...]:
    """Listed once per process: validating thousands of trial configs asks for them each time."""
    return tuple(
        sorted(
            info.name for info in pkgutil.iter_modules(__path__) if info.name not in _NOT_BACKBONES
        )
    )


def backbone_defaults(name: str, scale: str = "tiny") -> dict:
    """The backbone's paper settings (Table 3), with its CPU-sized overrides at `tiny` and
    `micro` (the micro backbone's own where it has one)."""
    module = importlib.import_module(f"{__name__}.{name}")
    small = {"tiny": module.TINY_DEFAULTS, "micro": getattr(module, "MICRO_DEFAULTS", {})}
    return {**module.DEFAULTS, **small.get(scale, {})}


def micro_weights(name: str) -> Path:
    """The repo's folder of `name`'s pretrained micro weights (hub layout)."""
    module = importlib.import_module(f"{__name__}.{name}")
    if not hasattr(module, "MICRO_FOLDER"):
        raise ValueError(f"{name} has no micro backbone; allowed scales: tiny, full")
    return module.MICRO_FOLDER


def backbone_scales(name: str) -> tuple[str, ...]:
    """The scales `name` loads at: `micro` only where the backbone ships pretrained micro
    weights (trainables.pretrain_micro)."""
    module = importlib.import_module(f"{__name__}.{name}")
    return tuple(s for s in SCALES if s != "micro" or hasattr(module, "MICRO_FOLDER"))


def paper_seconds_per_step(name: str, task: str = "") -> float:
    """A full-scale training step's cost for `task` in the paper (Table 6), for estimates;
    tasks the paper did not time on this backbone take its segmentation figure."""
    table = importlib.import_module(f"{__name__}.{name}").PAPER_SECONDS_PER_STEP
    return table.get(task, table["default"])


def min_sample_steps(name: str) -> int:
    """The fewest sampling steps the backbone's scheduler takes, checked before any trial."""
    return getattr(importlib.import_module(f"{__name__}.{name}"), "MIN_SAMPLE_STEPS", 1)


def size_multiple(name: str) -> int:
    """What height and width must be multiples of, checked before any trial starts."""
    return getattr(importlib.import_module(f"{__name__}.{name}"), "SIZE_MULTIPLE", 16)


def load(
    name: str, scale: str = "tiny", path: str | os.PathLike[str] | None = None, **kwargs
) -> Backbone:
    """`tiny`: real diffusers classes from small seeded configs; `micro`: the small pretrained
    weights shipped in the repo, loaded as `full` loads; `full`: a local hub-layout folder (a
    tiny model saved with `save_pretrained` also loads this way, through the same code)."""
    names = backbone_names()
    if name not in names:
        raise ValueError(f"unknown backbone {name!r}; allowed: {', '.join(names)}")
    if scale not in backbone_scales(name):
        allowed = ", ".join(backbone_scales(name))
        raise ValueError(f"unknown scale {scale!r} for {name}; allowed: {allowed}")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.load(scale=scale, path=path, **kwargs)
