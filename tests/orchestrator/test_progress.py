"""Sweep progress: counts, best metric per task (its direction), ETA; a live panel on a terminal,
plain throttled lines elsewhere; the callback survives Tune's pickling of the run config."""

from __future__ import annotations

import io
import pickle
import time

from rich.console import Console

from orchestrator.progress import SweepProgress, SweepState


class Trial:
    def __init__(self, name: str, task: str, status: str = "RUNNING") -> None:
        self.name, self.status = name, status
        self.config = {"trial": {"task": task}}

    def __str__(self) -> str:
        return self.name


def test_counts_best_per_task_and_eta(monkeypatch):
    # A task whose primary metric is lower-is-better (as AbsRel is) keeps its lowest value.
    monkeypatch.setattr("orchestrator.progress.LOWER_IS_BETTER", frozenset({"delta1"}))
    state = SweepState(total=5)
    assert (state.pending, len(state.running)) == (5, 0)
    state.start("a")
    state.start("b")
    state.result("a", "hflip", {"step": 10, "loss": 0.5})
    state.result("a", "hflip", {"step": 20, "val_psnr": 21.0})
    state.result("b", "hflip", {"step": 20, "val_psnr": 19.0})  # lower PSNR: not the best
    state.result("b", "depth", {"step": 20, "val_delta1": 0.3})
    state.result("b", "depth", {"step": 20, "val_delta1": 0.2})  # lower is better here
    assert state.running["a"] == {"step": 20, "loss": 0.5, "since": state.running["a"]["since"]}
    assert state.best["hflip"] == ("psnr", 21.0, "a")
    assert state.best["depth"] == ("delta1", 0.2, "b")
    assert state.eta_seconds(2) is None  # nothing finished yet: no rate to go by
    state.running["a"]["since"] -= 10.0  # trial a took 10 s
    state.end("a", ok=True)
    state.end("b", ok=False)
    assert (len(state.done), len(state.failed), state.pending) == (1, 1, 3)
    assert 29.0 < state.eta_seconds(1) < 31.5  # 3 left × 10 s, one at a time
    line = state.summary()
    assert line.startswith("1/5 done, 0 running, 3 pending, 1 failed; elapsed 0m00s, ETA 0m3")
    assert "best hflip psnr 21, depth delta1 0.2" in line
    state.start("b")  # retried
    assert not state.failed and "b" in state.running


def test_sync_counts_trials_a_resumed_sweep_finished_earlier():
    state = SweepState(total=3)
    state.sync({"a": "TERMINATED", "b": "ERROR", "c": "PENDING"})
    assert (len(state.done), len(state.failed), state.pending) == (1, 1, 1)


def test_quiet_when_not_a_terminal_one_line_per_event_and_throttled():
    out = io.StringIO()
    progress = SweepProgress(2, Console(file=out, force_terminal=False, width=200), quiet_every=60)
    progress.setup()
    a, b = Trial("hflip_a", "hflip"), Trial("hflip_b", "hflip")
    progress.on_trial_start(0, [a, b], a)  # first line: nothing printed before
    for step in range(1, 50):
        progress.on_trial_result(0, [a, b], a, {"step": step, "loss": 1.0 / step})
    progress.on_trial_complete(0, [a, b], a)
    progress.on_experiment_end([a, b])
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("vdm-sweeps: 0/2 done, 1 running, 1 pending")
    assert lines[1] == "vdm-sweeps: done: hflip_a"
    assert lines[2].startswith("vdm-sweeps: 1/2 done, 0 running, 1 pending, 0 failed")
    assert lines[3].startswith("vdm-sweeps: 1/2 done") and len(lines) == 4  # results: throttled
    assert "\x1b[" not in out.getvalue()  # no terminal control codes in logs


def test_a_terminal_gets_a_live_panel_with_each_running_trial():
    out = io.StringIO()
    progress = SweepProgress(3, Console(file=out, force_terminal=True, width=120))
    progress.setup()
    a = Trial("depth_a", "depth")
    progress.on_trial_start(0, [a], a)
    progress.on_trial_result(0, [a], a, {"step": 7, "loss": 0.25, "val_delta1": 0.5})
    panel = Console(file=io.StringIO(), width=120)
    panel.print(progress.render())
    text = panel.file.getvalue()
    assert "0/3 done, 1 running, 2 pending" in text and "best depth delta1 0.5" in text
    assert "depth_a" in text and " 7 " in text and "0.2500" in text
    progress.close()
    assert "\x1b[" in out.getvalue()  # drawn in place


def test_the_callback_survives_tunes_pickling_with_a_fresh_display():
    progress = SweepProgress(4, Console(file=io.StringIO(), force_terminal=True))
    progress.state.start("a")
    time.sleep(0.01)
    again = pickle.loads(pickle.dumps(progress))
    assert again.state.total == 4 and not again.state.running
    assert again._live is None and again.quiet_every == progress.quiet_every
