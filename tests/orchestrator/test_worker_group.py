"""A trial with 2 workers runs as a Ray Train group inside its Tune trial, under ZeRO-3: each
rank holds about half of the (sharded) parameters, and the trial still ends as one MLflow run
with its adapter."""

import argparse

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.run import run_sweep
from search_spaces import Sweep
from trainables.config import TrialConfig

SWEEP = Sweep(
    description="one ZeRO-3 trial on two workers",
    trials=[
        dict(
            task="hflip",
            n=2,
            steps=4,
            checkpoint_every=2,
            log_every=1,
            rank=4,
            alpha=4.0,
            n_val=1,
            sample_steps=2,
            height=32,
            width=32,
            batch_size=1,
            workers=2,
            zero_stage=3,
            worker_cpus=0.5,
        )
    ],
    resources={"cpu": 0.5},  # the Tune trial only drives the group
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweeps")
    args = argparse.Namespace(storage=str(storage), tracking_uri=None, address=None)
    configs = [TrialConfig.from_dict(t) for t in SWEEP.trials]
    assert run_sweep(SWEEP, configs, "zero3", args) == 0
    return storage / "zero3"


def test_zero3_shards_the_model_across_two_workers(finished):
    client = MlflowClient(tracking_uri=f"sqlite:///{finished / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("zero3")
    runs = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if "mlflow.parentRunId" in r.data.tags
    ]
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    metrics = runs[0].data.metrics
    fractions = [metrics["shard_fraction_rank0"], metrics["shard_fraction_rank1"]]
    assert all(0.45 <= f <= 0.55 for f in fractions), fractions
    assert sum(fractions) == pytest.approx(1.0, abs=0.02)
    assert [m.step for m in client.get_metric_history(runs[0].info.run_id, "loss")] == [1, 2, 3, 4]
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "adapter")}
    assert "adapter/pytorch_lora_weights.safetensors" in artifacts
