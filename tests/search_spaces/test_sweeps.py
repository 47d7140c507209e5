"""Every shipped sweep: its trial count (SPEC §4), that each trial validates, and the CLI's
narrowing and widening of its axes."""

import json
from collections import Counter

import pytest

from orchestrator.sweep import main
from search_spaces import load_sweep, sweep_names, with_axis
from search_spaces.ablations import VARIANTS
from trainables.config import TrialConfig

EXPECTED = {"ablations": 220, "backbones": 60, "grid": 2400, "smoke": 12, "tasks": 25}


def test_every_sweep_is_counted_here():
    assert sweep_names() == sorted(EXPECTED)


@pytest.mark.parametrize(("name", "count"), sorted(EXPECTED.items()))
def test_trial_counts_and_every_trial_validates(name, count):
    sweep = load_sweep(name)
    assert len(sweep.trials) == count
    configs = [TrialConfig.from_dict(t) for t in sweep.trials]
    keys = {tuple(sorted(t.items())) for t in sweep.trials}
    assert len(keys) == count  # no trial twice
    for table in sweep.tables:
        assert all(hasattr(configs[0], k) for k in (table.rows, *table.fixed))


def test_ablations_are_eleven_configurations_with_tables_6_seeds():
    assert len(VARIANTS) == 11
    trials = load_sweep("ablations").trials
    per_n = Counter((t["n"], t["task"]) for t in trials)
    assert {per_n[(n, "pose")] for n in (3, 5, 10)} == {33} and per_n[(30, "pose")] == 11
    steps = {(t["task"], t["n"]): t["steps"] for t in trials}
    assert steps[("binary_segmentation", 3)] == 1000 and steps[("pose", 10)] == 2000
    assert steps[("pose", 30)] == 4000
    assert {t["sample_steps"] for t in trials} == {5}


def test_backbones_use_their_own_table_3_settings():
    configs = [TrialConfig.from_dict(t) for t in load_sweep("backbones").trials]
    by_backbone = {c.backbone: c for c in configs}
    assert (by_backbone["ltx"].modules, by_backbone["ltx"].lr) == ("all-linear", 1e-3)
    assert (by_backbone["wan"].rank, by_backbone["wan"].modules) == (128, "QKVO+FF")
    assert Counter(c.backbone for c in configs) == {"ltx": 20, "cogvideox": 20, "wan": 20}


def test_with_axis_narrows_and_widens():
    trials = [{"task": t, "n": n} for t in ("a", "b") for n in (1, 2)]
    assert with_axis(trials, "n", [2]) == [{"task": "a", "n": 2}, {"task": "b", "n": 2}]
    widened = with_axis(trials, "n", [1, 2, 3])
    assert len(widened) == 6 and {"task": "b", "n": 3} in widened


def test_with_axis_keeps_settings_that_belong_to_one_value_of_the_axis():
    # Only the "c" trials carry steps: they keep them, and widening to the values the sweep
    # already has changes nothing (it used to double the combinations).
    trials = [{"b": "c", "n": n, "steps": 10 * n} for n in (1, 2)] + [
        {"b": "d", "n": n} for n in (1, 2)
    ]
    assert with_axis(trials, "b", ["c", "d"]) == trials[:1] + trials[2:3] + trials[1:2] + trials[3:]
    assert with_axis(trials, "b", ["c"]) == trials[:2]
    assert with_axis(trials, "b", ["e"]) == [{"b": "e", "n": 1}, {"b": "e", "n": 2}]
    grid = load_sweep("grid").trials
    assert len(with_axis(grid, "backbone", ["cogvideox", "ltx", "wan"])) == len(grid)


def dry_run(capsys, *args):
    assert main([*args, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def test_cli_overrides_narrow_widen_and_choose_steps(capsys):
    trials, err = dry_run(capsys, "ablations", "--tasks", "pose", "--n", "3,1", "--ranks", "8")
    # 4 trajectories + 4 module groups (the default once) = 7 configs, rank set to 8
    assert {t["rank"] for t in trials} == {8} and {t["n"] for t in trials} == {1, 3}
    assert {t["task"] for t in trials} == {"pose"}
    assert err.startswith(f"{len(trials)} trials; about ")
    trials, _ = dry_run(capsys, "smoke", "--steps", "7", "--seeds", "1,2")
    assert len(trials) == 24 and {t["steps"] for t in trials} == {7}


def test_dry_run_estimates_gpu_hours_from_the_papers_speed(capsys):
    _, err = dry_run(capsys, "backbones")
    # Table 6's totals for exactly these 60 runs: CogVideoX1.5 20 h, LTX-Video 32.5 h, Wan2.1 28 h
    expected = 20 + 32.5 + 28
    assert err.strip() == (
        f"60 trials; about {expected:,.2f} GPU-hours at full scale "
        "(the paper's Table 6 per-step times)"
    )


def test_full_scale_needs_weights_and_bad_values_are_one_line(capsys, tmp_path):
    assert main(["smoke", "--dry-run", "--scale", "full"]) == 2
    assert "--scale full needs --weights ltx=PATH" in capsys.readouterr().err
    assert main(["smoke", "--dry-run", "--weights", "nowhere"]) == 2
    assert "bad --weights 'nowhere'; expected BACKBONE=PATH" in capsys.readouterr().err
    assert main(["smoke", "--dry-run", "--tasks", "nosuch"]) == 2
    assert "unknown task 'nosuch'" in capsys.readouterr().err
    for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        (tmp_path / "w" / part).mkdir(parents=True)  # the hub layout --weights is checked for
    weights = str(tmp_path / "w")
    trials, _ = dry_run(
        capsys, "smoke", "--scale", "full", "--weights", f"ltx={weights}", "--tasks", "hflip"
    )
    assert {(t["scale"], t["weights"]) for t in trials} == {("full", weights)}


def test_data_goes_to_the_trials_whose_task_reads_it(capsys, tmp_path):
    trials, _ = dry_run(capsys, "tasks", "--data", f"coco={tmp_path}", "--groups", "QK")
    by_task = {t["task"]: t for t in trials}
    assert by_task["pose"]["dataset"] == by_task["binary_segmentation"]["dataset"] == "coco"
    assert by_task["pose"]["data_root"] == str(tmp_path)
    assert by_task["hflip"]["dataset"] is None and by_task["depth"]["data_root"] is None
    assert {t["modules"] for t in trials} == {"QK"}  # --groups is --modules


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("ade20k={tmp}", "--data ade20k=...: no task of this sweep reads 'ade20k'"),
        ("coco={tmp}/absent", "--data coco={tmp}/absent: no such file or folder"),
        ("imagenet={tmp}", "unknown dataset 'imagenet' in --data; allowed: dreambooth, coco"),
        ("coco", "bad --data 'coco'; expected DATASET=PATH"),
    ],
)
def test_bad_data_is_one_line(capsys, tmp_path, data, message):
    assert main(["ablations", "--dry-run", "--data", data.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(tmp=tmp_path)) and err.count("\n") == 1
