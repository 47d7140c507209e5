"""A one-process trial in a sweep writes each checkpoint out (its MLflow points, the upload, the
manifest) on a thread of its own while the next steps train; the last checkpoint, and any that
a failure or spot notice waits on, land before the trial ends, and a failed write fails the
trial on its training thread."""

import threading
import time

import pytest
import torch
from mlflow.tracking import MlflowClient

import trainables.engine as engine_module
from orchestrator.tracking import start_parent_run
from tests.tiny_trial import TINY_TRIAL
from trainables.checkpoints import CheckpointStore
from trainables.config import TrialConfig
from trainables.sweep_trial import StoredSession
from trainables.trial import train

CONFIG = TrialConfig.from_dict({**TINY_TRIAL, "steps": 8, "checkpoint_every": 2, "sample_steps": 1})


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

    from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine

    write = TorchCheckpointEngine.save
    file_threads: set[str] = set()

    def spying_write(engine, state_dict, path):
        file_threads.add(threading.current_thread().name)
        write(engine, state_dict, path)

    monkeypatch.setattr(CheckpointStore, "seal", spying_seal)
    monkeypatch.setattr(TorchCheckpointEngine, "save", spying_write)
    # A tiny state (under BACKGROUND_WRITE_MIN_BYTES) is written and stored in line.
    train(CONFIG, session, tracking)
    main = threading.main_thread().name
    assert file_threads == {main}
    assert [(s, t) for s, t, _ in sealed] == [(2, main), (4, main), (6, main), (8, main)]
    assert all(stored >= step for step, _, stored in sealed)  # points up to it were stored first

    # A big one (as at full scale) is pickled, written and stored on the background thread.
    session, tracking, reports, client = sweep_session(tmp_path / "big")
    file_threads.clear()
    sealed.clear()
    monkeypatch.setattr(engine_module, "BACKGROUND_WRITE_MIN_BYTES", 0)
    train(CONFIG, session, tracking)
    assert [s for s, _, _ in sealed] == [2, 4, 6, 8]
    threads = [thread for _, thread, _ in sealed]
    assert all(t.startswith("checkpoint-writes") for t in threads[:3]), threads
    assert threads[3] == main  # the last one, with the adapter, in line
    assert any(t.startswith("checkpoint-writes") for t in file_threads), file_threads
    assert all(stored >= step for step, _, stored in sealed)  # points up to it were stored first
    assert session.checkpoints.latest() == 8 and session.checkpoints.steps() == [6, 8]
    assert [r["step"] for r in reports] == list(range(1, 9))


@pytest.mark.parametrize("failing", ["deepspeed_file", "upload"])
def test_a_failed_write_is_never_sealed_and_fails_the_trial_at_its_next_checkpoint(
    tmp_path, monkeypatch, failing
):
    from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine

    session, tracking, _, client = sweep_session(tmp_path)
    upload, write = CheckpointStore.upload, TorchCheckpointEngine.save

    def failing_upload(store, local_dir, step):
        if step == 2:
            raise OSError("storage unreachable")
        upload(store, local_dir, step)

    def failing_write(engine, state_dict, path):
        if state_dict.get("step") == 2:  # DeepSpeed's file with our client state
            raise OSError("disk full")
        write(engine, state_dict, path)

    monkeypatch.setattr(engine_module, "BACKGROUND_WRITE_MIN_BYTES", 0)  # as at full scale
    if failing == "upload":
        monkeypatch.setattr(CheckpointStore, "upload", failing_upload)
    else:
        monkeypatch.setattr(TorchCheckpointEngine, "save", failing_write)
    trained: list[int] = []
    with pytest.raises(OSError, match="storage unreachable|disk full"):
        train(CONFIG, session, tracking, on_step=trained.append)
    assert trained == [1, 2, 3, 4]  # step 4's checkpoint waited for step 2's and raised
    assert session.checkpoints.latest() is None  # nothing sealed: a retry starts over
    runs = client.search_runs([tracking["experiment_id"]], "tags.`vdm.trial_key` = 'key'")
    assert runs[0].info.status == "FAILED"


def test_a_checkpoint_written_in_the_background_holds_the_state_of_its_step(
    tmp_path, session_factory
):
    """The next steps change the weights and optimizer state in place while the files are
    written: the files must hold a copy taken at the checkpoint's step."""
    from deepspeed.runtime.checkpoint_engine import TorchCheckpointEngine

    write = TorchCheckpointEngine.save

    def slow_write(engine, state_dict, path):
        time.sleep(0.5)  # several steps train meanwhile
        write(engine, state_dict, path)

    session, tracking, _, _ = sweep_session(tmp_path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine_module, "BACKGROUND_WRITE_MIN_BYTES", 0)  # as at full scale
        patch.setattr(TorchCheckpointEngine, "save", slow_write)
        train(CONFIG, session, tracking)
    inline = session_factory("inline")  # tests/conftest.py: checkpoints written in line
    train(CONFIG, inline)
    name = "state/mp_rank_00_model_states.pt"
    restored = session.checkpoints.restore(6, tmp_path / "restored")
    background = torch.load(restored / name, weights_only=False)
    reference = torch.load(inline.checkpoints[6] / name, weights_only=False)
    assert background["step"] == reference["step"] == 6
    assert background["module"].keys() == reference["module"].keys()
    for key, value in reference["module"].items():
        assert torch.equal(background["module"][key], value), key
    states = background["optimizer"]["state"], reference["optimizer"]["state"]
    assert states[0].keys() == states[1].keys() and states[1]
    for index, state in states[1].items():
        for key, value in state.items():
            assert torch.equal(states[0][index][key], value), (index, key)
