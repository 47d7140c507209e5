"""A trial that needs several devices (Wan2.1-14B under ZeRO-3): a Ray Train `TorchTrainer`
started from inside its Tune trial, whole devices per worker, DeepSpeed over NCCL on GPUs and
gloo on the CPU.

Ray 2.60's Train V2 cannot be handed to a Tuner, so the Tune trial drives it;
`TuneReportCallback` forwards rank 0's metrics to Tune. Every rank puts its DeepSpeed shards in
the trial's checkpoint folder on the sweep's storage (trainables.checkpoints) and rank 0 seals
it, so a restarted group resumes from its newest complete sharded checkpoint.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ray
import torch
from ray import train, tune
from ray.train.torch import TorchConfig, TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from trainables.config import TrialConfig
from trainables.storage import Storage
from trainables.trial import StoredSession
from trainables.trial import train as train_trial


def worker_loop(loop_config: dict[str, Any]) -> None:
    config = TrialConfig.from_dict(loop_config["trial"])
    session = StoredSession(
        loop_config["storage_dir"],
        loop_config["trial_key"],
        loop_config["trial_name"],
        lambda metrics: train.report(metrics),
    )
    train_trial(config, session, loop_config.get("tracking"), loop_config.get("cache_dir"))


def group_scaling(config: TrialConfig) -> tuple[train.ScalingConfig, TorchConfig]:
    """Whole devices per worker, so no two ranks of a group ever share one: Ray hands each
    worker its own GPU ids. NCCL where the workers' torch is a CUDA build; gloo on the CPU and on
    logical GPUs (`ray.init(num_gpus=...)`, as the tests run it)."""
    use_gpu = ray.cluster_resources().get("GPU", 0) > 0
    scaling = train.ScalingConfig(
        num_workers=config.workers,
        use_gpu=use_gpu,
        resources_per_worker={"CPU": config.worker_cpus, **({"GPU": 1} if use_gpu else {})},
    )
    return scaling, TorchConfig(backend="nccl" if use_gpu and torch.version.cuda else "gloo")


def run_worker_group(config: TrialConfig, tune_config: dict[str, Any], key: str) -> None:
    context = tune.get_context()
    storage = Storage(tune_config["storage_dir"])
    scaling, torch_config = group_scaling(config)
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={
            "trial": dataclasses.asdict(config),
            "tracking": tune_config.get("tracking"),
            "cache_dir": tune_config.get("cache_dir"),
            "trial_key": key,
            "trial_name": context.get_trial_name(),
            "storage_dir": tune_config["storage_dir"],
        },
        scaling_config=scaling,
        torch_config=torch_config,
        run_config=train.RunConfig(
            # Named by the trial's stable key, so a restored or retried trial finds its group.
            name=f"{key}-workers",
            storage_path=storage.path("worker_groups"),
            storage_filesystem=storage.fs,
            callbacks=[TuneReportCallback()],
            failure_config=train.FailureConfig(max_failures=2),
            checkpoint_config=train.CheckpointConfig(num_to_keep=2),
        ),
    )
    trainer.fit()
