"""Tables 2 and 6: LTX-Video, CogVideoX1.5 and Wan2.1, each at its Table 3 settings."""

from search_spaces import Sweep, Table
from search_spaces._paper import BACKBONES, study_trials

SWEEP = Sweep(
    description="Backbones (Tables 2, 6): LTX-Video, CogVideoX1.5, Wan2.1; segmentation and pose",
    trials=study_trials([{}], BACKBONES),
    tables=[Table("Backbone", "backbone")],
)
