"""A trial that needs several devices (Wan2.1-14B under ZeRO-3): a Ray Train `TorchTrainer`
started from inside its Tune trial, whole devices per worker, DeepSpeed over NCCL on GPUs and
gloo on the CPU.

Ray 2.60's Train V2 cannot be handed to a Tuner, so the Tune trial drives it;
`TuneReportCallback` forwards rank 0's metrics to Tune. The Train run is named after the Tune
trial and stored in the sweep folder, so a restarted trial resumes from the group's own
(sharded) DeepSpeed checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray
from ray import train, tune
from ray.train.torch import TorchConfig, TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback

from trainables.config import TrialConfig
from trainables.trial import train as train_trial


class TrainSession:
    """Ray Train's per-worker session, seen through `trainables.trial.Session`."""

    def __init__(self, trial_id: str, trial_name: str) -> None:
        self.trial_id = trial_id
        self.trial_name = trial_name

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        checkpoint = train.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield Path(directory)

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None = None) -> None:
        checkpoint = (
            None if checkpoint_dir is None else train.Checkpoint.from_directory(str(checkpoint_dir))
        )
        train.report(metrics, checkpoint=checkpoint)


def worker_loop(loop_config: dict[str, Any]) -> None:
    config = TrialConfig.from_dict(loop_config["trial"])
    session = TrainSession(loop_config["trial_id"], loop_config["trial_name"])
    train_trial(config, session, loop_config.get("tracking"), loop_config.get("cache_dir"))


def run_worker_group(config: TrialConfig, tune_config: dict[str, Any]) -> None:
    context = tune.get_context()
    use_gpu = ray.cluster_resources().get("GPU", 0) > 0
    storage = tune_config.get("storage_dir") or str(Path(context.get_trial_dir()).parent)
    trainer = TorchTrainer(
        worker_loop,
        train_loop_config={
            "trial": dataclasses.asdict(config),
            "tracking": tune_config.get("tracking"),
            "cache_dir": tune_config.get("cache_dir"),
            "trial_id": context.get_trial_id(),
            "trial_name": context.get_trial_name(),
        },
        scaling_config=train.ScalingConfig(
            num_workers=config.workers,
            use_gpu=use_gpu,
            resources_per_worker={"CPU": config.worker_cpus, **({"GPU": 1} if use_gpu else {})},
        ),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=train.RunConfig(
            name=f"{context.get_trial_name()}-workers",
            storage_path=str(Path(storage) / "worker_groups"),
            callbacks=[TuneReportCallback()],
            failure_config=train.FailureConfig(max_failures=2),
            checkpoint_config=train.CheckpointConfig(num_to_keep=2),
        ),
    )
    trainer.fit()
