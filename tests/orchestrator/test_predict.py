"""`python -m orchestrator.predict` on the adapters of the tests' shared real tiny sweep
(conftest.report_sweep): applied to a trial's own validation inputs, by run id or from a folder,
the predictions equal the trial's own validation samples (the last frames in its logged strips)
within tests/tolerances.py, and their scores the trial's validation metrics; and each bad input
is one line before any model loads."""

from __future__ import annotations

import io
import json
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image
from rich.console import Console

from orchestrator.adapters import from_folder, open_adapter
from orchestrator.predict import main, progress
from orchestrator.tracking import default_tracking_uri
from tests.tolerances import assert_videos_close, metrics_close
from trainables.backbones import backbone_class
from trainables.config import CONFIG_FILE, TrialConfig
from trainables.media import write_png
from trainables.trial import task_pairs


class Trial:
    """One finished trial of the shared sweep: its run, settings, validation pair and sample."""

    def __init__(self, client: MlflowClient, run, tmp: Path) -> None:
        self.run_id = run.info.run_id
        self.metrics = {k: v for k, v in run.data.metrics.items() if k.startswith("val_")}
        self.config = TrialConfig.from_params(run.data.params)
        (self.pair,) = task_pairs(self.config).val  # n_val = 1
        name = "samples/val_0_input_target_prediction.png"
        strip = np.asarray(Image.open(client.download_artifacts(self.run_id, name, str(tmp))))
        width = self.config.width
        # input | target | prediction, with 2-pixel gaps (trainables.media.strip)
        self.logged_input = strip[:, :width]
        self.sample = strip[:, 2 * (width + 2) : 2 * (width + 2) + width]


@pytest.fixture(scope="module")
def sweep(report_sweep, tmp_path_factory) -> dict:
    """The sweep's storage and store, and one trial per task (trajectory linear, seed 1)."""
    uri = default_tracking_uri(report_sweep)
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("report")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'FINISHED' and params.trajectory = 'linear' "
        "and params.seed = '1'",
    )
    tmp = tmp_path_factory.mktemp("predict-artifacts")
    trials = {run.data.params["task"]: Trial(client, run, tmp) for run in runs}
    parent = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`vdm.sweep` = 'report'"
    )[0]
    return {
        "storage": str(report_sweep.parent),
        "uri": uri,
        "client": client,
        **trials,
        "parent_run_id": parent.info.run_id,
    }


@pytest.fixture(scope="module")
def adapter_folder(sweep, tmp_path_factory) -> Path:
    """The binary segmentation trial's adapter, downloaded as a user would from MLflow."""
    tmp = tmp_path_factory.mktemp("adapter")
    trial = sweep["binary_segmentation"]
    return Path(sweep["client"].download_artifacts(trial.run_id, "adapter", str(tmp)))


@pytest.mark.slow  # the shared sweep of conftest.report_sweep (~65 s, once a session)
def test_a_run_id_predicts_the_trials_own_validation_samples_and_scores(sweep, tmp_path, capsys):
    trial = sweep["hflip"]
    assert np.array_equal(trial.logged_input, trial.pair.x)  # the inputs the trial sampled
    write_png(tmp_path / "x" / "val_0.png", trial.pair.x)
    write_png(tmp_path / "y" / "val_0.png", trial.pair.y)
    out = tmp_path / "out"
    argv = [trial.run_id, "--storage", sweep["storage"], "--name", "report"]
    argv += ["--images", str(tmp_path / "x"), "--out", str(out)]
    assert main([*argv, "--targets", str(tmp_path / "y"), "--videos"]) == 0
    captured = capsys.readouterr()

    prediction = np.asarray(Image.open(out / "val_0.png"))
    assert_videos_close(prediction, trial.sample)
    result = json.loads((out / "metrics.json").read_text())
    scores = {f"val_{k}": v for k, v in result["mean"].items()}
    assert metrics_close(scores, trial.metrics), (scores, trial.metrics)
    assert list(result["images"]) == ["val_0"] and result["task"] == "hflip"
    video = imageio.mimread(out / "val_0.mp4", format="FFMPEG")
    assert len(video) == trial.config.frames and video[-1].shape == (32, 32, 3)
    assert "mean" in captured.out and f"{scores['val_psnr']:.4f}" in captured.out
    assert "predict: 1/1 images" in captured.err  # not a terminal: plain progress lines
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "val_0.mp4", "val_0.png"]


@pytest.mark.slow  # the shared sweep of conftest.report_sweep (~65 s, once a session)
def test_an_adapter_folder_predicts_in_batches_and_fits_other_sizes(
    sweep, adapter_folder, tmp_path
):
    trial = sweep["binary_segmentation"]
    params = sweep["client"].get_run(trial.run_id).data.params
    assert TrialConfig.from_json(adapter_folder / CONFIG_FILE) == TrialConfig.from_params(params)
    images = tmp_path / "x"
    for name in ("a", "b"):  # sampled together in one batch
        write_png(images / f"{name}.png", trial.pair.x)
    larger = np.asarray(Image.fromarray(trial.pair.x).resize((64, 48)))
    imageio.imwrite(images / "c.jpg", larger)
    (images / "notes.txt").write_text("not an image: left alone")
    out = tmp_path / "out"
    argv = [str(adapter_folder), "--images", str(images), "--out", str(out)]
    assert main([*argv, "--batch-size", "2"]) == 0

    for name in ("a", "b"):
        assert_videos_close(np.asarray(Image.open(out / f"{name}.png")), trial.sample)
    assert np.asarray(Image.open(out / "c.png")).shape == (32, 32, 3)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]


