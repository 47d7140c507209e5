"""Which sweeps run their trials one after another in the same Ray actor (benchmarks/
sweep_overhead: a fresh actor costs ~10 s of process start and imports while its GPU share
waits; benchmarks/packing), and in which order Tune places the trials."""

from orchestrator.tuner import reuses_actors
from search_spaces import Sweep


def test_trials_reuse_their_actors_unless_the_sweep_refuses():
    one = [{"task": "hflip"}, {"task": "hflip", "backbone": "ltx", "scale": "full"}]
    groups = [{"task": "hflip", "workers": 2}, {"task": "hflip"}]
    assert reuses_actors(Sweep("one-process", one))
    assert reuses_actors(Sweep("groups too", groups))
    assert not reuses_actors(Sweep("refused", groups, reuse_actors=False))


def test_tune_places_groups_first_and_the_rest_in_the_sweeps_order():
    from orchestrator.resources import sweep_placement
    from orchestrator.tuner import groups_first

    def trial(backbone: str, seed: int, **extra) -> dict:
        return {"task": "hflip", "backbone": backbone, "scale": "full", "seed": seed, **extra}

    trials = [
        trial("ltx", 1),
        trial("cogvideox", 2),
        trial("wan", 3),
        trial("ltx", 4),
        trial("wan", 5, workers=2),
        trial("cogvideox", 6),
    ]
    placement = sweep_placement(trials, 80.0)  # ltx ¼, cogvideox ¼, wan 1, wan on 2 GPUs
    ordered = groups_first(trials, placement)
    assert [t["seed"] for t in ordered] == [5, 1, 2, 3, 4, 6]
