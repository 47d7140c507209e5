"""One trial's settings as a flat, validated record: what a sweep module writes and MLflow logs.

Defaults are the paper's CogVideoX1.5 settings (SPEC §3, Table 3) at a tiny, CPU-sized
resolution and length; sweeps override what they vary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tasks import TRAJECTORIES, task_names
from trainables.backbones import backbone_names
from trainables.backbones.base import LORA_GROUPS, SCALES


@dataclass(frozen=True)
class TrialConfig:
    task: str
    n: int = 3
    seed: int = 42
    trajectory: str = "quadratic"
    modules: str = "QKVO"
    rank: int = 64
    alpha: float = 32.0
    backbone: str = "cogvideox"
    scale: str = "tiny"
    weights: str | None = None
    frames: int = 9
    height: int = 64
    width: int = 64
    steps: int = 200
    batch_size: int = 2
    lr: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    weight_decay: float = 1e-3
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    zero_stage: int = 2
    offload_optimizer: bool = False
    checkpoint_every: int = 100
    validate_every: int = 0  # 0: validate once, at the end
    log_every: int = 10
    n_val: int = 2
    sample_steps: int = 10
    videos_logged: int = 1

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrialConfig:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"unknown trial setting {unknown[0]!r}; allowed: {', '.join(sorted(fields))}"
            )
        if "task" not in values:
            raise ValueError("a trial config needs 'task'")
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        """Everything that can be checked without a model or data, so a bad sweep fails in the
        driver, before Ray starts, with one line naming the bad value."""
        choices = {
            "task": task_names(),
            "trajectory": list(TRAJECTORIES),
            "backbone": backbone_names(),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"unknown {name} {getattr(self, name)!r}; allowed: {', '.join(allowed)}"
                )
        if self.modules not in LORA_GROUPS:
            raise ValueError(
                f"unknown LoRA group {self.modules!r}; allowed: {', '.join(LORA_GROUPS)}"
            )
        if self.scale not in SCALES:
            raise ValueError(f"unknown scale {self.scale!r}; allowed: {', '.join(SCALES)}")
        positive = ("steps", "batch_size", "rank", "checkpoint_every", "log_every", "n_val")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.sample_steps < 1:
            raise ValueError(f"sample_steps must be ≥ 1, got {self.sample_steps}")
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}")
        if self.height % 16 or self.width % 16 or min(self.height, self.width) < 16:
            raise ValueError(
                f"resolution {self.height}×{self.width} must be multiples of 16 (VAE × patch)"
            )

    def as_params(self) -> dict[str, Any]:
        """Flat MLflow params (None becomes '' since MLflow params are strings)."""
        return {k: ("" if v is None else v) for k, v in dataclasses.asdict(self).items()}
