"""The three catalog tasks: seeded, disjoint, well-formed pairs, and scores of perfect answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks import Pair, Split, Task, get_task, registry, task_names
from tasks.sources import SOURCE_NAMES, natural_image, shape_scene

NAMES = ("hflip", "colorization", "binary_segmentation")


def all_pairs(split: Split) -> list[Pair]:
    return split.train + split.val


def test_catalog_is_discovered() -> None:
    assert set(NAMES) <= set(task_names())
    assert task_names() == sorted(task_names())


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str) -> None:
    task = get_task(name)
    a, b = task.pairs(3, seed=1), get_task(name).pairs(3, seed=1)
    for p, q in zip(all_pairs(a), all_pairs(b), strict=True):
        np.testing.assert_array_equal(p.x, q.x)
        np.testing.assert_array_equal(p.y, q.y)


@pytest.mark.parametrize("name", NAMES)
def test_seeds_differ(name: str) -> None:
    task = get_task(name)
    a, b = task.pairs(5, seed=0), task.pairs(5, seed=1)
    assert {p.x.tobytes() for p in a.train} != {p.x.tobytes() for p in b.train}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n, seed", [(1, 0), (10, 3), (30, 42)])
def test_train_val_disjoint_and_well_formed(name: str, n: int, seed: int) -> None:
    split = get_task(name).pairs(n, seed=seed, n_val=4, size=(32, 48))
    assert len(split.train) == n and len(split.val) == 4
    train = {p.x.tobytes() for p in split.train}
    val = {p.x.tobytes() for p in split.val}
    assert len(train) == n and len(val) == 4, "pairs repeat within a split"
    assert not train & val
    for pair in all_pairs(split):
        for image in (pair.x, pair.y):
            assert image.shape == (32, 48, 3)
            assert image.dtype == np.uint8


def test_hflip_target_is_flipped_input() -> None:
    for pair in all_pairs(get_task("hflip").pairs(3, seed=0)):
        np.testing.assert_array_equal(pair.y, pair.x[:, ::-1])
        assert not np.array_equal(pair.x, pair.y)


def test_colorization_input_is_luma_of_target() -> None:
    for pair in all_pairs(get_task("colorization").pairs(3, seed=0)):
        assert np.array_equal(pair.x[..., 0], pair.x[..., 1])
        assert np.array_equal(pair.x[..., 0], pair.x[..., 2])
        luma = pair.y.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        assert np.abs(pair.x[..., 0].astype(np.float64) - luma).max() <= 0.5 + 1e-9
        assert not np.array_equal(pair.y[..., 0], pair.y[..., 1]), "target should be colour"


def test_segmentation_target_is_binary_mask() -> None:
    for pair in all_pairs(get_task("binary_segmentation").pairs(5, seed=0)):
        assert set(np.unique(pair.y)) <= {0, 255}
        assert np.array_equal(pair.y[..., 0], pair.y[..., 1])
        assert np.array_equal(pair.y[..., 0], pair.y[..., 2])
        white = pair.y[..., 0] == 255
        assert 0 < white.sum() < white.size


def test_shape_scene_mask_matches_painted_pixels() -> None:
    for index in range(20):
        image, mask = shape_scene(index, (40, 40))
        assert mask.dtype == bool and 0 < mask.sum() < mask.size
        again, mask_again = shape_scene(index, (40, 40))
        np.testing.assert_array_equal(image, again)
        np.testing.assert_array_equal(mask, mask_again)


def test_natural_images_are_many_and_distinct() -> None:
    images = [natural_image(i, (16, 16)) for i in range(300)]
    assert len({image.tobytes() for image in images}) == 300
    assert len(SOURCE_NAMES) >= 8


@pytest.mark.parametrize("name, expected", [
    ("hflip", {"psnr": math.inf, "ssim": 1.0}),
    ("colorization", {"psnr": math.inf, "ssim": 1.0}),
    ("binary_segmentation", {"miou": 1.0}),
])  # fmt: skip
def test_perfect_predictions_score_perfectly(name: str, expected: dict[str, float]) -> None:
    task = get_task(name)
    val = task.pairs(1, seed=0).val
    scores = task.score([pair.y.copy() for pair in val], val)
    assert scores.keys() == expected.keys()
    assert list(scores) == list(task.metrics)
    for metric, value in expected.items():
        assert scores[metric] == pytest.approx(value)


def test_score_of_inputs_is_imperfect() -> None:
    task = get_task("binary_segmentation")
    val = task.pairs(1, seed=0).val
    black = [np.zeros_like(p.y) for p in val]
    assert task.score(black, val)["miou"] < 1.0
    with pytest.raises(ValueError, match="1 predictions and 4 targets"):
        task.score(black[:1], val)


@pytest.mark.parametrize("n", [0, 31, -1, 2.0, True])
def test_bad_n(n) -> None:
    with pytest.raises(ValueError, match=rf"n must be an int in 1\.\.30; got {n!r}"):
        get_task("hflip").pairs(n, seed=0)


@pytest.mark.parametrize("size", [(15, 64), (64, 8), (64,), (64, 64, 3), (32.0, 32), "64"])
def test_bad_size(size) -> None:
    with pytest.raises(ValueError, match="size must be"):
        get_task("hflip").pairs(1, seed=0, size=size)


def test_bad_n_val_and_seed() -> None:
    with pytest.raises(ValueError, match="n_val .* got 0"):
        get_task("hflip").pairs(1, seed=0, n_val=0)
    with pytest.raises(ValueError, match="seed .* got -3"):
        get_task("hflip").pairs(1, seed=-3)


def test_unknown_task() -> None:
    with pytest.raises(ValueError, match="unknown task 'nope'; allowed: .*hflip"):
        get_task("nope")


def test_subclass_registers_and_rejects_unknown_metric(monkeypatch) -> None:
    # A private copy of the registry, so the test task does not leak into other tests.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    class Identity(Task):
        name = "_test_identity"
        metrics = ("psnr",)

        def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
            image = natural_image(index, size)
            return Pair(x=image, y=image)

    assert "_test_identity" in task_names()
    assert isinstance(get_task("_test_identity"), Identity)

    with pytest.raises(TypeError, match="unknown metric 'lpips'"):

        class Bad(Task):
            name = "_test_bad"
            metrics = ("lpips",)

            def make_pair(self, index: int, size: tuple[int, int]) -> Pair:
                raise NotImplementedError
