"""Real dataset loaders on tiny fixtures written in each dataset's own on-disk format."""

import numpy as np
import pytest

from tasks.datasets import DatasetError
from tasks.datasets.coco import Coco
from tasks.datasets.dreambooth import DreamBooth
from tests.tasks.fixtures import coco_fixture, write_image


def test_dreambooth_lists_subject_photos_and_center_crops(tmp_path):
    write_image(tmp_path / "dog" / "00.jpg", 40, 80, 10)
    write_image(tmp_path / "dog" / "01.png", 40, 40, 20)
    write_image(tmp_path / "cat" / "00.jpg", 40, 40, 30)
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    data = DreamBooth(tmp_path)
    assert len(data) == 3 and [data.subject(i) for i in range(3)] == ["cat", "dog", "dog"]
    image = data.image(1, (16, 16))  # 40×80 → the central 40×40 square
    assert image.shape == (16, 16, 3) and image.dtype == np.uint8
    assert image[:, 1, 0].min() > 200 and image[:, -2, 0].max() < 60  # red left, dark right


def test_dreambooth_missing_or_empty_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="does not exist; expected the DreamBooth dataset"):
        DreamBooth(tmp_path / "nowhere")
    (tmp_path / "empty" / "dog").mkdir(parents=True)
    with pytest.raises(DatasetError, match="has no images in subject folders"):
        DreamBooth(tmp_path / "empty")


def test_coco_category_masks_through_pycocotools(tmp_path):
    coco_fixture(tmp_path)
    data = Coco(tmp_path)
    assert data.category_masks("dog") == [1]
    image, mask = data.mask(1, "dog")
    assert image.shape == (20, 30, 3) and mask.dtype == bool
    assert 90 <= mask.sum() <= 130 and mask[7, 7] and not mask[15, 20]
    with pytest.raises(DatasetError, match="no COCO category 'unicorn'; the file has: dog, person"):
        data.category_masks("unicorn")


def test_coco_person_keypoints(tmp_path):
    coco_fixture(tmp_path)
    data = Coco(tmp_path, kind="person_keypoints")
    assert data.people() == [2]
    image, points = data.keypoints(2)
    assert points.shape == (1, 17, 3)
    assert points[0, 0].tolist() == [5, 6, 2] and points[0, 5].tolist() == [4, 9, 1]


def test_coco_missing_or_malformed_is_one_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="nowhere' does not exist; expected a COCO 2017"):
        Coco(tmp_path / "nowhere")
    coco_fixture(tmp_path)
    with pytest.raises(DatasetError, match="expected COCO's annotations/instances_train2017.json"):
        (tmp_path / "train2017").mkdir()
        Coco(tmp_path, split="train2017")
    (tmp_path / "annotations" / "instances_val2017.json").write_text('{"images": 3}')
    with pytest.raises(DatasetError, match="is not COCO annotation JSON"):
        Coco(tmp_path)
