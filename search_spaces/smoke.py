"""The thinnest real sweep with a real result: the pretrained micro LTX-Video (weights in the
repo) on the CPU, every layer of the system, ~5 minutes. `--scale tiny` runs the same sweep on
random tiny weights: plumbing only."""

from itertools import product

from search_spaces import Sweep, Table

# Steps, rank, learning rate and resolution: each scale's own defaults (trainables.backbones.ltx).
BASE = dict(
    backbone="ltx",
    scale="micro",
    n=3,
    seed=42,
    checkpoint_every=100,
    n_val=2,
    sample_steps=10,
)

SWEEP = Sweep(
    description="3 tasks × 2 trajectories × 2 LoRA groups, n = 3, micro LTX-Video (pretrained)",
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
