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


def test_weights_are_checked_before_anything_starts(capsys, tmp_path):
    absent = tmp_path / "absent"
    argv = ["smoke", "--scale", "full", "--dry-run", "--weights"]
    assert main([*argv, f"cogvideox={absent}"]) == 2
    assert capsys.readouterr().err == (
        f"error: --weights cogvideox=...: weights folder '{absent}' does not exist; "
        "expected THUDM/CogVideoX1.5-5B-I2V layout\n"
    )
    (tmp_path / "partial" / "transformer").mkdir(parents=True)
    assert main([*argv, f"cogvideox={tmp_path / 'partial'}"]) == 2
    assert "lacks vae, text_encoder, tokenizer, scheduler" in capsys.readouterr().err
    assert main([*argv, f"sora={tmp_path}"]) == 2
    assert "unknown backbone 'sora' in --weights; allowed: cogvideox, ltx, wan" in (
        capsys.readouterr().err
    )


def test_unreachable_storage_is_one_line_and_no_gpu_is_said_first(capsys):
    import socket

    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    storage = f"s3://sweeps/x?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    argv = ["smoke", "--storage", storage, "--tracking-uri", f"http://127.0.0.1:{port}"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[0].endswith(
        "(tiny backbones: random weights, a plumbing run, not a result); "
        "no GPU on this machine: the tiny backbones run on the CPU"
    )
    assert err.startswith(f"error: storage {storage} unreachable: ") and err.count("\n") == 1
