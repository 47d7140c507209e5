"""A trial with 2 workers runs as a group of ranks inside its Tune trial, under ZeRO-3: each
rank holds about half of the (sharded) parameters, and the trial still ends as one MLflow run
with its adapter. Two such trials run one after the other in the same (reused) Tune actor, each
with fresh ranks in the bundles that actor keeps reserved."""

import json

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.run import SweepRequest, run_sweep
from search_spaces import Sweep
from tests.tiny_trial import TINY_TRIAL

pytestmark = pytest.mark.slow  # ~75 s: a real sweep of two 2-worker ZeRO-3 trials

SWEEP = Sweep(
    description="two ZeRO-3 trials on two workers each",
    trials=[
        {
            **TINY_TRIAL,
            "seed": seed,
            "steps": 4,
            "checkpoint_every": 2,
            "batch_size": 2,  # the global batch: one example a rank
            "workers": 2,
            "zero_stage": 3,
            "worker_cpus": 0.5,
        }
        for seed in (1, 2)
    ],
    max_concurrent_trials=1,
    resources={"cpu": 0.5},  # the Tune trial only drives the group
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweeps")
    assert run_sweep(SWEEP, SweepRequest("zero3", storage=str(storage))) == 0
    return storage / "zero3"


def test_zero3_shards_the_model_across_two_workers(finished):
    client = MlflowClient(tracking_uri=f"sqlite:///{finished / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("zero3")
    runs = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if "mlflow.parentRunId" in r.data.tags
    ]
    assert len(runs) == 2 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        metrics = run.data.metrics
        fractions = [metrics["shard_fraction_rank0"], metrics["shard_fraction_rank1"]]
        assert all(0.45 <= f <= 0.55 for f in fractions), fractions
        assert sum(fractions) == pytest.approx(1.0, abs=0.02)
        params = run.data.params
        assert (params["batch_size"], params["effective_batch_size"]) == ("2", "2")
        assert params["batch_size_per_rank"] == "1"
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in history] == [1, 2, 3, 4]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "adapter")}
        assert "adapter/pytorch_lora_weights.safetensors" in artifacts


def test_the_second_group_reuses_the_first_ones_tune_actor(finished):
    pids = {
        json.loads(line)["pid"]
        for path in finished.glob("*/result.json")
        for line in path.read_text().splitlines()
    }
    assert len(list(finished.glob("*/result.json"))) == 2
    assert len(pids) == 1, pids
