"""`python -m orchestrator.report SWEEP`: the paper's tables and figures from a sweep's MLflow
store — Markdown and CSV per table, the trajectory bar chart (Figure 9b) and prediction sheets.

The same files are logged to the sweep's parent run when a sweep ends.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from orchestrator.paper_tables import PERCENT, table_markdown, table_values
from orchestrator.tracking import SWEEP_TAG, default_tracking_uri
from search_spaces import Sweep, load_sweep
from trainables.media import write_atomically, write_png

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
NUMERIC = ("n", "seed", "rank", "steps", "alpha")


def collect_runs(tracking_uri: str, sweep_name: str) -> pd.DataFrame:
    """One row per finished trial run: its params (typed back) and its last metrics."""
    client = mlflow.tracking.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is None:
        raise ValueError(f"no sweep {sweep_name!r} in the MLflow store {tracking_uri}")
    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string="attributes.status = 'FINISHED'",
        max_results=100_000,
    )
    if SWEEP_TAG in "".join(runs.columns):  # drop the parent run
        runs = runs[runs[f"tags.{SWEEP_TAG}"].isna()]
    runs = runs.rename(
        columns=lambda c: c.split(".", 1)[1] if c.startswith(("params.", "metrics.")) else c
    )
    for column in NUMERIC:
        if column in runs:
            runs[column] = pd.to_numeric(runs[column])
    return runs.reset_index(drop=True)


def trajectory_chart(values: pd.DataFrame, path: Path) -> Path:
    """Figure 9b: the primary metric per trajectory, one group of bars per task × n."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(dict.fromkeys(zip(values["task"], values["n"], strict=True)))
    rows = list(dict.fromkeys(values["row"]))
    width = 0.8 / max(len(rows), 1)
    figure, axis = plt.subplots(figsize=(1.6 + 1.4 * len(groups), 3.2))
    for i, row in enumerate(rows):
        part = values[values["row"] == row].set_index(["task", "n"]).reindex(groups)
        axis.bar(
            np.arange(len(groups)) + i * width, part["mean"], width, yerr=part["std"], label=row
        )
    axis.set_xticks(np.arange(len(groups)) + width * (len(rows) - 1) / 2)
    axis.set_xticklabels([f"{t}\nn={n}" for t, n in groups], fontsize=8)
    metric = ", ".join(sorted(set(values["metric"])))
    axis.set_ylabel(metric + (" (%)" if set(values["metric"]) <= PERCENT else ""))
    axis.legend(title="trajectory", fontsize=8)
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)
    return path


def prediction_sheet(runs: pd.DataFrame, tracking_uri: str, path: Path, most: int = 24) -> Path:
    """input | target | prediction strips of the runs, one labelled row each."""
    client = mlflow.tracking.MlflowClient(tracking_uri)
    rows: list[np.ndarray] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _, run in runs.head(most).iterrows():
            name = "samples/val_0_input_target_prediction.png"
            try:
                local = client.download_artifacts(run["run_id"], name, tmp)
            except Exception:  # a run without samples (failed before logging) has no row
                continue
            strip = Image.open(local).convert("RGB")
            label = Image.new("RGB", (strip.width, 14), "white")
            ImageDraw.Draw(label).text(
                (2, 1), str(run.get("tags.mlflow.runName", "")), fill="black"
            )
            rows.append(np.concatenate([np.asarray(label), np.asarray(strip)]))
    if not rows:
        raise ValueError("no run has a prediction strip to put on a sheet")
    width = max(r.shape[1] for r in rows)
    padded = [
        np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows
    ]
    return write_png(path, np.concatenate(padded))


def build_report(sweep: Sweep, runs: pd.DataFrame, tracking_uri: str, out: Path) -> list[Path]:
    files: list[Path] = []
    sections = []
    for table in sweep.tables:
        order = list(dict.fromkeys(t.get(table.rows) for t in sweep.trials))
        values = table_values(runs, table, order)
        slug = table.title.lower().replace(" ", "_")
        csv = out / f"table_{slug}.csv"
        files.append(write_atomically(csv, lambda tmp, v=values: v.to_csv(tmp, index=False)))
        sections.append(table_markdown(values, table))
        if table.rows == "trajectory" and not values.empty:
            files.append(trajectory_chart(values, out / "trajectories.png"))
    markdown = "\n".join(sections)
    files.append(write_atomically(out / "tables.md", lambda tmp: tmp.write_text(markdown)))
    for task, task_runs in runs.groupby("task"):
        sheet = out / f"predictions_{task}.png"
        files.append(prediction_sheet(task_runs, tracking_uri, sheet))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sweep", help="the sweep module whose tables to build")
    parser.add_argument("--storage", default="./sweeps")
    parser.add_argument("--name", help="the sweep run's name (default: the sweep's)")
    parser.add_argument("--tracking-uri", help="default: the SQLite store in the sweep folder")
    args = parser.parse_args(argv)
    name = args.sweep if args.name is None else args.name
    experiment_dir = Path(args.storage).expanduser().resolve() / name
    uri = args.tracking_uri or default_tracking_uri(experiment_dir)
    try:
        sweep = load_sweep(args.sweep)
        if args.tracking_uri is None and not (experiment_dir / "mlflow.db").exists():
            raise ValueError(f"no sweep {name!r} in the MLflow store {uri} (no such file)")
        runs = collect_runs(uri, name)
        files = build_report(sweep, runs, uri, experiment_dir / "report")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((experiment_dir / "report" / "tables.md").read_text())
    print("\n".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
