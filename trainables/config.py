"""One trial's settings as a flat, validated record: what a sweep module writes and MLflow logs.

Settings left out (None) take the backbone's own defaults, the paper's Table 3 (SPEC §3), with
a CPU-sized resolution and length at the tiny scale; sweeps override what they vary.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks import TRAJECTORIES, get_task, task_names
from trainables.backbones import (
    DEFAULT_PROMPT,
    LORA_GROUPS,
    backbone_defaults,
    backbone_names,
    backbone_scales,
    min_sample_steps,
    size_multiple,
)

#: Written beside a trial's adapter (`adapter/trial_config.json`): its settings, so that the
#: adapter folder alone says how to apply it (orchestrator.predict).
CONFIG_FILE = "trial_config.json"


@dataclass(frozen=True)
class TrialConfig:
    task: str
    n: int = 3
    dataset: str | None = None  # a real source of the task (tasks.datasets); None: embedded
    data_root: str | None = None
    seed: int = 42
    trajectory: str = "quadratic"
    backbone: str = "cogvideox"
    scale: str = "tiny"
    weights: str | None = None
    prompt: str = DEFAULT_PROMPT
    frames: int = 9
    # From the backbone's Table 3 defaults when None:
    modules: str | None = None
    rank: int | None = None
    alpha: float | None = None
    height: int | None = None
    width: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    beta1: float | None = None
    beta2: float | None = None
    weight_decay: float | None = None
    warmup_steps: int | None = None
    eps: float = 1e-8
    max_grad_norm: float = 1.0
    # Distribution: one process with ZeRO-2 by default; workers > 1 runs a group of ranks.
    zero_stage: int = 2
    workers: int = 1
    worker_cpus: float = 1.0  # CPUs per rank of a group (each also gets a whole GPU if any)
    offload_optimizer: bool = False
    gradient_checkpointing: bool = False
    # Regional torch.compile of the transformer's blocks: one-process trials (not ZeRO-3).
    compile: bool = False
    checkpoint_every: int = 100
    validate_every: int = 0  # 0: validate once, at the end
    log_every: int = 10
    n_val: int = 2
    sample_steps: int = 10
    sample_batch: int = 1  # validation inputs sampled at once (each backbone sets its own)
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
        backbone = values.get("backbone", "cogvideox")
        if backbone not in backbone_names():
            raise ValueError(
                f"unknown backbone {backbone!r}; allowed: {', '.join(backbone_names())}"
            )
        defaults = backbone_defaults(backbone, values.get("scale", "tiny"))
        given = {k: v for k, v in values.items() if v is not None or k not in defaults}
        config = cls(**{**defaults, **given})
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
        if self.scale not in backbone_scales(self.backbone):
            allowed = ", ".join(backbone_scales(self.backbone))
            raise ValueError(
                f"unknown scale {self.scale!r} for {self.backbone}; allowed: {allowed}"
            )
        get_task(self.task).check_n(self.n, self.n_val)  # the embedded pool; --data: the driver
        positive = (
            "steps",
            "batch_size",
            "rank",
            "checkpoint_every",
            "log_every",
            "n_val",
            "workers",
            "sample_batch",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        fewest = min_sample_steps(self.backbone)
        if self.sample_steps < fewest:
            raise ValueError(
                f"sample_steps must be ≥ {fewest} for {self.backbone}, got {self.sample_steps}"
            )
        if self.alpha <= 0 or self.lr <= 0:
            raise ValueError(f"alpha and lr must be positive, got {self.alpha} and {self.lr}")
        check_batch_over_ranks(self.batch_size, self.workers)
        if self.zero_stage not in (0, 1, 2, 3):
            raise ValueError(f"zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}")
        if self.compile and (self.zero_stage == 3 or self.workers > 1):
            raise ValueError(
                "compile is for one-process trials (zero_stage 0-2, workers 1): ZeRO-3 gathers "
                f"weights in hooks torch.compile does not trace; got zero_stage "
                f"{self.zero_stage}, workers {self.workers}"
            )
        if (self.dataset is None) != (self.data_root is None):
            raise ValueError("dataset and data_root go together: give both or neither")
        if self.dataset is not None:
            readable = get_task(self.task).datasets
            if self.dataset not in readable:
                raise ValueError(
                    f"task {self.task!r} cannot read dataset {self.dataset!r}; "
                    f"allowed: {', '.join(readable) or 'none'}"
                )
        multiple = size_multiple(self.backbone)
        if self.height % multiple or self.width % multiple or min(self.height, self.width) < 16:
            raise ValueError(
                f"resolution {self.height}×{self.width} must be multiples of {multiple} "
                f"for {self.backbone}"
            )

    @property
    def rank_batch_size(self) -> int:
        """Examples each rank draws a step: `batch_size` is the global batch (Table 3's), split
        over a group's ranks, never multiplied by them."""
        return self.batch_size // self.workers

    def as_params(self) -> dict[str, Any]:
        """Flat MLflow params (None becomes '' since MLflow params are strings), with the
        global batch a step trains on and its split over ranks said explicitly."""
        params = {k: ("" if v is None else v) for k, v in dataclasses.asdict(self).items()}
        params["effective_batch_size"] = self.rank_batch_size * self.workers
        params["batch_size_per_rank"] = self.rank_batch_size
        return params

    @classmethod
    def from_params(cls, params: dict[str, str]) -> TrialConfig:
        """The config whose `as_params` an MLflow run logged: each string back to its field's
        type ('' to None where the field takes None); names that are no field (the batch
        notes) are skipped, fields a run lacks take their defaults."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for name, text in params.items():
            if name not in hints:
                continue
            kinds = typing.get_args(hints[name]) or (hints[name],)
            kind = next(k for k in kinds if k is not type(None))
            if text == "" and type(None) in kinds:
                values[name] = None
            elif kind is bool:
                if text not in ("True", "False"):
                    raise ValueError(f"bad param {name}={text!r}; allowed: True, False")
                values[name] = text == "True"
            else:
                try:
                    values[name] = kind(text)
                except ValueError:
                    raise ValueError(
                        f"bad param {name}={text!r}; expected {kind.__name__}"
                    ) from None
        return cls.from_dict(values)

    def write_json(self, folder: Path) -> Path:
        """`folder/CONFIG_FILE`: every field, as `from_json` reads it back (atomically)."""
        from trainables.media import write_atomically

        text = json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True) + "\n"
        return write_atomically(Path(folder) / CONFIG_FILE, lambda tmp: tmp.write_text(text))

    @classmethod
    def from_json(cls, path: Path) -> TrialConfig:
        """The config `write_json` wrote (one line naming the file when it is not one)."""
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"unreadable trial config {str(path)!r}: {error}") from None
        if not isinstance(values, dict):
            raise ValueError(f"bad trial config {str(path)!r}: expected a JSON object")
        return cls.from_dict(values)


def check_batch_over_ranks(batch_size: int, workers: int, where: str = "") -> None:
    """A group of ranks splits the trial's batch: each rank must get a whole, equal part."""
    if workers > 1 and batch_size % workers:
        raise ValueError(
            f"bad batch_size {batch_size}{where} over {workers} ranks: the global batch is the "
            f"trial's batch_size, split over the ranks; allowed: a multiple of {workers}"
        )


def backbone_and_scale(trial: dict) -> tuple[str, str]:
    """What a trial's settings run on, the dataclass's defaults filled in (a sweep may leave the
    backbone out: it then runs CogVideoX, and must be placed as CogVideoX)."""
    return trial.get("backbone", TrialConfig.backbone), trial.get("scale", TrialConfig.scale)


@dataclass(frozen=True)
class MemorySettings:
    """The settings of a trial that move its GPU memory, as the trial will run them: unset ones
    take the backbone's defaults (`backbone_defaults(backbone, scale)`, then TrialConfig's own),
    and gradient checkpointing is on at full scale whatever the trial says, because
    `trainables.sweep_trial.with_placement` turns it on there."""

    backbone: str
    scale: str
    modules: str
    rank: int
    frames: int
    height: int
    width: int
    batch_size: int
    sample_batch: int
    offload_optimizer: bool
    gradient_checkpointing: bool
    workers: int


_MEMORY_FIELDS = tuple(f.name for f in dataclasses.fields(MemorySettings))


def memory_settings(trial: dict) -> MemorySettings:
    """`MemorySettings` of a trial's settings (a sweep's dict or `vars` of its TrialConfig: the
    same answer), resolved as `TrialConfig.from_dict` resolves them."""
    backbone, scale = backbone_and_scale(trial)
    defaults = backbone_defaults(backbone, scale)
    values = {}
    for name in _MEMORY_FIELDS[2:]:
        value = trial.get(name)
        values[name] = value if value is not None else defaults.get(name, _default(name))
    values["gradient_checkpointing"] = bool(values["gradient_checkpointing"]) or scale == "full"
    return MemorySettings(backbone=backbone, scale=scale, **values)


def _default(name: str) -> Any:
    return TrialConfig.__dataclass_fields__[name].default


def placement_key(trial: dict) -> str:
    """The kind of placement a trial shares with others. Tiny trials: by backbone and scale
    ("ltx/tiny"; their memory is small and their share fixed). Full-scale trials: by every
    setting that moves their memory (`MemorySettings`), so each gets a share sized by its own
    estimate, e.g. "cogvideox/full/QKVO/r256/9x480x720/b2/val2" (LoRA group, rank, frames ×
    height × width, batch size, validation inputs sampled at once), then "/offload" with the
    optimizer on the host and "/no-ckpt" without gradient checkpointing. Either way
    "/w<N>" where the trial pins its own group of N workers."""
    backbone, scale = backbone_and_scale(trial)
    key = f"{backbone}/{scale}"
    if scale == "full":
        s = memory_settings(trial)
        key += (
            f"/{s.modules}/r{s.rank}/{s.frames}x{s.height}x{s.width}/b{s.batch_size}"
            f"/val{s.sample_batch}"
        )
        key += "/offload" * s.offload_optimizer + "/no-ckpt" * (not s.gradient_checkpointing)
    workers = int(trial.get("workers", 1))
    return key if workers == 1 else f"{key}/w{workers}"
