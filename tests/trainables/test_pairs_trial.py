"""A trial of the user's own task end to end: it trains on a folder of pairs, samples the val/
pairs, scores them on the metric the folder names, and its MLflow run holds that metric, which
the report's tables then rank by."""

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image

from orchestrator.paper_tables import table_values
from orchestrator.report import collect_runs
from orchestrator.tracking import start_parent_run
from search_spaces import Table
from tasks.datasets import fit
from tests.tasks.test_pairs import save
from tests.tiny_trial import TINY_TRIAL
from trainables.config import TrialConfig
from trainables.trial import train


@pytest.mark.slow  # ~25 s alone (an MLflow store's first migrations, a tiny backbone's build)
def test_a_trial_on_a_folder_of_pairs_logs_the_folders_metric(tmp_path, session_factory):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mine"
    for split, count in (("train", 2), ("val", 1)):
        for k in range(count):  # 48×40 photos of any size; a white-on-black mask as target
            x = rng.integers(0, 256, (40, 48, 3), np.uint8)
            save(folder / split / "x" / f"{k}.jpg", x)
            save(folder / split / "y" / f"{k}.png", np.where(x > 127, 255, 0).astype(np.uint8))
    (folder / "task.json").write_text('{"metric": "miou"}')
    tracking = start_parent_run(
        f"sqlite:///{tmp_path / 'mlflow.db'}", "mine", (tmp_path / "artifacts").as_uri(), "test"
    )
    config = TrialConfig.from_dict(
        {**TINY_TRIAL, "task": "pairs", "dataset": "pairs", "data_root": str(folder), "n": 2,
         "steps": 1, "checkpoint_every": 1, "sample_steps": 1, "modules": "QK"}
    )  # fmt: skip
    result = train(config, session_factory("trial"), tracking)
    assert 0.0 <= result["val_miou"] <= 1.0 and "val_psnr" not in result

    client = MlflowClient(tracking["uri"])
    (run,) = [r for r in client.search_runs([tracking["experiment_id"]]) if r.data.params]
    assert run.data.params["task"] == "pairs" and run.data.params["data_root"] == str(folder)
    assert run.data.metrics["val_miou"] == result["val_miou"]
    assert not any(name.startswith("val_psnr") for name in run.data.metrics)
    # The sample strip shows val/'s input, fitted to the trial's 32×32 (input | target | pred).
    strip = client.download_artifacts(
        run.info.run_id, "samples/val_0_input_target_prediction.png", str(tmp_path)
    )
    with Image.open(folder / "val" / "x" / "0.jpg") as opened:
        expected = fit(np.asarray(opened.convert("RGB")), (32, 32))
    np.testing.assert_array_equal(np.asarray(Image.open(strip))[:, :32], expected)

    runs = collect_runs(tracking["uri"], "mine")  # what the report reads
    values = table_values(runs, Table("Trajectory", "trajectory", {}))
    assert values["metric"].tolist() == ["miou"]
    assert values["mean"].tolist() == [100 * result["val_miou"]]
