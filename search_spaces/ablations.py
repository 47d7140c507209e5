"""Tables 1 and 8: CogVideoX1.5, one factor at a time around quadratic / QKVO / rank 64."""

from search_spaces import Sweep, Table
from search_spaces._paper import ABLATION_MODULES, RANKS, study_trials, unique
from tasks.transitions import TRAJECTORIES

DEFAULT = {"trajectory": "quadratic", "modules": "QKVO", "rank": 64}
VARIANTS = unique(
    [{**DEFAULT, "trajectory": t} for t in TRAJECTORIES]
    + [{**DEFAULT, "modules": m} for m in ABLATION_MODULES]
    + [{**DEFAULT, "rank": r} for r in RANKS]
)  # 11 distinct configurations

SWEEP = Sweep(
    description="Ablations (Tables 1, 8): trajectory, LoRA modules, rank; segmentation and pose",
    trials=study_trials(VARIANTS, ("cogvideox",)),
    tables=[
        Table("Interpolation", "trajectory", {"modules": "QKVO", "rank": 64}),
        Table("Modules", "modules", {"trajectory": "quadratic", "rank": 64}),
        Table("Rank", "rank", {"trajectory": "quadratic", "modules": "QKVO"}),
    ],
)
