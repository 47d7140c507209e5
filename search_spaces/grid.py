"""The full cross product trajectory × modules × rank × n × backbone, one seed, for those who
want every interaction the paper's one-factor ablations leave out."""

from itertools import product

from search_spaces import Sweep, Table
from search_spaces._paper import BACKBONES, NS, RANKS, STUDY_TASKS, cogvideox_steps
from tasks.transitions import TRAJECTORIES

MODULES = ("QK", "VO", "QKVO", "all-linear", "QKVO+FF")

SWEEP = Sweep(
    description="Full grid: trajectory × modules × rank × n × backbone on segmentation and pose",
    trials=[
        {
            "backbone": backbone,
            "task": task,
            "n": n,
            "seed": 42,
            "trajectory": trajectory,
            "modules": modules,
            "rank": rank,
            **({"steps": cogvideox_steps(task, n)} if backbone == "cogvideox" else {}),
        }
        for backbone, task, n, trajectory, modules, rank in product(
            BACKBONES, STUDY_TASKS, NS, TRAJECTORIES, MODULES, RANKS
        )
    ],
    tables=[
        Table("Interpolation", "trajectory"),
        Table("Modules", "modules"),
        Table("Rank", "rank"),
        Table("Backbone", "backbone"),
    ],
)
