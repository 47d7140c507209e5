"""Shared test helpers: a trial session that records checkpoints the way Ray Tune persists them."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# DeepSpeed's one-off JIT build of its CPU comm op is reused from here across test runs.
os.environ.setdefault(
    "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")
)


# One thread per test process, as one trial per core runs in a sweep: on a 2-core machine two
# threads per process are several times slower at tiny sizes.
torch.set_num_threads(1)


class Preempted(Exception):
    """Raised by the session to stop a trial the way a lost spot node would."""


class RecordingSession:
    """Copies every reported checkpoint into `root/step_N` (as Tune persists them) and can stop
    the trial right after a given step's checkpoint, or start it from an earlier checkpoint."""

    def __init__(self, root: Path, restore_from: Path | None = None, stop_after: int | None = None):
        self.root = root
        self.restore_from = restore_from
        self.stop_after = stop_after
        self.trial_id = "test_trial"
        self.trial_name = "test_trial"
        self.store = None  # checkpoints only through `report`
        self.reports: list[dict] = []
        self.checkpoints: dict[int, Path] = {}

    @contextlib.contextmanager
    def restored(self) -> Iterator[Path | None]:
        yield self.restore_from

    def report(self, metrics: dict, checkpoint_dir: Path | None = None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir is not None:
            target = self.root / f"step_{metrics['step']}"
            shutil.copytree(checkpoint_dir, target)
            self.checkpoints[metrics["step"]] = target
            if metrics["step"] == self.stop_after:
                raise Preempted(f"stopped after step {self.stop_after}")


@pytest.fixture
def session_factory(tmp_path):
    def make(name: str, **kwargs) -> RecordingSession:
        root = tmp_path / name
        root.mkdir()
        return RecordingSession(root, **kwargs)

    return make


# ---- running the suite on several xdist workers (`make test`: -n 2 --dist loadgroup) ---------


def pytest_collection_modifyitems(config, items) -> None:
    """One xdist group per test module, so a module's own fixtures (a module-scoped sweep, a
    Ray cluster) are built once, on one worker; the modules that read the shared tiny sweep
    (`report_sweep`, session-scoped) form one group, so it too is built once."""
    shared = {item.module.__name__ for item in items if "report_sweep" in item.fixturenames}
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module.__name__
            item.add_marker(pytest.mark.xdist_group("report_sweep" if module in shared else module))
