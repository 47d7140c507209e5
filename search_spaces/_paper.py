"""The paper's protocol facts that several sweeps share (SPEC §4, Tables 4 and 5).

Not a sweep: its leading underscore keeps it out of `sweep_names()`.
"""

from __future__ import annotations

from itertools import product
from typing import Any

SEEDS = (42, 43, 44)
NS = (3, 5, 10, 30)
STUDY_TASKS = ("binary_segmentation", "pose")
ABLATION_MODULES = ("QK", "VO", "QKVO", "all-linear")
RANKS = (16, 32, 64, 128, 256)
BACKBONES = ("ltx", "cogvideox", "wan")


def seeds_for(n: int) -> tuple[int, ...]:
    """Table 6's "#" column: 3 seeds below n = 30, one at n = 30."""
    return SEEDS if n < 30 else SEEDS[:1]


def cogvideox_steps(task: str, n: int) -> int:
    """Table 4: training steps of CogVideoX1.5 per task and n."""
    if task in STUDY_TASKS:
        return {3: 1000, 5: 1000, 10: 2000}.get(n, 4000)
    if task == "grid_classification":
        return 500
    return 1200


def study_trials(variants: list[dict[str, Any]], backbones: tuple[str, ...]) -> list[dict]:
    """Each variant × backbone × study task × n × seeds(n); CogVideoX gets Table 4's steps and
    the ablations' 5 sampling steps, the other backbones their Table 3 defaults."""
    trials = []
    for variant, backbone, task, n in product(variants, backbones, STUDY_TASKS, NS):
        for seed in seeds_for(n):
            trial = {**variant, "backbone": backbone, "task": task, "n": n, "seed": seed}
            if backbone == "cogvideox":
                trial |= {"steps": cogvideox_steps(task, n), "sample_steps": 5}
            trials.append(trial)
    return trials


def unique(dicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats, keeping the first: the default configuration sits in every ablation group."""
    seen: set[tuple] = set()
    kept = []
    for d in dicts:
        key = tuple(sorted(d.items()))
        if key not in seen:
            seen.add(key)
            kept.append(d)
    return kept