@pytest.mark.slow  # the shared sweep of conftest.report_sweep (~65 s, once a session)
def test_a_run_id_is_found_by_tracking_uri_or_in_any_sweep_of_the_storage(sweep):
    trial = sweep["hflip"]
    for uri, name in ((sweep["uri"], None), (None, None), (None, "report")):
        with open_adapter(trial.run_id, uri, sweep["storage"], name) as adapter:
            assert adapter.config == trial.config
            assert (adapter.folder / "pytorch_lora_weights.safetensors").is_file()


@pytest.mark.slow  # the shared sweep of conftest.report_sweep (~65 s, once a session)
def test_an_adapter_is_found_in_its_folder_its_parent_or_as_its_file(adapter_folder):
    weights = adapter_folder / "pytorch_lora_weights.safetensors"
    for given in (adapter_folder, adapter_folder.parent, weights):
        assert from_folder(given).folder == adapter_folder


def ltx_layout(root: Path) -> Path:
    for sub in backbone_class("ltx").subfolders:
        (root / "ltx" / sub).mkdir(parents=True, exist_ok=True)
    return root / "ltx"


ERRORS = {
    "unknown run id": ("run:" + "0" * 32, [], "unknown run id 00000000000000000000000000000000"),
    "neither": ("nowhere", [], "ADAPTER 'nowhere' is neither a folder nor an MLflow run id"),
    "parent run": ("parent", [], "is not a trial's run"),
    "no adapter": ("empty", [], "no adapter in"),
    "no config": ("bare", [], f"has no {CONFIG_FILE} beside it"),
    "no images": ("folder", ["--images", "{tmp}/none"], "no images; expected files ending in"),
    "no folder": ("folder", ["--images", "{tmp}/missing"], "'{tmp}/missing': no such folder"),
    "zero bytes": ("folder", ["--images", "{tmp}/zero"], "zero.png' is empty (0 bytes)"),
    "unreadable": ("folder", ["--images", "{tmp}/junk"], "unreadable image"),
    "no target": ("folder", ["--targets", "{tmp}/other"], "no target for 'val_0'"),
    "out is in": ("folder", ["--out", "{tmp}/x"], "is the --images folder"),
    "weights form": ("folder", ["--weights", "cogvideox"], "bad --weights 'cogvideox'"),
    "weights name": ("folder", ["--weights", "sd=/x"], "unknown backbone 'sd' in --weights"),
    "weights kind": ("folder", ["--weights", "ltx={ltx}"], "trained on cogvideox"),
    "weights path": ("folder", ["--weights", "cogvideox={tmp}/w"], "does not exist"),
    "weights layout": ("folder", ["--weights", "cogvideox={tmp}/vae"], "lacks transformer"),
}


@pytest.mark.slow  # the shared sweep of conftest.report_sweep (~65 s, once a session)
@pytest.mark.parametrize("case", ERRORS, ids=list(ERRORS))
def test_bad_input_is_one_line_before_any_model_loads(
    case, sweep, adapter_folder, tmp_path, capsys
):
    given, extra, expected = ERRORS[case]
    (tmp_path / "empty").mkdir()
    (tmp_path / "none").mkdir()
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "pytorch_lora_weights.safetensors").write_bytes(
        (adapter_folder / "pytorch_lora_weights.safetensors").read_bytes()
    )
    trial = sweep["binary_segmentation"]
    write_png(tmp_path / "x" / "val_0.png", trial.pair.x)
    write_png(tmp_path / "other" / "b.png", trial.pair.y)  # a target, not val_0's
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "zero.png").write_bytes(b"")
    (tmp_path / "junk").mkdir()
    (tmp_path / "vae" / "vae").mkdir(parents=True)  # a weights folder with one part only
    (tmp_path / "junk" / "junk.png").write_bytes(b"not a png at all")
    adapter = {
        "folder": str(adapter_folder),
        "parent": sweep["parent_run_id"],
        "empty": str(tmp_path / "empty"),
        "bare": str(tmp_path / "bare"),
    }.get(given, given.removeprefix("run:"))
    fill = {"tmp": str(tmp_path), "ltx": str(ltx_layout(tmp_path))}
    argv = [adapter, "--storage", sweep["storage"], "--images", str(tmp_path / "x")]
    argv += ["--out", str(tmp_path / "out"), *(a.format(**fill) for a in extra)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and expected.format(**fill) in lines[0], err
    assert not (tmp_path / "out").exists()  # nothing sampled, nothing written


@pytest.mark.slow  # the shared sweep of conftest.report_sweep (~65 s, once a session)
def test_targets_of_a_task_scored_on_more_than_its_target_are_refused(sweep, tmp_path, capsys):
    trial = sweep["grid_classification"]  # accuracy needs the grid's labels
    write_png(tmp_path / "x" / "a.png", trial.pair.x)
    argv = [trial.run_id, "--storage", sweep["storage"], "--images", str(tmp_path / "x")]
    assert main([*argv, "--out", str(tmp_path / "out"), "--targets", str(tmp_path / "x")]) == 2
    assert "task 'grid_classification' scores with accuracy" in capsys.readouterr().err


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere():
    terminal = Console(file=io.StringIO(), force_terminal=True, width=100)
    with progress(4, terminal) as tick:
        tick(2)
        tick(4)
    drawn = terminal.file.getvalue()
    assert "predicting" in drawn and "4/4" in drawn and "━" in drawn
    plain = Console(file=io.StringIO(), force_terminal=False, width=100)
    with progress(4, plain) as tick:
        tick(2)
        tick(4)
    lines = plain.file.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == ["predict: 2/4 images", "predict: 4/4 images"]
