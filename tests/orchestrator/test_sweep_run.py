"""A real tiny sweep through Ray Tune writes one MLflow child run per trial, under one parent,
with params, metrics by step and the artifacts; running it again resumes without new runs."""

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.run import SweepRequest, run_sweep
from orchestrator.tracking import SWEEP_TAG
from search_spaces import Sweep
from tests.tiny_trial import TINY_TRIAL

pytestmark = pytest.mark.slow  # ~30 s: a real Ray Tune sweep, run twice

BASE = {**TINY_TRIAL, "n": 1, "steps": 4, "checkpoint_every": 2}  # each trial sets its task
SWEEP = Sweep(
    description="two tiny trials",
    trials=[
        {**BASE, "task": "hflip", "trajectory": "linear", "modules": "QK"},
        {**BASE, "task": "hflip", "trajectory": "linear", "modules": "VO"},
        {**BASE, "task": "binary_segmentation", "trajectory": "tiles", "modules": "VO"},
    ],
    resources={"cpu": 1.0, "gpu": 0.5},
    max_concurrent_trials=1,  # in order, so the second trial finds the first one's latents
    reuse_actors=True,
)


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweeps")
    request = SweepRequest("tiny", storage=str(storage))
    assert run_sweep(SWEEP, request) == 0
    return storage / "tiny", request


def child_runs(client, experiment_id, parent_id):
    return client.search_runs(
        [experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'"
    )


def test_each_trial_is_one_child_run_with_params_metrics_and_artifacts(sweep_dir):
    folder, _ = sweep_dir
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    parents = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = 'tiny'"
    )
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = child_runs(client, experiment.experiment_id, parents[0].info.run_id)
    assert len(children) == 3
    assert {r.data.params["task"] for r in children} == {"hflip", "binary_segmentation"}
    cache = sorted(
        (
            r.data.params["task"],
            r.data.params["modules"],
            r.data.metrics["cache_hits"],
            r.data.metrics["cache_misses"],
        )
        for r in children
    )
    # n = 1: one prompt embedding + one video; the VO hflip trial reuses both, the
    # segmentation trial only the prompt.
    assert cache == [
        ("binary_segmentation", "VO", 1, 1),
        ("hflip", "QK", 0, 2),
        ("hflip", "VO", 2, 0),
    ]
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.params["steps"] == "4" and run.data.params["rank"] == "4"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in history] == [1, 2, 3, 4]
        metric = "val_miou" if run.data.params["task"] == "binary_segmentation" else "val_psnr"
        assert 0 <= run.data.metrics[metric] < 100
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
        assert "adapter/pytorch_lora_weights.safetensors" in artifacts
        samples = {a.path: a.file_size for a in client.list_artifacts(run.info.run_id, "samples")}
        assert samples["samples/val_0.mp4"] > 1000
        assert samples["samples/val_0_input_target_prediction.png"] > 100
    parent_files = {a.path for a in client.list_artifacts(parents[0].info.run_id)}
    assert {"results.csv", "results.md"} <= parent_files


def test_results_table_is_written_next_to_the_store(sweep_dir):
    folder, _ = sweep_dir
    table = pd.read_csv(folder / "results.csv")
    assert len(table) == 3 and set(table["status"]) == {"OK"}
    assert {"task", "trajectory", "modules", "val_psnr", "val_miou"} <= set(table.columns)
    assert "| task" in (folder / "results.md").read_text()


def test_running_the_same_sweep_again_resumes_without_new_runs(sweep_dir):
    folder, request = sweep_dir
    assert run_sweep(SWEEP, request) == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tiny")
    assert len(client.search_runs([experiment.experiment_id])) == 4  # 1 parent + 3 trials
