"""The sweep's side of MLflow: where the store is, its experiment, and its one parent run.

Trials open their own child runs (trainables.run_log); the driver only makes the parent and hands
its id down in the trial config, which is what keeps runs single across restores.
"""

from __future__ import annotations

from pathlib import Path

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from trainables.run_log import TRIAL_KEY_TAG

SWEEP_TAG = "vdm.sweep"
STOPPED_TAG = "vdm.stopped_early"  # who stopped the trial's run early: its scheduler ("ASHA")
STOPPED_STEP_TAG = "vdm.stopped_at_step"


def default_tracking_uri(experiment_dir: Path) -> str:
    """A SQLite store inside the sweep's folder: nothing to start, travels with the results."""
    return f"sqlite:///{experiment_dir.resolve() / 'mlflow.db'}"


def start_parent_run(
    tracking_uri: str, sweep_name: str, artifact_location: str, description: str
) -> dict[str, str]:
    """Create (or, for a resumed sweep, re-open) the experiment, its artifacts on the sweep's
    storage, and its parent run; return the `tracking` dict every trial receives."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is None:
        experiment_id = client.create_experiment(sweep_name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id
    parents = client.search_runs(
        [experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = '{sweep_name}'", max_results=1
    )
    if parents:
        run_id = parents[0].info.run_id
        client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
    else:
        run = client.create_run(
            experiment_id,
            run_name=sweep_name,
            tags={
                SWEEP_TAG: sweep_name,
                MLFLOW_RUN_NAME: sweep_name,
                "mlflow.note.content": description,
            },
        )
        run_id = run.info.run_id
    return {"uri": tracking_uri, "experiment_id": experiment_id, "parent_run_id": run_id}


def finish_parent_run(tracking: dict[str, str], files: list[Path], failed: bool) -> None:
    client = MlflowClient(tracking_uri=tracking["uri"])
    for path in files:
        folder = "report" if path.parent.name == "report" else None
        client.log_artifact(tracking["parent_run_id"], str(path), folder)
    client.set_terminated(tracking["parent_run_id"], status="FAILED" if failed else "FINISHED")


def mark_stopped_early(tracking: dict[str, str], key: str, step: int, by: str) -> None:
    """A trial its scheduler stopped (orchestrator.search): its run ends KILLED, neither FAILED
    (nothing went wrong) nor FINISHED (it did not train to its last step, and the report's
    tables, which read finished runs, must not mix its early scores in), tagged with who
    stopped it and at which step."""
    client = MlflowClient(tracking_uri=tracking["uri"])
    runs = client.search_runs(
        [tracking["experiment_id"]], filter_string=f"tags.`{TRIAL_KEY_TAG}` = '{key}'"
    )
    for run in runs:
        client.set_tag(run.info.run_id, STOPPED_TAG, by)
        client.set_tag(run.info.run_id, STOPPED_STEP_TAG, str(step))
        if run.info.status != "KILLED":
            client.set_terminated(run.info.run_id, status="KILLED")
