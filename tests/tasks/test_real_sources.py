"""Every task reads its real dataset (a tiny fixture in the dataset's own layout) through the
same pairs() as its embedded source."""

import numpy as np
import pytest

from tasks import get_task
from tasks.datasets import DatasetError
from tasks.datasets.ade20k import PALETTE
from tasks.datasets.dreambooth import DreamBooth
from tasks.image_tasks import ImageTask
from tests.tasks.fixtures import (
    ade_fixture,
    coco_people,
    hypersim_frame,
    nyu_fixture,
    photo_folder,
    tiny_fixture,
)

IMAGE_TASKS = [
    "zoom", "hflip", "vflip", "rot45", "rot90", "shear", "style_transfer", "colorization",
    "inpainting", "jigsaw",
]  # fmt: skip


@pytest.mark.parametrize("name", IMAGE_TASKS)
def test_image_tasks_read_dreambooth(tmp_path, name):
    photo_folder(tmp_path, 6)
    task = get_task(name)
    assert isinstance(task, ImageTask) and task.datasets == ("dreambooth",)
    split = task.pairs(
        2, seed=0, n_val=2, size=(32, 48), data=task.open_data("dreambooth", tmp_path)
    )
    photos = DreamBooth(tmp_path)
    every = [photos.image(i, task.source_size((32, 48))).tobytes() for i in range(6)]
    for pair in split.train + split.val:
        assert pair.x.shape == pair.y.shape == (32, 48, 3)
        if task.source_size((32, 48)) == (32, 48) and name != "jigsaw":
            # x or y is one of the photos, unchanged (which one depends on the task).
            assert pair.x.tobytes() in every or pair.y.tobytes() in every


def test_hflip_of_a_dreambooth_photo(tmp_path):
    photo_folder(tmp_path, 4)
    task = get_task("hflip")
    for pair in task.pairs(2, seed=1, n_val=2, data=task.open_data("dreambooth", tmp_path)).train:
        np.testing.assert_array_equal(pair.y, pair.x[:, ::-1])


def test_binary_segmentation_reads_coco_dog_masks(tmp_path):
    coco_people(tmp_path, 4)
    task = get_task("binary_segmentation")
    split = task.pairs(2, seed=0, n_val=2, size=(40, 60), data=task.open_data("coco", tmp_path))
    for pair in split.train + split.val:
        white = pair.y[..., 0] == 255
        # pycocotools rasterizes the 10×10 polygon at (20..30, 10..20) into about 10×10 pixels.
        rows, cols = np.nonzero(white)
        assert 90 <= white.sum() <= 121
        assert rows.min() in (10, 11) and cols.min() in (20, 21)


def test_pose_reads_coco_keypoints_through_the_crop(tmp_path):
    points = coco_people(tmp_path, 3)
    task = get_task("pose")
    split = task.pairs(1, seed=0, n_val=2, size=(32, 32), data=task.open_data("coco", tmp_path))
    for pair in split.train + split.val:
        keypoints = pair.info["keypoints"]
        # 40×60 → central 40×40 (columns 10..50) → 32×32: x' = (x − 10)·0.8, y' = y·0.8
        np.testing.assert_allclose(keypoints[0, :, 0], (points[:, 0] - 10) * 0.8, atol=1e-4)
        np.testing.assert_allclose(keypoints[0, :, 1], points[:, 1] * 0.8, atol=1e-4)
        assert task.score([pair.y], [pair])["match_rate"] == 100.0


def test_depth_reads_nyuv2_and_hypersim(tmp_path):
    _, depth = nyu_fixture(tmp_path / "nyu_depth_v2_labeled.mat")
    task = get_task("depth")
    split = task.pairs(1, seed=0, n_val=1, size=(16, 16), data=task.open_data("nyuv2", tmp_path))
    for pair in split.train + split.val:
        assert pair.info["depth"].shape == (16, 16)
        assert set(np.unique(pair.info["depth"])) <= set(np.unique(depth))
        assert task.score([pair.y], [pair])["delta1"] == 1.0
    for frame in (0, 1):
        hypersim_frame(tmp_path / "hypersim", "ai_001_001", "00", frame)
    data = task.open_data("hypersim", tmp_path / "hypersim")
    pair = task.pairs(1, seed=0, n_val=1, size=(16, 16), data=data).train[0]
    invalid = np.isnan(pair.info["depth"])
    assert invalid.any() and (pair.y[invalid] == 0).all()
    assert task.score([pair.y], [pair])["delta1"] == 1.0


def test_segmentation_tasks_read_ade20k(tmp_path):
    labels = ade_fixture(tmp_path)
    to_seg, to_image = get_task("image_to_segmentation"), get_task("segmentation_to_image")
    a = to_seg.pairs(1, seed=0, n_val=2, size=(20, 40), data=to_seg.open_data("ade20k", tmp_path))
    b = to_image.pairs(
        1, seed=0, n_val=2, size=(20, 40), data=to_image.open_data("ade20k", tmp_path)
    )
    for seg, image in zip(a.train + a.val, b.train + b.val, strict=True):
        np.testing.assert_array_equal(seg.info["labels"], labels)
        np.testing.assert_array_equal(seg.y, PALETTE[labels])
        np.testing.assert_array_equal(image.x, seg.y)
        assert to_seg.score([seg.y], [seg])["palette_miou"] == 1.0


def test_grid_reads_tinyimagenet_with_held_out_validation_images(tmp_path):
    tiny_fixture(tmp_path, goldfish_train=10)
    task = get_task("grid_classification")
    data = task.open_data("tinyimagenet", tmp_path, per_class=10)
    split = task.pairs(3, seed=0, n_val=2, size=(32, 32), data=data)
    # Fixture images are flat with red = 20 × their number; train holds numbers 0..7 of each
    # class in name order, validation the last two, so their reds never meet.
    train_reds = {
        int(p.x[r, c, 0]) for p in split.train for r in range(0, 32, 8) for c in range(0, 32, 8)
    }
    val_reds = {
        int(p.x[r, c, 0]) for p in split.val for r in range(0, 32, 8) for c in range(0, 32, 8)
    }
    train_allowed = {
        int(image[0, 0, 0]) for n in data.class_names for image in data.images(n, "train")
    }
    val_allowed = {int(image[0, 0, 0]) for n in data.class_names for image in data.images(n, "val")}
    assert train_reds <= train_allowed and val_reds <= val_allowed
    for pair in split.val:
        assert task.score([pair.y], [pair])["accuracy"] == 1.0


def test_wrong_dataset_or_too_small_a_dataset_is_one_clear_error(tmp_path):
    with pytest.raises(
        ValueError, match="task 'hflip' cannot read dataset 'ade20k'; allowed: dreambooth"
    ):
        get_task("hflip").open_data("ade20k", tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'; allowed: dreambooth, coco"):
        from tasks.datasets import open_dataset

        open_dataset("imagenet", tmp_path)
    photo_folder(tmp_path / "db", 3)
    task = get_task("zoom")
    with pytest.raises(
        ValueError,
        match="its dataset offers 3 pairs and n \\+ n_val = 5 are needed; allowed: n ≤ 1",
    ):
        task.pairs(3, seed=0, n_val=2, data=task.open_data("dreambooth", tmp_path / "db"))
    with pytest.raises(DatasetError, match="does not exist"):
        get_task("depth").open_data("nyuv2", tmp_path / "missing.mat")
