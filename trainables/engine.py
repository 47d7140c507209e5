"""The DeepSpeed engine of one trial and its checkpoints.

One process per fractional-GPU trial: DeepSpeed runs with world size 1 (ZeRO-2 by default, the
optimizer optionally offloaded). DeepSpeed insists on a process group even then, so we make one on
127.0.0.1 with a free port; Ray reuses worker processes across trials, so an existing group is kept.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import deepspeed
import torch
import torch.distributed as dist

CHECKPOINT_TAG = "state"
# A checkpoint file at least this big is written on the background thread (write_checkpoints_with).
BACKGROUND_WRITE_MIN_BYTES = 32 << 20

# DeepSpeed logs every engine build and checkpoint at INFO: dozens of lines per trial.
deepspeed.utils.logger.setLevel(logging.WARNING)


@dataclass(frozen=True)
class OptimSettings:
    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float
    warmup_steps: int
    max_grad_norm: float
    batch_size: int
    zero_stage: int = 2
    offload_optimizer: bool = False
    # ZeRO-3 keeps parameters below this many elements whole on every rank (DeepSpeed's default
    # 1e5). Tiny models are all below it, so tiny trials set 0: their weights are then released
    # and gathered as a full-scale model's are, and the tests cover that path.
    persistence_threshold: int | None = None


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now ("" for every interface: a group's rendezvous on its node)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def ensure_process_group() -> None:
    """Join the group the trial's ranks made (trainables.workers), or make a single-rank one
    on 127.0.0.1. DeepSpeed tries MPI discovery (and fails) unless the rendezvous variables are
    set, even for a made group."""
    if dist.is_initialized():
        os.environ.setdefault("RANK", str(dist.get_rank()))
        os.environ.setdefault("WORLD_SIZE", str(dist.get_world_size()))
        os.environ.setdefault("LOCAL_RANK", os.environ.get("RANK", "0"))
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
    else:
        os.environ.update(
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(free_port()),
            RANK="0",
            LOCAL_RANK="0",
            WORLD_SIZE="1",
        )
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    deepspeed.init_distributed(dist_backend=backend, verbose=False)


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def all_ranks(value: object) -> list:
    """Every rank's `value`, in rank order (a list of one outside a group)."""
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return [value]
    values: list = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def barrier() -> None:
    """Wait for every rank (nothing outside a group)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def full_parameters(
    engine: deepspeed.DeepSpeedEngine, trainable_only: bool = False
) -> contextlib.AbstractContextManager:
    """Under ZeRO-3 every rank holds a shard of each weight: gather them (a collective every
    rank joins). `trainable_only`: just the LoRA weights, for export; a model sharded because
    no card holds it must never be gathered whole. Under ZeRO-0/1/2 weights are whole already."""
    if engine.zero_optimization_stage() != 3:
        return contextlib.nullcontext()
    params = [p for p in engine.module.parameters() if p.requires_grad or not trainable_only]
    return deepspeed.zero.GatheredParameters(params, modifier_rank=None)


def samples_on_every_rank(engine: deepspeed.DeepSpeedEngine) -> bool:
    """Whether every rank must run the model to sample: under ZeRO-3 with several ranks, each
    forward gathers its layers' weights from all ranks, so all ranks run it in lockstep (and
    only rank 0 keeps the result). Elsewhere rank 0 samples alone."""
    return engine.zero_optimization_stage() == 3 and dist.get_world_size() > 1


def shard_fraction(engine: deepspeed.DeepSpeedEngine) -> float:
    """The share of the model's parameters this rank holds (1.0 unless ZeRO-3 partitions)."""
    params = list(engine.module.parameters())
    if not all(hasattr(p, "ds_numel") for p in params):
        return 1.0
    return sum(p.ds_tensor.numel() for p in params) / sum(p.ds_numel for p in params)


