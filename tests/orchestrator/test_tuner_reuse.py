"""Which sweeps run their trials one after another in the same Ray actor (benchmarks/
sweep_overhead: a fresh actor costs ~10 s of process start and imports while its GPU share
waits; benchmarks/packing)."""

from orchestrator.tuner import reuses_actors
from search_spaces import Sweep


def test_trials_reuse_their_actors_unless_the_sweep_refuses():
    one = [{"task": "hflip"}, {"task": "hflip", "backbone": "ltx", "scale": "full"}]
    groups = [{"task": "hflip", "workers": 2}, {"task": "hflip"}]
    assert reuses_actors(Sweep("one-process", one))
    assert reuses_actors(Sweep("groups too", groups))
    assert not reuses_actors(Sweep("refused", groups, reuse_actors=False))
