"""A real tiny sweep with two seeds, shared by the report and UI tests (built once per run)."""

import pytest

from orchestrator.run import SweepRequest, run_sweep
from search_spaces import Sweep, Table
from tests.tiny_trial import TINY_TRIAL

BASE = {**TINY_TRIAL, "n": 1, "steps": 2, "checkpoint_every": 2, "modules": "QK"}  # each: a task
SWEEP = Sweep(
    description="trajectories × 2 seeds",
    trials=[
        {**BASE, "task": task, "trajectory": trajectory, "seed": seed}
        for task in ("hflip", "binary_segmentation", "grid_classification")
        for trajectory in ("linear", "discrete")
        for seed in (1, 2)
    ],
    resources={"cpu": 1.0},
    reuse_actors=True,
    tables=[Table("Trajectory", "trajectory", {"modules": "QK"})],
)


@pytest.fixture(scope="session")
def report_sweep(tmp_path_factory):
    storage = tmp_path_factory.mktemp("sweeps")
    assert run_sweep(SWEEP, SweepRequest("report", storage=str(storage))) == 0
    return storage / "report"
