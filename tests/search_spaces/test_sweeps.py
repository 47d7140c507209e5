"""Every shipped sweep: its trial count (SPEC §4), that each trial validates, and the CLI's
narrowing and widening of its axes."""

import json

import pytest

from orchestrator.sweep import main
from search_spaces import load_sweep, sweep_names, with_axis
from trainables.config import TrialConfig

# ablations (220), backbones (60), tasks (25) and grid (2400) return with the tasks they need.
EXPECTED = {"smoke": 12}


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


def test_with_axis_narrows_and_widens():
    trials = [{"task": t, "n": n} for t in ("a", "b") for n in (1, 2)]
    assert with_axis(trials, "n", [2]) == [{"task": "a", "n": 2}, {"task": "b", "n": 2}]
    widened = with_axis(trials, "n", [1, 2, 3])
    assert len(widened) == 6 and {"task": "b", "n": 3} in widened


def dry_run(capsys, *args):
    assert main([*args, "--dry-run"]) == 0
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def test_cli_overrides_narrow_widen_and_choose_steps(capsys):
    trials, err = dry_run(capsys, "smoke", "--tasks", "hflip", "--n", "3,1", "--ranks", "8")
    # 2 trajectories × 2 module groups × 2 values of n, rank set to 8
    assert len(trials) == 8 and {t["rank"] for t in trials} == {8}
    assert {t["n"] for t in trials} == {1, 3} and {t["task"] for t in trials} == {"hflip"}
    assert err.startswith("8 trials; about ")
    trials, _ = dry_run(capsys, "smoke", "--steps", "7", "--seeds", "1,2")
    assert len(trials) == 24 and {t["steps"] for t in trials} == {7}


def test_dry_run_estimates_gpu_hours_from_the_papers_speed(capsys):
    _, err = dry_run(capsys, "smoke", "--backbones", "cogvideox,ltx,wan", "--steps", "1000")
    # Tables 6/7: ~1.8 s a step for each backbone; 36 trials of 1000 steps
    assert err.strip() == (
        f"36 trials; about {36 * 1000 * 1.8 / 3600:,.2f} GPU-hours at full scale "
        "(the paper's Tables 6-7: ~1.8 s a step)"
    )


def test_full_scale_needs_weights_and_bad_values_are_one_line(capsys):
    assert main(["smoke", "--dry-run", "--scale", "full"]) == 2
    assert "--scale full needs --weights cogvideox=PATH" in capsys.readouterr().err
    assert main(["smoke", "--dry-run", "--weights", "nowhere"]) == 2
    assert "bad --weights 'nowhere'; expected BACKBONE=PATH" in capsys.readouterr().err
    assert main(["smoke", "--dry-run", "--tasks", "nosuch"]) == 2
    assert "unknown task 'nosuch'" in capsys.readouterr().err
    trials, _ = dry_run(
        capsys, "smoke", "--scale", "full", "--weights", "cogvideox=/w", "--tasks", "hflip"
    )
    assert {(t["scale"], t["weights"]) for t in trials} == {("full", "/w")}
