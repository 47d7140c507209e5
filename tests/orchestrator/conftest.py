"""A real tiny sweep with two seeds, shared by the report and UI tests (built once per run)."""

import pytest

from orchestrator.run import SweepRequest, run_sweep
from search_spaces import Sweep, Table

BASE = dict(n=1, steps=2, checkpoint_every=2, log_every=1, rank=4, alpha=4.0, n_val=1,
            sample_steps=2, height=32, width=32, modules="QK")  # fmt: skip
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
