"""`--tasks pairs --data pairs=PATH` through the sweep CLI: the trials as for a built-in task,
and every problem with the folder one line before Ray starts, in a dry run too."""

import json

import pytest

from orchestrator.sweep import main
from tests.tasks.test_pairs import flat, save, write_split

SMOKE_PAIRS = ["smoke", "--tasks", "pairs", "--scale", "tiny"]


def test_a_dry_run_lists_the_folders_trials(capsys, tmp_path):
    write_split(tmp_path / "mine", "train", range(10, 70, 10))  # 6 pairs: n 3 + n_val 2 fit
    assert main([*SMOKE_PAIRS, "--data", f"pairs={tmp_path / 'mine'}", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    trials = [json.loads(line) for line in out.splitlines()]
    assert len(trials) == 4 and err.startswith("4 trials; about ")  # 2 trajectories × 2 groups
    assert {(t["task"], t["dataset"], t["data_root"]) for t in trials} == {
        ("pairs", "pairs", str(tmp_path / "mine"))
    }


def test_pairs_without_its_folder_is_one_line(capsys):
    assert main([*SMOKE_PAIRS, "--dry-run"]) == 2
    assert capsys.readouterr().err == (
        "error: task 'pairs' has no embedded source; give it its data: --data pairs=PATH "
        "(docs/data.md)\n"
    )
    assert main(["smoke", "--data", "pairs=.", "--dry-run"]) == 2  # the folder, but no --tasks
    assert (
        capsys.readouterr().err == "error: --data pairs=...: no task of this sweep reads 'pairs'\n"
    )


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_broken_folder_is_one_line_before_ray_starts(capsys, tmp_path, dry_run):
    import ray

    mine = tmp_path / "mine"
    write_split(mine, "train", range(10, 70, 10))
    save(mine / "train" / "x" / "extra.png", flat(1))
    argv = [*SMOKE_PAIRS, "--data", f"pairs={mine}", "--storage", str(tmp_path / "sweeps")]
    argv += ["--dry-run"] * dry_run
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        f"error: --data pairs={mine}: {str(mine / 'train' / 'x' / 'extra.png')!r} is an input "
        f"without a target; expected {str(mine / 'train' / 'y' / 'extra')!r} + one of .png, "
        ".jpg, .jpeg\n"
    )
    (mine / "train" / "x" / "extra.png").unlink()
    (mine / "task.json").write_text('{"metric": "fid"}')
    assert main([*argv, "--n", "2"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("names unknown metric 'fid'; allowed: miou, psnr, ssim\n")
    assert err.count("\n") == 1
    (mine / "task.json").unlink()
    assert main([*argv, "--n", "5"]) == 2  # 6 pairs: n + n_val = 7 too many
    err = capsys.readouterr().err
    assert err.startswith(f"error: --data pairs={mine}: bad n 5 for task 'pairs': ")
    assert err.endswith("allowed: n + n_val ≤ 6, or a val/ folder\n") and err.count("\n") == 1
    assert not ray.is_initialized() and not (tmp_path / "sweeps").exists()
