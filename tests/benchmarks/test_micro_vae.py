"""benchmarks.micro_vae: the linear bound is a real PCA, and a probe trains the VAE it names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import micro_vae


def test_patches_round_trip_and_the_bound_rises_with_components():
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 24, 3))
    assert micro_vae.unpatch(micro_vae.patches(images), images.shape).tolist() == images.tolist()
    rows = micro_vae.linear_bound([3, 32, 192], fit_images=40, held_out=4)
    scores = [row["heldout_psnr_image"] for row in rows]
    assert scores[0] < scores[1] < scores[2]
    assert scores[2] > 60  # every component kept: the held-out images come back exactly


def test_a_probe_trains_the_config_it_names(tmp_path):
    from diffusers import AutoencoderKLLTXVideo

    from trainables.backbones.ltx import LTXVideo

    out = tmp_path / "micro_vae.json"
    overrides = {"latent_channels": 16}
    argv = ["--config", f"narrow={json.dumps(overrides)}", "--steps", "2", "--eval-every", "1"]
    argv += ["--clips", "4", "--held-out", "2", "--fit-images", "20", "--out", str(out)]
    assert micro_vae.main(argv) == 0
    probes = [r for r in json.loads(out.read_text())["rows"] if r["kind"] == "probe"]
    assert [r["step"] for r in probes] == [1, 2]
    expected = AutoencoderKLLTXVideo(**(LTXVideo.micro_vae | overrides))
    assert probes[0]["parameters"] == sum(p.numel() for p in expected.parameters())
    shipped = AutoencoderKLLTXVideo(**LTXVideo.micro_vae)
    assert probes[0]["parameters"] != sum(p.numel() for p in shipped.parameters())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--config", "x={not json"], "bad --config 'x={not json'"),
        (["--config", "x=[1]"], "allowed: NAME=JSON object"),
        (["--steps", "0"], "bad --steps 0; allowed: ≥ 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert micro_vae.main(argv) == 2
    assert message in capsys.readouterr().err
