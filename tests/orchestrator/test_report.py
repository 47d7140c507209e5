"""The paper-style report of a real tiny sweep with two seeds, checked cell by cell against the
metrics in its MLflow store, and logged to the sweep's parent run."""

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from orchestrator.report import main as report_main
from orchestrator.tracking import SWEEP_TAG

pytestmark = pytest.mark.slow  # the real sweep of conftest.report_sweep (~65 s)


def metric_values(folder) -> pd.DataFrame:
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("report")
    rows = []
    for run in client.search_runs([experiment.experiment_id]):
        if SWEEP_TAG in run.data.tags:
            continue
        task = run.data.params["task"]
        metric = {"binary_segmentation": "miou", "grid_classification": "accuracy"}.get(
            task, "psnr"
        )
        value = run.data.metrics[f"val_{metric}"] * (1 if metric == "psnr" else 100)
        confusion = np.array(
            [[run.data.metrics[f"val_confusion_{t}_{d}"] for d in range(7)] for t in range(7)]
            if task == "grid_classification"
            else np.zeros((7, 7))
        )
        rows.append((run.data.params["trajectory"], task, value, confusion))
    return pd.DataFrame(rows, columns=["row", "task", "value", "confusion"])


def test_each_cell_is_the_mean_and_std_over_seeds_of_the_mlflow_metrics(report_sweep):
    table = pd.read_csv(report_sweep / "report" / "table_trajectory.csv")
    truth = metric_values(report_sweep)
    assert len(table) == 6 and set(table["seeds"]) == {2}
    for _, cell in table.iterrows():
        values = truth[(truth["row"] == cell["row"]) & (truth["task"] == cell["task"])]["value"]
        assert len(values) == 2
        assert cell["mean"] == pytest.approx(values.mean())
        assert cell["std"] == pytest.approx(values.std())
    assert list(dict.fromkeys(table["row"])) == ["linear", "discrete"]  # the sweep's order


def test_markdown_marks_the_best_and_the_plots_are_written(report_sweep):
    markdown = (report_sweep / "report" / "tables.md").read_text()
    table = pd.read_csv(report_sweep / "report" / "table_trajectory.csv")
    for task, block in table.groupby("task"):
        best = block.loc[block["mean"].idxmax()]
        assert f"**{best['mean']:.2f} ± {best['std']:.2f}**" in markdown, task
    for name in (
        "trajectories.png",
        "predictions_hflip.png",
        "predictions_binary_segmentation.png",
        "predictions_grid_classification.png",
        "confusion_grid_classification_n1.png",
    ):
        assert (report_sweep / "report" / name).stat().st_size > 1000


def test_the_report_is_logged_to_the_parent_run(report_sweep):
    client = MlflowClient(tracking_uri=f"sqlite:///{report_sweep / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("report")
    parent = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{SWEEP_TAG}` = 'report'"
    )[0]
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/tables.md", "report/table_trajectory.csv", "report/trajectories.png"} <= logged


def test_the_cli_builds_a_named_sweeps_tables_from_the_store_alone(report_sweep, capsys):
    # smoke's tables fix modules=QKVO / trajectory=quadratic: none of these QK runs match
    assert report_main(["smoke", "--name", "report", "--storage", str(report_sweep.parent)]) == 0
    out = capsys.readouterr().out
    assert "### Trajectory" in out and "(no finished trials match)" in out
    assert report_main(["smoke", "--name", "absent", "--storage", str(report_sweep.parent)]) == 2
    assert "no sweep 'absent' in the MLflow store" in capsys.readouterr().err
    assert not (report_sweep.parent / "absent").exists()  # nothing created on the way


def test_the_confusion_matrix_sums_every_grid_run(report_sweep):
    from tasks.catalog.grid_classification import EMBEDDED_CLASSES

    matrix = pd.read_csv(
        report_sweep / "report" / "confusion_grid_classification_n1.csv", index_col=0
    )
    truth = metric_values(report_sweep)
    expected = sum(truth[truth["task"] == "grid_classification"]["confusion"])
    assert list(matrix.index) == list(matrix.columns) == list(EMBEDDED_CLASSES)
    np.testing.assert_array_equal(matrix.to_numpy(), expected)
    assert matrix.to_numpy().sum() == 4 * 16  # 4 runs × 1 validation grid × 16 cells
