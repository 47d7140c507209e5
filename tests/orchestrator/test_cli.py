"""The CLI contract: --dry-run prints one JSON object per trial and nothing else; bad input is a
one-line error naming the bad value and what is allowed."""

import json
import re
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
    assert {t["backbone"] for t in trials} == {"ltx"} and {t["n"] for t in trials} == {3}
    assert {t["scale"] for t in trials} == {"micro"}


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
    assert main([*argv, f"ltx={absent}"]) == 2
    assert capsys.readouterr().err == (
        f"error: --weights ltx=...: weights folder '{absent}' does not exist; "
        "expected Lightricks/LTX-Video layout\n"
    )
    (tmp_path / "partial" / "transformer").mkdir(parents=True)
    assert main([*argv, f"ltx={tmp_path / 'partial'}"]) == 2
    assert "lacks vae, text_encoder, tokenizer, scheduler" in capsys.readouterr().err
    assert main([*argv, f"sora={tmp_path}"]) == 2
    assert "unknown backbone 'sora' in --weights; allowed: cogvideox, ltx, wan" in (
        capsys.readouterr().err
    )


@pytest.mark.slow  # ~13 s
def test_unreachable_storage_is_one_line_and_no_gpu_is_said_first(capsys):
    import socket

    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    storage = f"s3://sweeps/x?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    argv = ["smoke", "--storage", storage, "--tracking-uri", f"http://127.0.0.1:{port}"]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    from trainables.backbones import micro_weights
    from trainables.weights import weights_digest

    digest = weights_digest(micro_weights("ltx"))
    assert out.splitlines()[0].endswith(  # the first line says which weights run
        f"12 trials on ltx/micro (micro ltx: pretrained weights ltx-micro ({digest})); "
        "no GPU on this machine: the tiny and micro backbones run on the CPU"
    )
    assert main([*argv, "--scale", "tiny"]) == 2
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .endswith(
            "(tiny backbones: random weights, a plumbing run, not a result); "
            "no GPU on this machine: the tiny and micro backbones run on the CPU"
        )
    )
    assert err.startswith(f"error: storage {storage} unreachable: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("n", "said"), [("0", "bad n 0 for task"), ("1000", "bad n 1000 for task")]
)
def test_n_outside_1_to_30_is_one_line_before_ray_starts(capsys, tmp_path, n, said):
    import ray

    # Not a dry run: the check must come before Ray starts (it used to fail inside the trial).
    assert main(["smoke", "--n", n, "--storage", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and said in err and err.rstrip().endswith("allowed: 1..30"), err
    assert not ray.is_initialized() and not any(tmp_path.iterdir())


def test_n_beyond_what_a_real_dataset_holds_is_one_line_before_ray_starts(capsys, tmp_path):
    import ray

    from tests.tasks.fixtures import photo_folder

    photo_folder(tmp_path / "db", 4)  # 4 photos: n = 3 with the smoke sweep's 2 validation pairs
    argv = ["smoke", "--tasks", "hflip", "--data", f"dreambooth={tmp_path / 'db'}"]
    assert main([*argv, "--n", "3", "--storage", str(tmp_path / "sweeps")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: --data dreambooth={tmp_path / 'db'}: bad n 3 for task 'hflip': its dataset "
        "offers 4 pairs and n + n_val = 5 are needed; allowed: n ≤ 2\n"
    )
    assert not ray.is_initialized() and not (tmp_path / "sweeps").exists()
    assert main([*argv, "--n", "2", "--dry-run"]) == 0


def test_a_placement_that_cannot_keep_the_global_batch_is_refused(capsys, tmp_path):
    """On 24 GB cards CogVideoX1.5 (Table 3: batch 2; 32 GB as measured) needs 3 ZeRO-3 ranks
    and Wan2.1 (batch 1) 4: each rank drawing its own batch would multiply the global batch, and
    neither batch splits over its ranks. Refused, naming both ways out."""
    weights = []
    for name in ("cogvideox", "ltx", "wan"):
        for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
            (tmp_path / name / sub).mkdir(parents=True)
        weights += ["--weights", f"{name}={tmp_path / name}"]
    for sub in ("image_encoder", "image_processor"):
        (tmp_path / "wan" / sub).mkdir()
    argv = ["backbones", "--scale", "full", "--dry-run", *weights]
    assert main([*argv, "--card-gb", "24"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: bad batch_size 2 for cogvideox/") and err.count("\n") == 1, err
    assert "on 3 ranks" in err and "or batch_size a multiple of 3" in err
    assert re.search(r"allowed: cards of \d+ GB or more \(--card-gb\)", err)
    assert main([*argv, "--card-gb", "80"]) == 0  # one card holds it whole: batch 1 as in the paper
