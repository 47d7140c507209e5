"""benchmarks.micro_vae: the linear bound is a real PCA (its probes run in test_quick)."""

from __future__ import annotations

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
