"""A one-process trial in a sweep writes each checkpoint out (its MLflow points, the upload, the
manifest) on a thread of its own while the next steps train; the last checkpoint, and any that
a failure or spot notice waits on, land before the trial ends, and a failed write fails the
trial on its training thread."""

import threading

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.tracking import start_parent_run
from trainables.checkpoints import CheckpointStore
from trainables.config import TrialConfig
from trainables.trial import StoredSession, train

CONFIG = TrialConfig.from_dict(
    dict(
        task="hflip",
        n=2,
        steps=6,
        checkpoint_every=2,
        log_every=1,
        rank=4,
        alpha=4.0,
        n_val=1,
        sample_steps=1,
        height=32,
        width=32,
    )
)


def sweep_session(tmp_path):
    tracking = start_parent_run(
        f"sqlite:///{tmp_path / 'mlflow.db'}", "t", (tmp_path / "artifacts").as_uri(), "test"
    )
    reports: list[dict] = []
    session = StoredSession(str(tmp_path / "storage"), "key", "trial", reports.append)
    return session, tracking, reports, MlflowClient(tracking["uri"])


def test_checkpoints_are_written_off_the_training_thread_after_their_points(tmp_path, monkeypatch):
    session, tracking, reports, client = sweep_session(tmp_path)
    seal = CheckpointStore.seal
    sealed: list[tuple[int, str, int]] = []  # step, thread, newest MLflow step stored by then

    def spying_seal(store, step):
        runs = client.search_runs([tracking["experiment_id"]], "tags.`vdm.trial_key` = 'key'")
        stored = [m.step for m in client.get_metric_history(runs[0].info.run_id, "loss")]
        sealed.append((step, threading.current_thread().name, max(stored, default=0)))
        seal(store, step)

    monkeypatch.setattr(CheckpointStore, "seal", spying_seal)
    train(CONFIG, session, tracking)

    assert [s for s, _, _ in sealed] == [2, 4, 6]
    threads = [thread for _, thread, _ in sealed]
    assert threads[0].startswith("checkpoint-writes") and threads[1].startswith("checkpoint-writes")
    assert threads[2] == threading.main_thread().name  # the last one, with the adapter, in line
    assert all(stored >= step for step, _, stored in sealed)  # points up to it were stored first
    assert session.checkpoints.latest() == 6 and session.checkpoints.steps() == [4, 6]
    assert [r["step"] for r in reports] == [1, 2, 3, 4, 5, 6]


def test_a_failed_write_fails_the_trial_at_its_next_checkpoint(tmp_path, monkeypatch):
    session, tracking, _, client = sweep_session(tmp_path)
    upload = CheckpointStore.upload

    def failing_upload(store, local_dir, step):
        if step == 2:
            raise OSError("storage unreachable")
        upload(store, local_dir, step)

    monkeypatch.setattr(CheckpointStore, "upload", failing_upload)
    trained: list[int] = []
    with pytest.raises(OSError, match="storage unreachable"):
        train(CONFIG, session, tracking, on_step=trained.append)
    assert trained == [1, 2, 3, 4]  # step 4's checkpoint waited for step 2's and raised
    assert session.checkpoints.latest() is None  # nothing sealed: a retry starts over
    runs = client.search_runs([tracking["experiment_id"]], "tags.`vdm.trial_key` = 'key'")
    assert runs[0].info.status == "FAILED"
