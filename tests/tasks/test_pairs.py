"""The `pairs` task: a folder of the user's own input/target images (docs/data.md), read by name,
fitted to a trial's size, held out by seed without val/, scored on the folder's metric, and
every malformed folder one line naming the path and what is allowed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console

from orchestrator.paper_tables import table_values
from orchestrator.progress import SweepProgress
from search_spaces import Table
from tasks import get_task, trial_metrics
from tasks.datasets import DatasetError, fit
from tasks.datasets.pairs import PairsFolder, pair_metrics, read_rgb


def save(path: Path, array: np.ndarray, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)
    return path


def flat(red: int, height: int = 12, width: int = 20) -> np.ndarray:
    """A flat image whose red channel names it: a bicubic resize keeps it exactly."""
    return np.full((height, width, 3), (red, 40, 200), np.uint8)


def write_split(root: Path, split: str, reds: range, height: int = 12, width: int = 20) -> None:
    """Pair `pair<red>`: an input of that red, its target of 255 − red."""
    for red in reds:
        save(root / split / "x" / f"pair{red}.png", flat(red, height, width))
        save(root / split / "y" / f"pair{red}.png", flat(255 - red, height, width))


def reds(pairs) -> list[int]:
    return [int(pair.x[0, 0, 0]) for pair in pairs]


def test_pairs_are_read_by_name_and_fitted_like_every_real_dataset(tmp_path):
    """x/NAME with y/NAME (any accepted extension each), dot files skipped; each image centre-
    cropped to the trial's aspect then resized, the same crop for input and target."""
    wide = np.zeros((40, 80, 3), np.uint8)  # green | red | blue | green quarters
    wide[:, :20, 1] = wide[:, 60:, 1] = 255
    wide[:, 20:40, 0] = wide[:, 40:60, 2] = 255
    save(tmp_path / "train" / "x" / "wide.png", wide)
    save(tmp_path / "train" / "y" / "wide.PNG", wide[:, ::-1].copy())
    save(tmp_path / "train" / "x" / "small.jpeg", flat(90, 6, 6), quality=100)
    save(tmp_path / "train" / "y" / "small.png", flat(30, 6, 6))
    (tmp_path / "train" / "x" / ".DS_Store").write_bytes(b"\0\1")
    data = PairsFolder(tmp_path)
    assert [p.name for p in data.train] == ["small", "wide"] and data.val is None
    x, y = data.sample(1, (16, 16))  # the central 40×40 square: red | blue, no green
    assert x.shape == y.shape == (16, 16, 3) and x.dtype == y.dtype == np.uint8
    assert x[:, 1, 0].min() > 200 and x[:, -2, 2].min() > 200 and x[..., 1].max() < 30
    np.testing.assert_array_equal(x, fit(wide, (16, 16)))
    np.testing.assert_array_equal(y, x[:, ::-1])  # the target took the same crop
    x, y = data.sample(0, (32, 48))  # 6×6 upscaled (cropped to 4×6 first)
    assert x.shape == (32, 48, 3) and np.abs(x.astype(int) - (90, 40, 200)).max() <= 2
    assert (y == (30, 40, 200)).all()


def test_images_are_read_upright_and_as_rgb(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer rotates it 90° clockwise
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20, 0] = 255  # red on the left as stored: on top once upright
    path = save(tmp_path / "phone.png", stored, exif=exif)
    upright = read_rgb(path)
    assert upright.shape == (40, 20, 3) and upright[:20, :, 0].min() == 255
    assert upright[20:, :, 0].max() == 0
    gray = save(tmp_path / "gray.png", np.full((5, 7), 77, np.uint8))
    rgba = save(tmp_path / "rgba.png", np.full((5, 7, 4), (1, 2, 3, 0), np.uint8))
    assert (read_rgb(gray) == 77).all() and read_rgb(gray).shape == (5, 7, 3)
    assert (read_rgb(rgba) == (1, 2, 3)).all()


def test_without_val_a_seed_holds_its_validation_pairs_out_of_its_training_pairs(tmp_path):
    write_split(tmp_path, "train", range(10, 90, 10))  # 8 pairs
    task, data = get_task("pairs"), PairsFolder(tmp_path)
    drawn = []
    for seed in range(6):
        split = task.pairs(3, seed, n_val=2, size=(16, 16), data=data)
        train, val = reds(split.train), reds(split.val)
        assert len(set(train)) == 3 and len(set(val)) == 2 and not set(train) & set(val)
        assert set(train + val) <= set(range(10, 90, 10))
        for pair in split.train + split.val:  # each target is its own input's
            assert (pair.y[..., 0] == 255 - pair.x[0, 0, 0]).all()
        again = task.pairs(3, seed, n_val=2, size=(16, 16), data=PairsFolder(tmp_path))
        assert (reds(again.train), reds(again.val)) == (train, val)  # deterministic
        drawn.append((tuple(train), tuple(val)))
    assert len(set(drawn)) > 1, "every seed drew the same pairs"


