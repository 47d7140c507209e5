"""A trial that needs several devices (Wan2.1-14B under ZeRO-3): a group of rank processes,
one whole device each, started by its Tune trial inside the trial's own placement group,
DeepSpeed over NCCL on GPUs and gloo on the CPU.

Tune reserves the trial's process (bundle 0) and every rank's device (bundles 1..k) at once,
when it places the trial (`orchestrator.resources.TrialResources.bundles`). Written by hand
rather than with Ray Train: Ray 2.60's Train V2 cannot be handed to a Tuner, and a
`TorchTrainer` started inside a Tune trial asks for its GPUs only once that trial runs, in a
placement group of its own, so one-process trials that Tune places in the meantime take the
freed GPUs and the group waits for the queue to drain (benchmarks/packing: a group started
100-175 s after the others, GPUs 26-35 % busy). Each rank is a Ray actor pinned to its bundle;
Ray gives it its own GPU ids, so no two ranks of a group share a device. What each rank runs is
its caller's loop (a training trial's: trainables.sweep_trial.trial_loop).

A rank that fails fails its Tune trial, whose retry (the sweep's `FailureConfig`) starts a
new group that resumes from the trial's newest complete sharded checkpoint
(trainables.checkpoints): every rank puts its shards in the step's folder and rank 0 seals it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

FIRST_RANK_BUNDLE = 1  # bundle 0 is the Tune trial's own process
POLL_SECONDS = 1.0  # how often rank 0's reports are forwarded to Tune

RankLoop = Callable[[dict[str, Any], int, Callable[[dict], None]], None]


class Rank:
    """One rank's process. Threaded (`max_concurrency=2`), so the trial can collect the
    rank's reports while `run` trains."""

    def __init__(self) -> None:
        self._reports: list[dict] = []
        self._lock = threading.Lock()

    def rendezvous(self) -> tuple[str, int]:
        """Rank 0's address and a free port on its node, for the group's process group."""
        from trainables.engine import free_port

        return ray.util.get_node_ip_address(), free_port("")

    def run(
        self, loop: RankLoop, loop_config: dict[str, Any], rank: int, world: int, address: str
    ) -> None:
        import torch
        import torch.distributed as dist

        host, port = address.rsplit(":", 1)
        # Each rank sees only its own GPU (Ray sets CUDA_VISIBLE_DEVICES), hence local rank 0.
        os.environ.update(
            MASTER_ADDR=host,
            MASTER_PORT=port,
            RANK=str(rank),
            WORLD_SIZE=str(world),
            LOCAL_RANK="0",
            LOCAL_WORLD_SIZE="1",
        )
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(
            backend, init_method=f"tcp://{address}", rank=rank, world_size=world
        )
        try:
            loop(loop_config, rank, self._publish)
        finally:
            dist.destroy_process_group()

    def _publish(self, metrics: dict) -> None:
        with self._lock:
            self._reports.append(metrics)

    def reports(self) -> list[dict]:
        """What the rank reported since the last call."""
        with self._lock:
            reports, self._reports = self._reports, []
        return reports


def run_group(
    loop: RankLoop,
    loop_config: dict[str, Any],
    workers: int,
    worker_cpus: float,
    gpus_per_worker: float,
    publish: Callable[[dict], None],
    group: PlacementGroup | None = None,
) -> None:
    """Run `loop(loop_config, rank, publish)` in `workers` ranks placed in the bundles the
    current Tune trial reserved (or `group`'s), forwarding rank 0's reports to `publish` as
    they come. Returns when every rank has; raises as soon as one fails (and stops the
    others)."""
    group = group or ray.util.get_current_placement_group()
    reserved = 0 if group is None else len(group.bundle_specs) - FIRST_RANK_BUNDLE
    if reserved < workers:
        raise RuntimeError(
            f"a group of {workers} workers needs a placement group with {workers} rank bundles "
            f"after the trial's own; this trial has {max(reserved, 0)}"
        )
    rank_actor = ray.remote(Rank)
    ranks = [
        rank_actor.options(
            num_cpus=worker_cpus,
            num_gpus=gpus_per_worker,
            max_concurrency=2,
            scheduling_strategy=PlacementGroupSchedulingStrategy(
                group, placement_group_bundle_index=FIRST_RANK_BUNDLE + r
            ),
        ).remote()
        for r in range(workers)
    ]
    try:
        host, port = ray.get(ranks[0].rendezvous.remote())
        address = f"{host}:{port}"
        pending = [
            actor.run.remote(loop, loop_config, r, workers, address)
            for r, actor in enumerate(ranks)
        ]
        while pending:
            done, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL_SECONDS)
            ray.get(done)  # raises the first failure of a rank
            for metrics in ray.get(ranks[0].reports.remote()):
                publish(metrics)
    finally:
        for actor in ranks:
            ray.kill(actor)
