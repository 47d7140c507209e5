"""Few-shot image-to-image tasks (SPEC §1) and their transition videos (SPEC §2).

Pure numpy: nothing here knows about models, so pairs, videos and scores can be produced and
tested without torch.
"""

from tasks.registry import Pair, Split, Task, get_task, task_names, trial_metrics
from tasks.transitions import TRAJECTORIES, render

__all__ = [
    "TRAJECTORIES",
    "Pair",
    "Split",
    "Task",
    "get_task",
    "render",
    "task_names",
    "trial_metrics",
]
