"""Which sweeps run their trials one after another in the same Ray actor (benchmarks/
sweep_overhead: a fresh actor costs ~10 s of process start and imports while its GPU share
waits; benchmarks/packing)."""

from orchestrator.tuner import reuses_actors
from search_spaces import Sweep

ONE = {"cpu": 1.0, "gpu": 0.0, "workers": 1}
FULL = {"task": "hflip", "backbone": "ltx", "scale": "full", "weights": "/w/ltx"}


def sweep(trials: list[dict], reuse: bool | None = None) -> Sweep:
    return Sweep("test", trials, reuse_actors=reuse)


def test_one_process_trials_reuse_their_actors_at_every_scale():
    trials = [{"task": "hflip"}, {"task": "hflip", "backbone": "ltx", "scale": "tiny"}]
    assert reuses_actors(sweep(trials), {"cogvideox/tiny": ONE, "ltx/tiny": ONE})
    assert reuses_actors(sweep([FULL, {"task": "hflip"}]), {"ltx/full": ONE, "cogvideox/tiny": ONE})


def test_worker_groups_get_fresh_actors_and_a_sweep_can_choose_either_way():
    group = {"cogvideox/tiny": {**ONE, "workers": 2}}  # e.g. --workers 2 on a tiny sweep
    assert not reuses_actors(sweep([{"task": "hflip"}]), group)
    assert reuses_actors(sweep([{"task": "hflip"}], reuse=True), group)
    assert not reuses_actors(sweep([FULL], reuse=False), {"ltx/full": ONE})
