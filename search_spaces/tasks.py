"""§4.1–4.4: every task at the n the paper shows, CogVideoX1.5 at its default settings."""

from search_spaces import Sweep, Table
from search_spaces._paper import cogvideox_steps

ONE_SHOT = ("zoom", "hflip", "vflip", "rot45", "rot90", "shear", "style_transfer",
            "image_to_segmentation", "segmentation_to_image")  # fmt: skip
RESTORATION = ("colorization", "inpainting", "jigsaw")  # Figure 4: n = 1 … 10
THIRTY_SHOT = ("grid_classification", "binary_segmentation", "pose", "depth")

SHOTS = {
    **{task: (1,) for task in ONE_SHOT},
    **{task: (1, 3, 5, 10) for task in RESTORATION},
    **{task: (30,) for task in THIRTY_SHOT},
}

SWEEP = Sweep(
    description="General visual tasks (§4.1–4.4) at the paper's n, CogVideoX1.5",
    trials=[
        {"task": task, "n": n, "seed": 42, "steps": cogvideox_steps(task, n)}
        # Table 5: the grid is 256×256; at the full scale the rest use the backbone's 480×720.
        | ({"height": 256, "width": 256} if task == "grid_classification" else {})
        for task, ns in SHOTS.items()
        for n in ns
    ],
    tables=[Table("Tasks", "task")],
)
