"""Assembles the one `ray.tune.Tuner` of a sweep, or restores it from its storage folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ray import tune

from search_spaces import Sweep
from trainables.trial import tune_trial


def trial_name(trial: tune.experiment.Trial) -> str:
    """Readable in Tune's table, MLflow and the folder tree; the trial id keeps it unique."""
    c = trial.config["trial"]
    return (
        f"{c['task']}_{c.get('trajectory', 'quadratic')}_{c.get('modules', 'QKVO')}"
        f"_r{c.get('rank', 64)}_n{c.get('n', 3)}_s{c.get('seed', 42)}_{trial.trial_id}"
    )


def trial_resources(sweep: Sweep, cluster_gpus: float) -> dict[str, float]:
    """The sweep's per-trial share; a GPU share only where the cluster has GPUs."""
    resources = dict(sweep.resources)
    if cluster_gpus <= 0:
        resources.pop("gpu", None)
    return resources


def build_tuner(
    sweep: Sweep,
    experiment_dir: Path,
    tracking: dict[str, str],
    resources: dict[str, float],
    max_failures: int = 2,
) -> tuple[tune.Tuner, bool]:
    """Return the Tuner and whether it resumes an earlier run of the same sweep folder."""
    trainable = tune.with_resources(tune_trial, resources)
    if tune.Tuner.can_restore(str(experiment_dir)):
        tuner = tune.Tuner.restore(
            str(experiment_dir), trainable, resume_unfinished=True, resume_errored=True
        )
        return tuner, True
    param_space: dict[str, Any] = {
        "trial": tune.grid_search(sweep.trials),
        "tracking": tracking,
        "cache_dir": str(experiment_dir / "cache"),
        "storage_dir": str(experiment_dir),
    }
    tuner = tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=sweep.max_concurrent_trials,
            reuse_actors=sweep.reuse_actors,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=experiment_dir.name,
            storage_path=str(experiment_dir.parent),
            failure_config=tune.FailureConfig(max_failures=max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=1,
        ),
    )
    return tuner, False
