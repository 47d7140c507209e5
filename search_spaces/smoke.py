"""The thinnest real sweep: tiny CogVideoX on the CPU, every layer of the system, ~3 minutes."""

from itertools import product

from search_spaces import Sweep, Table

BASE = dict(
    backbone="cogvideox",
    scale="tiny",
    n=3,
    seed=42,
    steps=200,
    rank=8,
    alpha=8.0,
    lr=1e-3,  # the paper's 1e-4 is for 5B weights; a tiny model from scratch wants more
    height=64,
    width=64,
    checkpoint_every=100,
    n_val=2,
    sample_steps=8,
)

SWEEP = Sweep(
    description="3 tasks × 2 trajectories × 2 LoRA groups, n = 3, tiny CogVideoX1.5",
    trials=[
        {**BASE, "task": task, "trajectory": trajectory, "modules": modules}
        for task, trajectory, modules in product(
            ("hflip", "colorization", "binary_segmentation"),
            ("linear", "quadratic"),
            ("QK", "QKVO"),
        )
    ],
    tables=[
        Table("Trajectory", "trajectory", {"modules": "QKVO"}),
        Table("Modules", "modules", {"trajectory": "quadratic"}),
    ],
)
