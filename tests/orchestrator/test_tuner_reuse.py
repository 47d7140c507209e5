"""Which sweeps run their trials one after another in the same Ray actor (benchmarks/
sweep_overhead: a fresh actor per tiny trial costs ~10 s of process start and imports)."""

from orchestrator.tuner import reuses_actors
from search_spaces import Sweep

ONE = {"cpu": 1.0, "gpu": 0.0, "workers": 1}
FULL = {"task": "hflip", "backbone": "ltx", "scale": "full", "weights": "/w/ltx"}


def sweep(trials: list[dict], reuse: bool = False) -> Sweep:
    return Sweep("test", trials, reuse_actors=reuse)


def test_a_sweep_of_tiny_one_process_trials_reuses_its_actors():
    trials = [{"task": "hflip"}, {"task": "hflip", "backbone": "ltx", "scale": "tiny"}]
    assert reuses_actors(sweep(trials), {"cogvideox/tiny": ONE, "ltx/tiny": ONE})


def test_full_scale_and_worker_groups_keep_the_sweeps_own_choice():
    assert not reuses_actors(sweep([FULL, {"task": "hflip"}]), {"ltx/full": ONE})
    assert reuses_actors(sweep([FULL], reuse=True), {"ltx/full": ONE})
    group = {"cogvideox/tiny": {**ONE, "workers": 2}}  # e.g. --workers 2 on a tiny sweep
    assert not reuses_actors(sweep([{"task": "hflip"}]), group)
