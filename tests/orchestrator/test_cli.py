"""The CLI contract: --dry-run prints one JSON object per trial and nothing else; bad input is a
one-line error naming the bad value and what is allowed."""

import json
import subprocess
import sys

import pytest

from orchestrator.sweep import main
from search_spaces import load_sweep


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.sweep", *args], capture_output=True, text=True
    )


def test_dry_run_prints_one_json_object_per_trial_and_nothing_else():
    done = run_cli("smoke", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    trials = [json.loads(line) for line in lines]
    assert len(trials) == len(load_sweep("smoke").trials) == 12
    combos = {(t["task"], t["trajectory"], t["modules"]) for t in trials}
    assert len(combos) == 12
    assert {t["backbone"] for t in trials} == {"cogvideox"} and {t["n"] for t in trials} == {3}


def test_help_lists_the_options():
    done = run_cli("--help")
    assert done.returncode == 0
    for option in ("--storage", "--tracking-uri", "--name", "--dry-run"):
        assert option in done.stdout


def test_unknown_sweep_is_a_one_line_error(capsys):
    assert main(["nosuch", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "unknown sweep 'nosuch'; allowed:" in err and "smoke" in err


@pytest.mark.parametrize("name", ["../escape", "a b", ""])
def test_bad_run_name_is_rejected(capsys, name):
    assert main(["smoke", "--name", name, "--dry-run"]) == 2
    assert f"bad --name {name!r}" in capsys.readouterr().err
