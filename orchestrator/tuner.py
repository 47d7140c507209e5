"""Assembles the one `ray.tune.Tuner` of a sweep, or restores it from its storage folder."""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.execution.placement_groups import PlacementGroupFactory

from orchestrator.resources import placement_key, tune_bundles
from orchestrator.search import Search
from orchestrator.tune_search import param_trials, prepare_driver, tune_settings
from search_spaces import Sweep
from trainables.config import TrialConfig
from trainables.storage import Storage
from trainables.sweep_trial import spot_aware_trainable


def trial_name(trial: tune.experiment.Trial) -> str:
    """Readable in Tune's table, MLflow's run list and the folder tree, in the order a person
    compares trials (task / n / trajectory / modules / rank / backbone / seed, the backbone's
    defaults filled in); the trial id keeps it unique."""
    c = TrialConfig.from_dict(trial.config["trial"])
    return (
        f"{c.task}_n{c.n}_{c.trajectory}_{c.modules}_r{c.rank}_{c.backbone}_s{c.seed}"
        f"_{trial.trial_id}"
    )


def trial_placement(config: dict[str, Any]) -> PlacementGroupFactory:
    """Tune's per-trial resource request, from the sweep's placement table (param space) by the
    trial's `placement_key`; module-level so Ray can pickle it with the trainable."""
    placement = config["placement"][placement_key(config["trial"])]
    worker_cpus = config["trial"].get("worker_cpus", TrialConfig.worker_cpus)
    # PACK: a group's ranks on as few nodes as fit (NCCL within a node), spread if they must.
    return PlacementGroupFactory(tune_bundles(placement, worker_cpus), strategy="PACK")


def reuses_actors(sweep: Sweep) -> bool:
    """Whether Tune runs trials one after another in the same actor (worker process). A fresh
    actor is a new process that imports torch, diffusers, DeepSpeed and MLflow and pays their
    first calls again, ~11 s on a 2-core machine (benchmarks/sweep_overhead), all the while
    holding its trial's GPU share idle (benchmarks/packing). So trials reuse their actors at
    every scale: Tune hands an actor only to a trial asking for the same resources, and the
    trainable releases what its last trial left on the device first
    (`trainables.sweep_trial.release_device_memory`). A group trial's actor only drives its ranks,
    which are fresh processes per trial; reusing it keeps the group's GPUs reserved for the
    next group. A sweep can refuse (`reuse_actors=False`)."""
    return True if sweep.reuse_actors is None else sweep.reuse_actors


def groups_first(
    trials: list[dict[str, Any]], placement: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """The trials in the order Tune places them: groups of ranks first, then the rest in the
    sweep's own order. A group needs several whole cards at once: placed first, it gets them
    while the cluster is empty; placed among small shares, it waits until enough cards are
    empty at the same time (benchmarks/packing: 12 % of the GPU time idle that way). Sorting
    every trial by size would be worse: each size then starts as a block, and the fresh actors of a
    new size start (~40 s of imports) with the cluster idle. Which trials the sweep has
    (`orchestrator.identity`) does not depend on the order."""

    def is_group(trial: dict[str, Any]) -> bool:
        return int(placement[placement_key(trial)]["workers"]) > 1

    return sorted(trials, key=is_group, reverse=True)  # stable: the rest keep their order


def build_tuner(
    sweep: Sweep,
    storage: Storage,
    tracking: dict[str, str],
    placement: dict[str, dict[str, float]],
    max_failures: int = 2,
    callbacks: list[tune.Callback] | None = None,
    search: Search | None = None,
) -> tuple[tune.Tuner, bool]:
    """Return the Tuner and whether it resumes an earlier run of the same sweep. `storage` is
    the sweep's own folder (local or a filesystem URI): Tune's experiment state, the trials'
    checkpoints and the latent cache all live there. `placement` is `sweep_placement`'s table:
    each trial's resources by its `placement_key`. `search`: the scheduler and sampling
    (orchestrator.search); None, the default: the grid of the sweep's trials, FIFO. A restored
    Tuner keeps the scheduler and searcher (with its state) it started with."""
    search = search or Search()
    prepare_driver(search)
    trials = groups_first(sweep.trials, placement)
    trainable = tune.with_resources(spot_aware_trainable(), trial_placement)
    param_space: dict[str, Any] = {
        "trial": param_trials(search, trials),
        "tracking": tracking,
        "placement": placement,
        "cache_dir": storage.child("cache").uri,
        "storage_dir": storage.uri,
    }
    if tune.Tuner.can_restore(storage.root, storage_filesystem=storage.fs):
        tuner = tune.Tuner.restore(
            storage.root,
            trainable,
            resume_unfinished=True,
            resume_errored=True,
            param_space=param_space,
            storage_filesystem=storage.fs,
        )
        return tuner, True
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            reuse_actors=reuses_actors(sweep),
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
            # The concurrency, and the scheduler and searcher of a search other than the
            # default grid, FIFO (orchestrator.tune_search).
            **tune_settings(search, trials, sweep.max_concurrent_trials),
        ),
        run_config=tune.RunConfig(
            name=storage.root.rstrip("/").rsplit("/", 1)[-1],
            storage_path=storage.root.rstrip("/").rsplit("/", 1)[0],
            storage_filesystem=storage.fs,
            # A failed trial (a lost node, a killed process, a spot notice) is retried from its
            # own newest checkpoint (trainables.checkpoints).
            failure_config=tune.FailureConfig(max_failures=max_failures),
            # Tune pickles the run config with the experiment: a restored sweep gets its
            # callbacks back (orchestrator.progress recreates its display when unpickled).
            callbacks=callbacks,
            verbose=0 if callbacks else 1,
        ),
    )
    return tuner, False
