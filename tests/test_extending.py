"""docs/extending.md's promise, kept: a backbone, a task and a sweep are each one file.

The test writes a throwaway backbone module and a throwaway task module into folders of their
own, adds those folders to the packages' search paths (what dropping the file into
trainables/backbones/ or tasks/catalog/ does), and runs one real trial of the new task on the new
backbone; a throwaway sweep file next to them is found by path. Nothing else is edited.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from tests.tiny_trial import TINY_TRIAL

BACKBONE = '''
"""A throwaway backbone: LTX-Video's classes under another name and cache identity."""

from trainables.backbones.ltx import LTXVideo


class ToyVideo(LTXVideo):
    name = "toyvideo"
    tiny_id = LTXVideo.tiny_id + "-toy"
'''

TASK = '''
"""A throwaway task: the target is the input's colours inverted."""

import numpy as np

from tasks.image_tasks import ImageTask
from tasks.registry import Pair


class ToyInvert(ImageTask):
    name = "toyinvert"

    def transform(self, image, index, size):
        return Pair(x=image, y=np.ascontiguousarray(255 - image))
'''

SWEEP = """
from search_spaces import Sweep

SWEEP = Sweep(
    description="the throwaway task on the throwaway backbone",
    trials=[{"task": "toyinvert", "backbone": "toyvideo", "n": 2, "seed": s} for s in (1, 2)],
)
"""


@pytest.fixture
def added_modules(tmp_path, monkeypatch):
    """The two modules, discoverable as if they were in the packages; gone afterwards."""
    import tasks.catalog
    import trainables.backbones as backbones
    from tasks import registry

    for folder, name, text in (
        (tmp_path / "backbones", "toyvideo", BACKBONE),
        (tmp_path / "catalog", "toyinvert", TASK),
    ):
        folder.mkdir()
        (folder / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.setattr(backbones, "__path__", [*backbones.__path__, str(tmp_path / "backbones")])
    monkeypatch.setattr(
        tasks.catalog, "__path__", [*tasks.catalog.__path__, str(tmp_path / "catalog")]
    )

    def forget() -> None:
        backbones._backbone_modules.cache_clear()
        backbones.backbone_class.cache_clear()
        registry._discover.cache_clear()
        registry._REGISTRY.pop("toyinvert", None)
        for module in ("trainables.backbones.toyvideo", "tasks.catalog.toyinvert"):
            sys.modules.pop(module, None)

    forget()
    yield tmp_path
    monkeypatch.undo()
    forget()


def test_a_new_backbone_and_task_are_one_file_each_and_run_a_trial(added_modules, session_factory):
    from tasks import get_task, task_names
    from trainables.backbones import backbone_class, backbone_names, load
    from trainables.config import TrialConfig
    from trainables.trial import train

    assert "toyvideo" in backbone_names() and "toyinvert" in task_names()
    assert backbone_class("toyvideo").name == "toyvideo"
    pair = get_task("toyinvert").pairs(2, 0, n_val=1, size=(32, 32)).train[0]
    assert np.array_equal(pair.y, 255 - pair.x)

    config = TrialConfig.from_dict({**TINY_TRIAL, "task": "toyinvert", "backbone": "toyvideo"})
    metrics = train(config, session_factory("toy"))
    assert metrics["step"] == config.steps
    assert np.isfinite(metrics["val_psnr"])
    # The new backbone is its own (its cache identity) on the same diffusers classes.
    assert backbone_class("toyvideo").tiny_id != backbone_class("ltx").tiny_id
    assert type(load("toyvideo").pipeline).__name__ == "LTXImageToVideoPipeline"

    sweep_file = added_modules / "toy_sweep.py"
    sweep_file.write_text(textwrap.dedent(SWEEP))
    from search_spaces import load_sweep

    sweep = load_sweep(str(sweep_file))
    assert [TrialConfig.from_dict(t).backbone for t in sweep.trials] == ["toyvideo", "toyvideo"]


def test_without_the_files_neither_exists(added_modules):
    from tasks import task_names
    from trainables.backbones import backbone_names

    (added_modules / "backbones" / "toyvideo.py").unlink()
    (added_modules / "catalog" / "toyinvert.py").unlink()
    import trainables.backbones as backbones
    from tasks import registry

    backbones._backbone_modules.cache_clear()
    registry._discover.cache_clear()
    assert "toyvideo" not in backbone_names() and "toyinvert" not in task_names()
