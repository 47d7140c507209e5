"""A trial's MLflow run: metric points are buffered off the step path and all stored by a flush
(at checkpoints and at the end), in MLflow-sized batches; a re-attached run skips the steps it
already holds."""

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.tracking import start_parent_run
from trainables import run_log
from trainables.run_log import RunLog


def open_run(tmp_path, run_id=None):
    tracking = start_parent_run(
        f"sqlite:///{tmp_path / 'mlflow.db'}", "t", (tmp_path / "artifacts").as_uri(), "test"
    )
    return RunLog.open(tracking, "key-1", "trial-1", {"rank": 4}, run_id), tracking


def steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_points_are_stored_by_flush_in_batches_mlflow_accepts(tmp_path, monkeypatch):
    monkeypatch.setattr(run_log, "MAX_METRICS_PER_BATCH", 7)  # several batches from 30 points
    log, _ = open_run(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for step in range(1, 16):
        log.log_metrics({"loss": 1.0 / step, "lr": float("nan"), "val_psnr": 20.0 + step}, step)
    assert steps(client, log.run_id, "loss") == []  # buffered: nothing written on the step path
    log.flush()
    assert steps(client, log.run_id, "loss") == list(range(1, 16))
    assert steps(client, log.run_id, "val_psnr") == list(range(1, 16))
    assert steps(client, log.run_id, "lr") == []  # not finite: never logged
    log.log_metrics({"loss": 0.01}, 16)
    log.finish()
    assert steps(client, log.run_id, "loss") == list(range(1, 17))
    assert client.get_run(log.run_id).info.status == "FINISHED"


def test_a_slow_trial_is_flushed_on_time_so_the_ui_stays_live(tmp_path, monkeypatch):
    monkeypatch.setattr(run_log, "FLUSH_SECONDS", 0.0)
    log, _ = open_run(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    log.log_metrics({"loss": 0.5}, 1)
    assert steps(client, log.run_id, "loss") == [1]


def test_a_re_attached_run_skips_the_steps_it_holds(tmp_path):
    first, tracking = open_run(tmp_path)
    for step in range(1, 6):
        first.log_metrics({"loss": float(step)}, step)
    first.flush()  # a checkpoint at step 5; the process dies after step 7, unflushed
    first.log_metrics({"loss": 6.0}, 6)
    again = RunLog.open(tracking, "key-1", "trial-1", {"rank": 4})  # found by its trial key
    assert again.run_id == first.run_id and again.logged_through == 5
    for step in range(4, 9):  # a retry from an older checkpoint replays steps 4..8
        again.log_metrics({"loss": float(step)}, step)
    again.finish()
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert steps(client, first.run_id, "loss") == list(range(1, 9))


def test_points_a_failed_flush_could_not_store_go_out_with_the_next(tmp_path, monkeypatch):
    monkeypatch.setattr(run_log, "MAX_METRICS_PER_BATCH", 4)
    log, _ = open_run(tmp_path)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    for step in range(1, 11):
        log.log_metrics({"loss": float(step)}, step)
    log_batch = log.client.log_batch
    calls = []

    def second_batch_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ConnectionError("tracking server away")
        return log_batch(*args, **kwargs)

    monkeypatch.setattr(log.client, "log_batch", second_batch_fails)
    with pytest.raises(ConnectionError):
        log.flush()
    assert steps(client, log.run_id, "loss") == [1, 2, 3, 4]
    log.log_metrics({"loss": 11.0}, 11)  # added while the store was away
    log.flush()
    assert steps(client, log.run_id, "loss") == list(range(1, 12))
