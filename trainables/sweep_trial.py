"""A trial as a sweep runs it: Ray Tune's function trainable (`tune_trial`; the Tuner takes it as
`spot_aware_trainable`) places the trial as the resources policy says (`with_placement`) and runs
`trainables.trial.train` in its own process, or in each rank of a group of processes
(trainables.workers runs `trial_loop` there), with its checkpoints in the sweep's storage
(`StoredSession`).

Ray is imported only where it is used: `StoredSession` and `with_placement` also serve tests and
benchmarks that run a trial without it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from trainables import preemption
from trainables.checkpoints import CheckpointStore, trial_key
from trainables.config import TrialConfig, check_batch_over_ranks, placement_key
from trainables.devices import cap_cuda_memory
from trainables.engine import all_ranks, barrier, rank
from trainables.queued_reports import TUNE_REPORT_SECONDS, queued_reports
from trainables.storage import Storage
from trainables.trial import train


class StoredSession:
    """A trial's session in a sweep: checkpoints go to the sweep's storage under the trial's
    stable key (trainables.checkpoints), metrics to `publish` (Tune's report, or a group's rank
    0 forwarding them to it)."""

    def __init__(
        self, storage_uri: str, key: str, trial_name: str, publish: Callable[[dict], None]
    ) -> None:
        self.checkpoints = CheckpointStore(Storage(storage_uri), key)
        self.trial_id = key
        self.trial_name = trial_name
        self._publish = publish

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        # Rank 0 looks and tells the others: every rank resumes from the same step, and none
        # lists the trial's folder while rank 0 creates it (pyarrow's local listing can fail
        # on a folder made under it).
        step = None
        if rank() == 0:
            step = self.checkpoints.latest()
            self.checkpoints.record_attempt(0 if step is None else step)
        step = all_ranks(step)[0]
        if step is None:
            yield None
            return
        with tempfile.TemporaryDirectory() as tmp:
            yield self.checkpoints.restore(step, Path(tmp))

    def report(self, metrics: dict[str, float], checkpoint_dir: Path | None = None) -> None:
        if checkpoint_dir is not None:
            self.store(checkpoint_dir, int(metrics["step"]))
        self._publish(metrics)

    def store(self, checkpoint_dir: Path, step: int) -> None:
        """Put this rank's checkpoint files on the storage; rank 0 seals the step once every
        rank's are up."""
        self.checkpoints.upload(checkpoint_dir, step)
        barrier()  # every rank's shards are up before the manifest says so
        if rank() == 0:
            self.checkpoints.seal(step)
        barrier()


def with_placement(trial: TrialConfig, placement: dict[str, float]) -> TrialConfig:
    """The trial as the resources policy places it: a group of `workers` processes (sharded
    with ZeRO-3 when the policy spread it because no single card holds it), and gradient
    checkpointing at full scale, which the policy's memory estimates assume (a spread trial
    runs uncompiled: compile is for one process). Not part of the trial's identity: the same
    trial may be placed differently on another cluster."""
    workers = int(placement.get("workers", 1))
    changes: dict[str, Any] = {}
    if workers > trial.workers:
        check_batch_over_ranks(trial.batch_size, workers, " (placed by the resources policy)")
        changes.update(workers=workers, zero_stage=3, compile=False)
    if trial.scale == "full" and not trial.gradient_checkpointing:
        changes["gradient_checkpointing"] = True
    return dataclasses.replace(trial, **changes) if changes else trial


def tune_trial(config: dict[str, Any]) -> None:
    """The Ray Tune function trainable. `config` = {"trial": {...}, "tracking": {...},
    "cache_dir": ..., "storage_dir": ...}; a trial with several workers runs them as a group of
    rank processes in the bundles this Tune trial reserved (trainables.workers)."""
    import ray
    from ray import tune

    key = trial_key(config["trial"])
    placement = config.get("placement", {}).get(placement_key(config["trial"]), {})
    trial = with_placement(TrialConfig.from_dict(config["trial"]), placement)
    if trial.workers > 1:
        run_worker_group(trial, config, key, gpus_per_worker=placement.get("gpu", 0.0))
        return
    # torch would use every core of the node; a trial owns only its CPU share (and one thread
    # beats two at tiny sizes on a shared machine).
    assigned = ray.get_runtime_context().get_assigned_resources()
    torch.set_num_threads(max(1, int(assigned.get("CPU", 1.0))))
    share = assigned.get("GPU", 0.0)
    if 0 < share < 1:  # a fractional trial keeps to its share of the card
        cap_cuda_memory(share)
    name = tune.get_context().get_trial_name()
    with queued_reports(tune.report, TUNE_REPORT_SECONDS) as publish:
        session = StoredSession(config["storage_dir"], key, name, publish)
        # From here a spot notice (SIGTERM) means "checkpoint after the current step and stop".
        with preemption.training():
            train(
                trial, session, config.get("tracking"), config.get("cache_dir"), keep_backbone=True
            )


def run_worker_group(
    config: TrialConfig, tune_config: dict[str, Any], key: str, gpus_per_worker: float
) -> None:
    """A training trial of `config.workers` ranks (`config` is its placed TrialConfig)."""
    from ray import tune

    from trainables.workers import run_group

    run_group(
        trial_loop,
        {
            "trial": dataclasses.asdict(config),
            "tracking": tune_config.get("tracking"),
            "cache_dir": tune_config.get("cache_dir"),
            "trial_key": key,
            "trial_name": tune.get_context().get_trial_name(),
            "storage_dir": tune_config["storage_dir"],
        },
        workers=config.workers,
        worker_cpus=config.worker_cpus,
        gpus_per_worker=gpus_per_worker,
        publish=tune.report,
    )


def trial_loop(loop_config: dict[str, Any], _rank: int, publish: Callable[[dict], None]) -> None:
    """What each rank of a training group runs: the trial's own loop, on its shard (the rank
    is the process group's, which `train` joins)."""
    session = StoredSession(
        loop_config["storage_dir"],
        loop_config["trial_key"],
        loop_config["trial_name"],
        publish,
    )
    train(
        TrialConfig.from_dict(loop_config["trial"]),
        session,
        loop_config.get("tracking"),
        loop_config.get("cache_dir"),
    )


def release_device_memory() -> None:
    """Between two trials in one process: collect the last trial's model, engine and
    optimizer (DeepSpeed and peft leave reference cycles) and hand the CUDA allocator's cached
    blocks back, so the next trial starts from the memory a fresh process would have."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def spot_aware_trainable() -> type:
    """`tune_trial` as Tune's function trainable class, with the spot-notice handler installed
    when the trial's actor builds it (in the actor's main thread, where Python allows it)."""
    from ray.tune.trainable.function_trainable import wrap_function

    class SpotAwareTrial(wrap_function(tune_trial)):
        def setup(self, config: dict[str, Any]) -> None:
            preemption.clear()
            preemption.install()
            super().setup(config)

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            # A reused actor starts its next trial without a spot notice left over, and with
            # the device memory its last trial cached given back.
            preemption.clear()
            release_device_memory()
            return super().reset_config(new_config)

    SpotAwareTrial.__name__ = SpotAwareTrial.__qualname__ = "vdm_trial"
    return SpotAwareTrial
