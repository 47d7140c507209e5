"""The full-size backbones' hub configs, as JSON files laid out as their hub repos ship them.

`<backbone>/<subfolder>/config.json` (`scheduler/scheduler_config.json`) for CogVideoX1.5-5B-I2V,
LTX-Video 0.9.0 and Wan2.1-I2V-14B-480P: each backbone's `hub_id` repo, the subfolders its
`hub_configs` names (`trainables.backbones.backbone_class`). No weights can be downloaded
where the project is built and tested, so the files are reconstructed; SOURCES.md beside this
file says where each value comes from. Plain JSON: reading them imports neither torch nor
diffusers, so `orchestrator.gpu_estimates` sizes trials from them at no import cost, and tests
build the real models from them on the meta device.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from trainables.backbones import backbone_class, backbone_names

_ROOT = Path(__file__).parent


def hub_folder(backbone: str) -> Path:
    """The folder standing for `backbone`'s hub repo (its subfolders hold the configs of
    `backbone_class(backbone).hub_configs`)."""
    names = backbone_names()
    if backbone not in names:
        raise ValueError(f"unknown backbone {backbone!r}; allowed: {', '.join(names)}")
    return _ROOT / backbone


def hub_config(backbone: str, subfolder: str) -> dict:
    """The JSON of `backbone`'s `subfolder` config (a fresh dict: callers may change it)."""
    folder = hub_folder(backbone)
    subfolders = backbone_class(backbone).hub_configs
    if subfolder not in subfolders:
        raise ValueError(
            f"unknown subfolder {subfolder!r} of {backbone}; allowed: {', '.join(subfolders)}"
        )
    name = "scheduler_config.json" if subfolder == "scheduler" else "config.json"
    return json.loads(_read(folder / subfolder / name))


def build_on_meta(backbone: str, subfolder: str) -> Any:
    """The full-size model a hub config describes, on the meta device (no memory, no weights): the
    diffusers class its `_class_name` names, or the transformers class its `architectures` names,
    from its `model_type`'s config class."""
    import diffusers
    import torch
    import transformers

    config = hub_config(backbone, subfolder)
    with torch.device("meta"):
        if "_class_name" in config:
            return getattr(diffusers, config["_class_name"]).from_config(config)
        given = {k: v for k, v in config.items() if k not in ("architectures", "model_type")}
        config_class = type(transformers.AutoConfig.for_model(config["model_type"]))
        return getattr(transformers, config["architectures"][0])(config_class(**given))


@cache
def _read(path: Path) -> str:
    return path.read_text()