def test_a_val_folder_gives_the_validation_pairs(tmp_path):
    write_split(tmp_path, "train", range(10, 60, 10))
    write_split(tmp_path, "val", range(200, 203))
    task, data = get_task("pairs"), PairsFolder(tmp_path)
    for seed in range(4):
        split = task.pairs(5, seed, n_val=3, size=(16, 16), data=data)
        assert sorted(reds(split.train)) == list(range(10, 60, 10))
        assert sorted(reds(split.val)) == [200, 201, 202]
    assert task.check_n(5, 3, data) == 5


def test_the_folder_names_its_metric_and_trials_and_reports_use_it(tmp_path):
    write_split(tmp_path, "train", range(10, 60, 10))
    task = get_task("pairs")
    assert trial_metrics("pairs", "pairs", str(tmp_path)) == ("psnr", "ssim")  # no task.json
    assert trial_metrics("pairs") == task.metrics == ("psnr", "ssim")
    (tmp_path / "task.json").write_text('{"metric": ["ssim", "psnr"]}')
    assert trial_metrics("pairs", "pairs", str(tmp_path)) == ("ssim", "psnr")
    (tmp_path / "task.json").write_text('{"metric": "miou"}')
    assert trial_metrics("pairs", "pairs", str(tmp_path)) == ("miou",)
    assert trial_metrics("hflip", "", "") == ("psnr", "ssim")  # MLflow's '' params
    split = task.pairs(2, 0, n_val=2, size=(16, 16), data=PairsFolder(tmp_path))
    scores = task.score(
        [p.y for p in split.val], split.val, task.metrics_for("pairs", str(tmp_path))
    )
    assert scores == {"miou": 1.0}
    # The report's tables rank by it (runs as MLflow gives them back: params are strings)...
    runs = pd.DataFrame(
        {"task": ["pairs"] * 2, "n": [2, 2], "trajectory": ["linear", "quadratic"],
         "dataset": ["pairs"] * 2, "data_root": [str(tmp_path)] * 2, "val_miou": [0.5, 0.75],
         "val_psnr": [30.0, 20.0]}
    )  # fmt: skip
    values = table_values(runs, Table("Trajectory", "trajectory", {}))
    assert values["metric"].tolist() == ["miou", "miou"] and values["mean"].tolist() == [50, 75]
    # ...and so does the live progress (best so far, per task).
    progress = SweepProgress(1, Console(file=io.StringIO(), force_terminal=False))

    class Trial:
        config = {"trial": {"task": "pairs", "dataset": "pairs", "data_root": str(tmp_path)}}

        def __str__(self) -> str:
            return "pairs_0"

    progress.on_trial_result(0, [], Trial(), {"step": 1, "val_miou": 0.25, "val_psnr": 9.0})
    assert progress.state.best["pairs"] == ("miou", 0.25, "pairs_0")


def test_a_folder_may_name_only_metrics_of_a_prediction_and_its_target(tmp_path):
    assert pair_metrics() == ["miou", "psnr", "ssim"]  # not the masked, depth or pose ones
    write_split(tmp_path, "train", range(10, 40, 10))
    settings = tmp_path / "task.json"
    for text, said in [
        ('{"metric": "lpips"}', "names unknown metric 'lpips'; allowed: miou, psnr, ssim"),
        ('{"metric": "psnr_masked"}', "unknown metric 'psnr_masked'; allowed: miou, psnr, ssim"),
        ('{"metric": []}', 'has metric []; expected {"metric": NAME}'),
        ('{"metrics": "psnr"}', "holds ['metrics']; expected {\"metric\": NAME}"),
        ("metric: psnr", "is not readable JSON (Expecting value: line 1 column 1"),
    ]:
        settings.write_text(text)
        with pytest.raises(DatasetError) as raised:
            PairsFolder(tmp_path)
        message = str(raised.value)
        assert message.startswith(f"{str(settings)!r}") and said in message and "\n" not in message


