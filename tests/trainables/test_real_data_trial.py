"""A trial reads its task's real dataset when the config names one (the --data path)."""

import shutil

import pytest

from tasks.datasets import DatasetError
from tests.tasks.fixtures import coco_people
from tests.tiny_trial import TINY_TRIAL
from trainables.config import TrialConfig
from trainables.trial import train

BASE = {**TINY_TRIAL, "task": "binary_segmentation", "n": 1, "steps": 1, "checkpoint_every": 1,
        "sample_steps": 1, "modules": "QK"}  # fmt: skip


def test_a_trial_trains_and_scores_on_the_coco_fixture(tmp_path, session_factory):
    coco_people(tmp_path / "coco", 3)
    config = TrialConfig.from_dict({**BASE, "dataset": "coco", "data_root": str(tmp_path / "coco")})
    result = train(config, session_factory("trial"))
    assert 0.0 <= result["val_miou"] <= 1.0 and result["step"] == 1


def test_a_broken_dataset_fails_the_trial_with_the_datasets_error(tmp_path, session_factory):
    coco_people(tmp_path / "coco", 3)
    shutil.rmtree(tmp_path / "coco" / "val2017")
    config = TrialConfig.from_dict({**BASE, "dataset": "coco", "data_root": str(tmp_path / "coco")})
    with pytest.raises(DatasetError, match="val2017.* does not exist; expected the val2017/"):
        train(config, session_factory("broken"))
