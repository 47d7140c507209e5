"""Backbone registry: one module per video diffusion model in this package, looked up by name.

Every module of this package whose name does not start with an underscore is a backbone, named
by its module (docs/extending.md); `_base` holds the contract they share, re-exported here. A
backbone's facts are the class attributes of the one `Backbone` subclass its module defines
(`backbone_class`); reading them imports neither torch nor diffusers."""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
from pathlib import Path

from trainables.backbones._base import (
    DEFAULT_PROMPT,
    LORA_GROUPS,
    SCALES,
    Backbone,
    Sample,
    default_device,
    default_dtype,
)
from trainables.backbones._parts import seeded, tiny_t5_tokenizer, to_unit_range
from trainables.weight_sources import source_identity
from trainables.weights import weights_source

__all__ = [
    "DEFAULT_PROMPT",
    "LORA_GROUPS",
    "SCALES",
    "Backbone",
    "Sample",
    "backbone_class",
    "backbone_defaults",
    "backbone_scales",
    "backbone_names",
    "load",
    "micro_weights",
    "min_sample_steps",
    "paper_seconds_per_step",
    "size_multiple",
    "default_device",
    "default_dtype",
    "seeded",
    "tiny_t5_tokenizer",
    "to_unit_range",
    "weights_identity",
]


def backbone_names() -> list[str]:
    return list(_backbone_modules())


@functools.cache
def _backbone_modules() -> tuple[str, ...]:
    """Listed once per process: validating thousands of trial configs asks for them each time."""
    return tuple(
        sorted(
            info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")
        )
    )


@functools.cache
def backbone_class(name: str) -> type[Backbone]:
    """The `Backbone` subclass that module `trainables.backbones.<name>` defines: its class
    attributes are all the backbone's facts. Importing it imports no torch or diffusers."""
    names = backbone_names()
    if name not in names:
        raise ValueError(f"unknown backbone {name!r}; allowed: {', '.join(names)}")
    module = importlib.import_module(f"{__name__}.{name}")
    (found,) = (
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Backbone)
        and value.__module__ == module.__name__
    )
    return found


def backbone_defaults(name: str, scale: str = "tiny") -> dict:
    """The backbone's paper settings (Table 3), with its CPU-sized overrides at `tiny` and
    `micro` (the micro backbone's own where it has one)."""
    return backbone_class(name).settings(scale)


def micro_weights(name: str) -> Path:
    """The repo's folder of `name`'s pretrained micro weights (hub layout)."""
    folder = backbone_class(name).micro_folder
    if folder is None:
        raise ValueError(f"{name} has no micro backbone; allowed scales: tiny, full")
    return folder


def backbone_scales(name: str) -> tuple[str, ...]:
    """The scales `name` loads at: `micro` only where the backbone ships pretrained micro
    weights (trainables.pretrain_micro)."""
    return backbone_class(name).scales()


def paper_seconds_per_step(name: str, task: str = "") -> float:
    """A full-scale training step's cost for `task` in the paper (Table 6), for estimates;
    tasks the paper did not time on this backbone take its segmentation figure."""
    return backbone_class(name).seconds_per_step(task)


def min_sample_steps(name: str) -> int:
    """The fewest sampling steps the backbone's scheduler takes, checked before any trial."""
    return backbone_class(name).min_sample_steps


def size_multiple(name: str) -> int:
    """What height and width must be multiples of, checked before any trial starts."""
    return backbone_class(name).size_multiple


def weights_identity(
    name: str, scale: str = "tiny", path: str | os.PathLike[str] | None = None
) -> str:
    """The `source_id` that `load(name, scale, path)` would give, from the source's listing
    alone (nothing fetched): whether a kept backbone is still the weights the source holds."""
    backbone = backbone_class(name)
    source = weights_source(scale, path, backbone.hub_id, micro=backbone.micro_folder)
    if source is None:
        return backbone.tiny_id
    return source_identity(source, backbone.subfolders, backbone.hub_id)


def load(
    name: str, scale: str = "tiny", path: str | os.PathLike[str] | None = None, **kwargs
) -> Backbone:
    """`tiny`: real diffusers classes from small seeded configs; `micro`: the small pretrained
    weights shipped in the repo, loaded as `full` loads; `full`: a hub-layout folder, or a
    remote source fetched to this node first (trainables.weight_sources; a tiny model saved with
    `save_pretrained` also loads this way, through the same code)."""
    backbone = backbone_class(name)
    if scale not in backbone.scales():
        allowed = ", ".join(backbone.scales())
        raise ValueError(f"unknown scale {scale!r} for {name}; allowed: {allowed}")
    return backbone.load(scale=scale, path=path, **kwargs)
