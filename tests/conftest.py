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


# ---- running the suite on several xdist workers (`make test`: -n 2 --dist loadfile) ----------

#: The session-scoped fixture of tests/orchestrator/conftest.py (a real tiny sweep): the modules
#: that read it run on one worker, so it is built once.
SHARED_SWEEP = "report_sweep"


#: The suite's long pole (about 7 of its 12 minutes on 2 cores: seven real sweeps killed and
#: resumed) starts first, so the other workers run everything else beside it.
START_FIRST = "tests/orchestrator/test_preemption.py"


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile`, except that the modules reading the shared sweep are one unit of
    work: each module runs whole on one worker, so its module-scoped fixtures (a sweep, a Ray
    cluster) are built once, and the shared sweep too. (xdist's own `loadgroup` cannot do this
    on pytest 9: it renames test ids through an attribute pytest no longer reads.) Units start
    in collection order (`pytest_collection_modifyitems`), not xdist's most-tests-first."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = Path(config.rootpath)
    shared = {
        path.relative_to(root).as_posix()
        for path in Path(__file__).parent.rglob("test_*.py")
        if SHARED_SWEEP in path.read_text()
    }

    class ModuleScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SHARED_SWEEP if module in shared else module

    config.option.loadscopereorder = False
    return ModuleScheduling(config, log)


def pytest_collection_modifyitems(config, items) -> None:
    """The long pole first, then the modules with the most slow tests (a stable sort): the
    workers start on the long units, and the short ones fill in around them at the end."""
    slow: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        slow[module] = slow.get(module, 0) + (item.get_closest_marker("slow") is not None)
    if START_FIRST in slow:
        slow[START_FIRST] = len(items)
    items.sort(key=lambda item: -slow.get(item.nodeid.split("::", 1)[0], 0))