def zero_stage(settings: OptimSettings, world_size: int) -> int:
    """The ZeRO stage the engine gets. Stages 1 and 2 partition optimizer state and gradients
    across ranks: in one process they partition nothing, yet cost ~20 % of a tiny step in
    gradient bucketing (BENCHMARKS.md, step overhead), so one rank gets stage 0, unless the
    optimizer is offloaded (DeepSpeed offloads only from stage 1 up). Stage 3 is kept as asked:
    it also changes how weights are held and gathered."""
    if world_size == 1 and settings.zero_stage in (1, 2) and not settings.offload_optimizer:
        return 0
    return settings.zero_stage


def deepspeed_config(settings: OptimSettings, bf16: bool, world_size: int = 1) -> dict[str, Any]:
    zero: dict[str, Any] = {"stage": zero_stage(settings, world_size)}
    if settings.persistence_threshold is not None:
        zero["stage3_param_persistence_threshold"] = settings.persistence_threshold
    if settings.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    return {
        "train_micro_batch_size_per_gpu": settings.batch_size,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": settings.max_grad_norm,
        "zero_optimization": zero,
        # torch's AdamW is what the paper's scripts use; DeepSpeed only vouches for its own.
        "zero_allow_untested_optimizer": True,
        "zero_force_ds_cpu_optimizer": False,
        "bf16": {"enabled": bf16},
        "steps_per_print": 1 << 30,
        "wall_clock_breakdown": False,
    }


def build_engine(model: torch.nn.Module, settings: OptimSettings) -> deepspeed.DeepSpeedEngine:
    ensure_process_group()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing to train: the model has no trainable parameters")
    # With the optimizer offloaded to host memory on a GPU machine, DeepSpeed's vectorized CPU
    # AdamW is the fast one (a one-off JIT build); on a CPU-only machine torch's AdamW is the
    # same update without that build.
    optimizer_class = torch.optim.AdamW
    if settings.offload_optimizer and torch.cuda.is_available():
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer_class = functools.partial(DeepSpeedCPUAdam, adamw_mode=True)
    optimizer = optimizer_class(
        params,
        lr=settings.lr,
        betas=settings.betas,
        eps=settings.eps,
        weight_decay=settings.weight_decay,
    )
    warmup = settings.warmup_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    )
    bf16 = next(model.parameters()).dtype == torch.bfloat16
    world_size = dist.get_world_size()
    config = deepspeed_config(settings, bf16, world_size)
    if config["zero_optimization"]["stage"] == 3:
        partition_onto_device(model, config)
    else:
        use_torch_linear()
    engine, _, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, lr_scheduler=scheduler, config=config
    )
    if world_size == 1 and engine.zero_optimization_stage() == 0:
        lighten_single_process(engine, params, settings.max_grad_norm)
    return engine


def partition_onto_device(model: torch.nn.Module, config: dict[str, Any]) -> None:
    """ZeRO-3 from a model in host memory (`Backbone.transformer_on_host`). Given a model that
    is not partitioned yet, DeepSpeed's engine first moves all of it to the device, then
    partitions it: a rank briefly holds the whole transformer, which is what a card too small
    for it cannot. `deepspeed.zero.Init(module=...)` (the same conversion the engine runs after
    its move) takes each weight to the device and keeps this rank's shard, one at a time; the
    engine then leaves the module where it is. So what the engine does to an unconverted model
    is done here: its buffers (never partitioned) go to the device, and with bf16 on, the
    weights are cast first (the LoRA weights peft keeps in fp32 included), as the engine casts."""
    if config["bf16"]["enabled"]:
        for param in model.parameters():
            if param.is_floating_point() and param.dtype != torch.bfloat16:
                param.data = param.data.to(torch.bfloat16)
    partitioning = deepspeed.zero.Init(module=model, config_dict_or_path=config)
    # The weights are this rank's shards now; `to` moves the buffers (and the weights' empty
    # placeholders, which are on the device already).
    model.to(partitioning.local_device)