def broken(root: Path, case: str) -> str:
    """A folder broken one way; the error it must give (after the path it names)."""
    write_split(root, "train", range(10, 40, 10))
    x, y = root / "train" / "x", root / "train" / "y"
    if case == "input without target":
        save(x / "lonely.jpg", flat(1))
        save(x / "lonelier.png", flat(1))
        return f"{str(x / 'lonelier.png')!r} (and 1 more) is an input without a target; " + (
            f"expected {str(y / 'lonelier')!r} + one of .png, .jpg, .jpeg"
        )
    if case == "target without input":
        save(y / "orphan.png", flat(1))
        return f"{str(y / 'orphan.png')!r} is a target without an input; expected " + (
            f"{str(x / 'orphan')!r} + one of .png, .jpg, .jpeg"
        )
    if case == "zero bytes":
        (y / "pair20.png").write_bytes(b"")
        return f"{str(y / 'pair20.png')!r} is empty (0 bytes); expected a png or jpg image"
    if case == "not an image":
        (x / "pair20.png").write_text("hello")
        return f"{str(x / 'pair20.png')!r} cannot be read as an image (not a format PIL knows); "
    if case == "truncated":
        whole = (x / "pair20.png").read_bytes()
        (x / "pair20.png").write_bytes(whole[: len(whole) // 2])
        return f"{str(x / 'pair20.png')!r} cannot be read as an image ("
    if case == "sizes differ":
        save(y / "pair30.png", flat(225, 12, 18))
        return f"{str(x / 'pair30.png')!r} is 20×12 but its target {str(y / 'pair30.png')!r} " + (
            "is 18×12 (width×height); allowed: an input and its target of the same size"
        )
    if case == "other file":
        (x / "notes.txt").write_text("my pairs")
        return f"{str(x / 'notes.txt')!r} is not an image file; allowed in x/: .png, .jpg, .jpeg"
    if case == "same name twice":
        save(x / "pair10.jpg", flat(10))
        return f"{str(x / 'pair10.png')!r} and {str(x / 'pair10.jpg')!r} share the name 'pair10'"
    if case == "empty val":
        (root / "val" / "x").mkdir(parents=True)
        (root / "val" / "y").mkdir()
        return f"{str(root / 'val')!r} holds no pairs; expected a folder of pairs: train/x/"
    if case == "no y folder":
        for path in y.iterdir():
            path.unlink()
        y.rmdir()
        return f"{str(y)!r} does not exist; expected y/ of a folder of pairs"
    raise AssertionError(case)


CASES = ["input without target", "target without input", "zero bytes", "not an image",
         "truncated", "sizes differ", "other file", "same name twice", "empty val",
         "no y folder"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_broken_folder_is_one_line_naming_the_path(tmp_path, case):
    said = broken(tmp_path, case)
    with pytest.raises(DatasetError) as raised:
        PairsFolder(tmp_path)
    assert str(raised.value).startswith(said) and "\n" not in str(raised.value)


def test_an_empty_or_missing_folder_is_one_line(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere' does not exist; expected a folder of pairs"):
        PairsFolder(tmp_path / "nowhere")
    (tmp_path / ".hidden").write_text("")
    with pytest.raises(DatasetError) as raised:
        PairsFolder(tmp_path)
    assert str(raised.value) == (
        f"{str(tmp_path)!r} is empty; expected a folder of pairs: train/x/NAME.png with "
        "train/y/NAME.png (png, jpg), optional val/"
    )
    (tmp_path / "train" / "x").mkdir(parents=True)
    (tmp_path / "train" / "y").mkdir()
    with pytest.raises(DatasetError, match=r"train' holds no pairs; expected a folder of pairs"):
        PairsFolder(tmp_path)


def test_fewer_pairs_than_n_is_one_line(tmp_path):
    write_split(tmp_path, "train", range(10, 50, 10))  # 4 pairs
    task, data = get_task("pairs"), PairsFolder(tmp_path)
    train = str(tmp_path / "train")
    with pytest.raises(ValueError) as raised:
        task.check_n(3, 2, data)
    assert str(raised.value) == (
        f"bad n 3 for task 'pairs': {train!r} holds 4 pairs and, with no val/, n + n_val = 5 "
        "are needed (n_val held out for validation); allowed: n + n_val ≤ 4, or a val/ folder"
    )
    assert task.check_n(2, 2, data) == 4
    write_split(tmp_path, "val", range(100, 102))
    data = PairsFolder(tmp_path)
    with pytest.raises(ValueError) as raised:
        task.check_n(5, 2, data)
    assert str(raised.value) == f"bad n 5 for task 'pairs': {train!r} holds 4 pairs; allowed: n ≤ 4"
    with pytest.raises(ValueError) as raised:
        task.pairs(4, 0, n_val=3, data=data)
    assert str(raised.value) == (
        f"bad n_val 3 for task 'pairs': {str(tmp_path / 'val')!r} holds 2 pairs; allowed: n_val ≤ 2"
    )


def test_without_its_folder_the_task_says_how_to_give_it(tmp_path):
    with pytest.raises(ValueError) as raised:
        get_task("pairs").pairs(2, 0)
    assert str(raised.value) == (
        "task 'pairs' has no embedded source; give it a folder: --data pairs=PATH"
    )
