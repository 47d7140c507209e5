"""LoRA on the frozen transformer through peft, with the backbone's explicit module names."""

from __future__ import annotations

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer

from trainables.backbones import Backbone, seeded


def add_lora(backbone: Backbone, group: str, rank: int, alpha: float, seed: int) -> list[str]:
    """Adapt exactly the modules the backbone names for `group`; return them.

    Names are checked against the model first, so a group can never silently come out empty or
    partial (peft would only complain when *none* of the names matched)."""
    if rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer, got {rank}")
    if alpha <= 0:
        raise ValueError(f"LoRA alpha must be positive, got {alpha}")
    targets = backbone.lora_targets(group)
    present = {name for name, _ in backbone.transformer.named_modules()}
    missing = [name for name in targets if name not in present]
    if not targets or missing:
        raise ValueError(
            f"LoRA group {group!r} names modules {backbone.name} does not have: "
            f"{', '.join(missing) or '(none named)'}"
        )
    config = LoraConfig(r=rank, lora_alpha=alpha, init_lora_weights=True, target_modules=targets)
    with seeded(seed):  # lora_A's Kaiming init draws from the global RNG
        backbone.transformer.add_adapter(config)
    return targets


def adapted_modules(model: torch.nn.Module) -> list[str]:
    """Names of the modules that carry a LoRA, as they were named before peft wrapped them."""
    return [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