def use_torch_linear() -> None:
    """ZeRO-3 swaps `torch.nn.functional.linear` for its own, process-wide, for good (DeepSpeed's
    `memory_efficient_linear`); in a process that ran a ZeRO-3 trial before, whole weights would
    then fail in it ("mat2 must be a matrix"). Put torch's back; a ZeRO-3 engine swaps it again.
    Written by hand: DeepSpeed keeps the original only in this class attribute."""
    from deepspeed.runtime.zero.partition_parameters import (
        InsertPostInitMethodToModuleSubClasses as ZeroInit,
    )

    original = getattr(ZeroInit, "linear_bk", None)
    if original is not None:
        torch.nn.functional.linear = original


def lighten_single_process(
    engine: deepspeed.DeepSpeedEngine, params: list[torch.nn.Parameter], max_norm: float
) -> None:
    """Drop what a one-process fp32 engine does for nothing, ~15 % of a tiny step in all
    (BENCHMARKS.md, step overhead). Written by hand: DeepSpeed has no switch for these.
    - the all-reduce of every gradient after backward, through flat buffers, with nobody to
      reduce with;
    - its gradient clipping (a Python loop over tensors and an all-reduce of the norm): torch's
      `clip_grad_norm_` over the trainable parameters is the same norm and scaling, fused;
    - its `zero_grad`, which walks every parameter of the model, frozen ones too: the
      optimizer's own walks the trainable ones.
    Only the fp32 path calls these two methods (bf16 and ZeRO engines clip and zero in their
    own optimizers)."""
    engine.enable_backward_allreduce = False
    engine.clip_fp32_gradients = lambda: torch.nn.utils.clip_grad_norm_(
        params, max_norm, foreach=True
    )
    engine.zero_grad = lambda *args, **kwargs: engine.optimizer.zero_grad(set_to_none=True)


def save_checkpoint(engine: deepspeed.DeepSpeedEngine, directory: Path, state: dict) -> None:
    """Adapter weights, optimizer, LR scheduler (DeepSpeed) plus our own `state` (step, RNG, run
    id). Frozen base weights are left out: they are rebuilt, and would triple the size."""
    engine.save_checkpoint(
        str(directory), tag=CHECKPOINT_TAG, client_state=state, exclude_frozen_parameters=True
    )


def write_checkpoints_with(
    engine: deepspeed.DeepSpeedEngine, submit: Callable[[Callable[[], None]], None]
) -> None:
    """Have `save_checkpoint` hand its bigger file writes to `submit`
    (trainables.background_writes) instead of writing them in line: DeepSpeed's own torch
    checkpoint engine, whose `save` takes a host copy of the state right away (the next
    optimizer step changes the tensors in place) and queues the pickling and writing. A state
    under `BACKGROUND_WRITE_MIN_BYTES` is written in line: its cost is pickling, Python that
    holds the GIL against the training thread (tiny trials measured ~1 % slower per step with it
    queued, BENCHMARKS.md), while a full-scale state's is disk time that does not. DeepSpeed's
    pluggable checkpoint engine is the place for this; none of its built-in ones writes in the
    background without an extra process."""
    from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine
    from torch.utils._pytree import tree_leaves, tree_map_only

    class QueuedTorchCheckpointEngine(TorchCheckpointEngine):
        def save(self, state_dict: dict, path: str) -> None:
            tensors = [t for t in tree_leaves(state_dict) if isinstance(t, torch.Tensor)]
            if sum(t.nbytes for t in tensors) < BACKGROUND_WRITE_MIN_BYTES:
                super().save(state_dict, path)
                return
            copy = tree_map_only(
                torch.Tensor, lambda t: t.detach().to("cpu", copy=True), state_dict
            )
            submit(functools.partial(TorchCheckpointEngine.save, self, copy, path))

    engine.checkpoint_engine = QueuedTorchCheckpointEngine(engine._config)


def load_checkpoint(engine: deepspeed.DeepSpeedEngine, directory: Path) -> dict:
    path, state = engine.load_checkpoint(
        str(directory), tag=CHECKPOINT_TAG, load_module_strict=False
    )
    if path is None:
        raise FileNotFoundError(f"no DeepSpeed checkpoint under {str(directory)!r}")
    return state
