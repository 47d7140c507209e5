"""Every catalog task: seeded, disjoint, well-formed pairs, each target built as SPEC §1 says,
and scores of perfect answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks import Pair, Split, Task, get_task, registry, sources, task_names
from tasks.sources import SOURCE_NAMES, natural_image, shape_scene

SPEC_TASKS = (
    "zoom", "hflip", "vflip", "rot45", "rot90", "shear", "style_transfer", "colorization",
    "inpainting", "jigsaw", "binary_segmentation", "pose", "depth", "image_to_segmentation",
    "segmentation_to_image", "grid_classification",
)  # fmt: skip
NAMES = SPEC_TASKS


def all_pairs(split: Split) -> list[Pair]:
    return split.train + split.val


def test_catalog_is_every_spec_task() -> None:
    assert set(task_names()) == {*SPEC_TASKS, "pairs"}  # and the user's own (test_pairs)
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


@pytest.mark.parametrize("name", [n for n in NAMES if n != "grid_classification"])
def test_validation_pairs_come_only_from_held_out_photographs(name, monkeypatch) -> None:
    """Every photograph a task's pair is cut from (its image, a scene's background or texture):
    held-out ones for validation pairs, the others for training pairs. Grid classification's
    classes are photographs, so its validation grids are other crops of the same ones."""
    requested: list[str] = []
    real = sources.source_image

    def spy(photo: str):
        requested.append(photo)
        return real(photo)

    task = get_task(name)
    drawn: list[int] = []
    make_pair = task.make_pair
    monkeypatch.setattr(task, "make_pair", lambda i, size: drawn.append(i) or make_pair(i, size))
    task.pairs(3, seed=3, n_val=4, size=(32, 32))
    assert [sources.is_validation(i) for i in drawn] == [False] * 3 + [True] * 4
    monkeypatch.setattr(sources, "source_image", spy)
    for index, held_out in ((5, False), (sources.validation_index(5), True)):
        requested.clear()
        for offset in range(6):
            task.make_pair(index + offset, (32, 32))
        allowed = sources.HELD_OUT_SOURCES if held_out else sources.TRAINING_SOURCES
        assert set(requested) <= set(allowed), (index, requested)
    assert set(sources.HELD_OUT_SOURCES).isdisjoint(sources.TRAINING_SOURCES)


PERFECT = {
    "psnr": math.inf, "ssim": 1.0, "psnr_masked": math.inf, "ssim_masked": 1.0, "miou": 1.0,
    "match_rate": 100.0, "delta1": 1.0, "palette_miou": 1.0, "accuracy": 1.0,
}  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_perfect_predictions_score_perfectly(name: str) -> None:
    task = get_task(name)
    val = task.pairs(1, seed=0, size=(48, 64)).val
    scores = task.score([pair.y.copy() for pair in val], val)
    assert list(scores)[: len(task.metrics)] == list(task.metrics)
    for metric in task.metrics:
        if metric == "abs_rel":  # 8-bit gray quantizes depth: near zero, not zero
            assert scores[metric] < 0.01
        else:
            assert scores[metric] == pytest.approx(PERFECT[metric])


@pytest.mark.parametrize("name", NAMES)
def test_inputs_as_predictions_score_worse(name: str) -> None:
    """Copying the input must not look like solving the task (catches a target equal to x)."""
    task = get_task(name)
    val = task.pairs(1, seed=0, size=(48, 64)).val
    primary = task.metrics[0]
    copied = task.score([pair.x.copy() for pair in val], val)[primary]
    assert copied < PERFECT[primary]


def test_score_of_inputs_is_imperfect() -> None:
    task = get_task("binary_segmentation")
    val = task.pairs(1, seed=0).val
    black = [np.zeros_like(p.y) for p in val]
    assert task.score(black, val)["miou"] < 1.0
    with pytest.raises(ValueError, match="1 predictions and 4 targets"):
        task.score(black[:1], val)


@pytest.mark.parametrize("n", [0, 31, -1, 2.0, True])
def test_bad_n(n) -> None:
    with pytest.raises(ValueError, match=rf"bad n {n!r} for task 'hflip'; allowed: 1\.\.30$"):
        get_task("hflip").pairs(n, seed=0)


@pytest.mark.parametrize("size", [(15, 64), (64, 8), (64,), (64, 64, 3), (32.0, 32), "64"])
def test_bad_size(size) -> None:
    with pytest.raises(ValueError, match="size must be"):
        get_task("hflip").pairs(1, seed=0, size=size)


def test_bad_n_val_and_seed() -> None:
    with pytest.raises(ValueError, match=r"bad n_val 0; allowed: 1\.\.970"):
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


def synthetic(size: tuple[int, int]) -> np.ndarray:
    """A dark image with a bright horizontal bar and a bright vertical bar through the centre:
    where they go shows what a geometric transform did."""
    image = np.zeros((*size, 3), np.uint8)
    image[size[0] // 2 - 1 : size[0] // 2 + 1, :, 0] = 255  # horizontal, red
    image[:, size[1] // 2 - 1 : size[1] // 2 + 1, 1] = 255  # vertical, green
    return image


def affine_target(name: str, side: int = 41) -> np.ndarray:
    task = get_task(name)
    source = task.source_size((side, side))
    return task.transform(synthetic(source), 0, (side, side)).y.astype(int)


def test_vflip_target_is_upside_down_input() -> None:
    for pair in all_pairs(get_task("vflip").pairs(3, seed=0)):
        np.testing.assert_array_equal(pair.y, pair.x[::-1])


def test_rot90_swaps_the_bars() -> None:
    y = affine_target("rot90")
    # The horizontal (red) bar becomes vertical, the vertical (green) one horizontal.
    assert y[:, 20, 0].min() > 150 and y[5, :15, 0].max() < 60
    assert y[20, :, 1].min() > 150 and y[:15, 5, 1].max() < 60


def test_rot90_is_counter_clockwise() -> None:
    image = np.zeros((41, 41, 3), np.uint8)
    image[20, 30:] = 255  # a bar from the centre to the right edge
    task = get_task("rot90")
    source = np.pad(image, ((1, 1), (1, 1), (0, 0)))  # source_size is 43 for 41
    assert task.source_size((41, 41)) == (43, 43)
    y = task.transform(source, 0, (41, 41)).y
    # Counter-clockwise on screen: right goes up.
    assert y[:10, 20].min() > 150 and y[31:, 20].max() < 60


def test_rot45_puts_the_horizontal_bar_on_the_rising_diagonal() -> None:
    y = affine_target("rot45")
    rising = [y[40 - i, i, 0] for i in range(6, 35)]  # bottom-left to top-right
    falling = [y[i, i, 0] for i in range(6, 35) if abs(i - 20) > 3]
    assert min(rising) > 100 and max(falling) < 60


def test_rot45_and_shear_show_no_empty_corners() -> None:
    for name in ("rot45", "shear"):
        for pair in get_task(name).pairs(2, seed=0, size=(32, 48)).train:
            corners = pair.y[[0, 0, -1, -1], [0, -1, 0, -1]]
            assert corners.max(axis=1).min() > 0, f"{name} shows a black corner"


def test_shear_slides_rows_in_proportion_to_height() -> None:
    from tasks.catalog.shear import SHEAR

    y = affine_target("shear")
    top, bottom = np.argmax(y[2, :, 1]), np.argmax(y[38, :, 1])
    # Output (x, y) samples input x + SHEAR·y about the centre: the vertical bar (input x = 0)
    # shows at x = −SHEAR·y, so right of centre at the top and left at the bottom.
    assert top - 20 == pytest.approx(SHEAR * 18, abs=1.5)
    assert bottom - 20 == pytest.approx(-SHEAR * 18, abs=1.5)


def test_zoom_enlarges_the_centre_twice() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    image[10:12, 10:12] = 255  # at the corner of the central half
    y = get_task("zoom").transform(image, 0, (40, 40)).y
    assert y[:4, :4].max() > 150 and y[8:, 8:].max() < 40


def test_jigsaw_moves_every_patch_and_keeps_them_all() -> None:
    from tasks.catalog.jigsaw import K

    for pair in all_pairs(get_task("jigsaw").pairs(3, seed=0, size=(48, 48))):
        side = 48 // K
        tiles = [
            (
                pair.x[r : r + side, c : c + side].tobytes(),
                pair.y[r : r + side, c : c + side].tobytes(),
            )
            for r in range(0, 48, side)
            for c in range(0, 48, side)
        ]
        assert sorted(t for t, _ in tiles) == sorted(t for _, t in tiles)
        assert all(a != b for a, b in tiles)


def test_inpainting_hole_is_flat_gray_and_the_rest_untouched() -> None:
    from tasks.catalog.inpainting import GRAY

    for pair in all_pairs(get_task("inpainting").pairs(3, seed=0, size=(48, 64))):
        mask = pair.info["mask"]
        assert (pair.x[mask] == GRAY).all()
        np.testing.assert_array_equal(pair.x[~mask], pair.y[~mask])
        assert 1 / 16 <= mask.mean() <= 1 / 4
        rows, cols = np.nonzero(mask)
        assert mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()


def test_style_transfer_target_uses_only_the_style_palette() -> None:
    from tasks.catalog.style_transfer import PALETTE

    allowed = {tuple(c) for c in PALETTE.astype(np.uint8)}
    for pair in all_pairs(get_task("style_transfer").pairs(2, seed=0)):
        assert {tuple(c) for c in pair.y.reshape(-1, 3)} <= allowed


def test_pose_target_is_the_colour_code_and_keypoints_exact() -> None:
    from tasks.pose import BACKGROUND, COLORS

    allowed = {BACKGROUND, *COLORS.values()}
    for pair in all_pairs(get_task("pose").pairs(3, seed=0, size=(96, 128))):
        keypoints = pair.info["keypoints"]
        assert keypoints.ndim == 3 and keypoints.shape[1:] == (17, 3)
        assert {tuple(c) for c in pair.y.reshape(-1, 3)} <= allowed
        for person in keypoints:  # every visible nose lies on the white head
            if person[0, 2] > 0:
                x, y = np.rint(person[0, :2]).astype(int)
                assert tuple(pair.y[y, x]) == COLORS["head"]


def test_depth_target_is_near_bright_and_linear_in_depth() -> None:
    for pair in all_pairs(get_task("depth").pairs(3, seed=0)):
        depth, gray = pair.info["depth"], pair.y[..., 0].astype(np.float64)
        assert np.corrcoef(depth.ravel(), gray.ravel())[0, 1] < -0.999
        assert gray[depth == depth.min()].min() == 255 and gray[depth == depth.max()].max() == 0


def test_segmentation_pair_is_the_palette_of_its_labels() -> None:
    from tasks.datasets.ade20k import PALETTE
    from tasks.scenes import GROUNDS, SKY

    to_seg = get_task("image_to_segmentation").pairs(3, seed=0)
    to_image = get_task("segmentation_to_image").pairs(3, seed=0)
    for seg, image in zip(all_pairs(to_seg), all_pairs(to_image), strict=True):
        labels = seg.info["labels"]
        np.testing.assert_array_equal(seg.y, PALETTE[labels])
        assert SKY in labels and set(np.unique(labels)) & set(GROUNDS)
        np.testing.assert_array_equal(image.x, seg.y)  # the same scenes, the other way round
        np.testing.assert_array_equal(image.y, seg.x)


def test_grid_targets_decode_to_labels_and_validation_tiles_are_held_out() -> None:
    from tasks.grid import cells, decode

    split = get_task("grid_classification").pairs(10, seed=0, n_val=4, size=(64, 64))
    tiles = {}
    for part, pairs in (("train", split.train), ("val", split.val)):
        tiles[part] = set()
        for pair in pairs:
            np.testing.assert_array_equal(decode(pair.y), pair.info["labels"])
            tiles[part] |= {pair.x[r, c].tobytes() for r, c in cells((64, 64))}
    assert not tiles["train"] & tiles["val"]
    assert len(set(np.concatenate([p.info["labels"] for p in split.train]))) == 7


def test_grid_score_carries_the_confusion_matrix() -> None:
    from tasks.grid import symbol_grid

    task = get_task("grid_classification")
    val = task.pairs(1, seed=0, n_val=2, size=(64, 64)).val
    wrong = [int(k) for k in val[0].info["labels"]]
    true = wrong[0]
    wrong[0] = (true + 1) % 7
    scores = task.score([symbol_grid(wrong, (64, 64)), val[1].y], val)
    assert scores["accuracy"] == pytest.approx(31 / 32)
    assert scores[f"confusion_{true}_{(true + 1) % 7}"] >= 1
    total = sum(v for k, v in scores.items() if k.startswith("confusion_"))
    assert total == 32
