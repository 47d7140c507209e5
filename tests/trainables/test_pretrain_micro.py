"""`python -m trainables.pretrain_micro` end to end at a few steps: the hub-layout folder it
writes loads the full way, the run is in MLflow, the same seed gives the same weights, and a
failure leaves the weights that were there."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mlflow.tracking import MlflowClient

from trainables import pretrain_micro
from trainables.backbones import load, to_unit_range
from trainables.weights import weights_digest

FEW = [
    "--clips=4",
    "--vae-steps=2",
    "--vae-clips=1",
    "--transformer-steps=2",
    "--transformer-batch=2",
    "--warmup-steps=1",
    "--eval-every=1",
    "--held-out=2",
]


def run(tmp_path, out, *extra: str) -> tuple[dict, str]:
    threads = f"--threads={torch.get_num_threads()}"  # pretrain sets it process-wide
    settings, out, _ = pretrain_micro.parse_settings([*FEW, threads, *extra, f"--out={out}"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return pretrain_micro.pretrain(settings, out, uri), uri


@pytest.mark.slow  # ~11 s
def test_a_few_steps_write_a_loadable_folder_logged_in_mlflow_and_reproducible(tmp_path):
    out = tmp_path / "ltx-micro"
    out.mkdir()
    (out / "stale.txt").write_text("the old folder")
    summary, uri = run(tmp_path, out)
    assert not (out / "stale.txt").exists()  # swapped whole, not merged
    assert not list(tmp_path.glob(".ltx-micro-*"))  # no staging folder left behind
    backbone = load("ltx", "full", out)
    assert backbone.pipeline.vae_temporal_compression_ratio == 8
    # The latent statistics were measured, not left at the class's defaults.
    assert not torch.allclose(backbone.vae.latents_std, torch.ones_like(backbone.vae.latents_std))
    run_info = MlflowClient(tracking_uri=uri).get_run(summary["run_id"])
    assert run_info.info.status == "FINISHED"
    assert run_info.data.params["vae_steps"] == "2"
    assert {"vae_heldout_psnr_image", "transformer_loss"} <= set(run_info.data.metrics)
    first = weights_digest(out)
    again = tmp_path / "again"
    run(tmp_path, again)
    assert weights_digest(again) == first  # the same settings, literally the same computation
    other = tmp_path / "other"
    run(tmp_path, other, "--seed=1")
    assert weights_digest(other) != first


def test_a_failed_pretraining_keeps_the_old_weights_and_marks_the_run_failed(tmp_path, monkeypatch):
    out = tmp_path / "ltx-micro"
    out.mkdir()
    (out / "weights.txt").write_text("the old weights")

    def fail(*args, **kwargs):
        raise RuntimeError("killed while training the transformer")

    monkeypatch.setattr(pretrain_micro, "train_transformer", fail)
    with pytest.raises(RuntimeError, match="killed"):
        run(tmp_path, out)
    assert (out / "weights.txt").read_text() == "the old weights"
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(pretrain_micro.EXPERIMENT)
    (failed,) = client.search_runs([experiment.experiment_id])
    assert failed.info.status == "FAILED"


@pytest.mark.parametrize(
    ("flag", "message"),
    [("--vae-steps=0", "bad --vae-steps 0; allowed: > 0"), ("--seed=-1", "allowed: ≥ 0")],
)
def test_a_bad_setting_is_a_one_line_error(flag, message):
    with pytest.raises(ValueError, match=message):
        pretrain_micro.parse_settings([flag])


def test_a_batch_of_clips_normalizes_as_each_clip_alone():
    clips = np.random.default_rng(0).integers(0, 256, (3, 9, 8, 8, 3), dtype=np.uint8)
    batch = to_unit_range(clips)
    assert batch.shape == (3, 3, 9, 8, 8)
    for i, clip in enumerate(clips):
        assert batch[i].equal(to_unit_range(clip))
    with pytest.raises(ValueError, match=r"expected \(N×\)F×H×W×3 uint8 frames"):
        to_unit_range(clips[0, 0])
