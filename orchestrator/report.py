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
from orchestrator.tracking import (
    STOPPED_STEP_TAG,
    STOPPED_TAG,
    SWEEP_TAG,
    default_tracking_uri,
)
from search_spaces import Sweep, load_sweep
from trainables.media import write_atomically, write_png
from trainables.storage import Storage

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


def collect_stopped(tracking_uri: str, sweep_name: str) -> pd.DataFrame:
    """The runs of trials the sweep's scheduler stopped early (orchestrator.tracking tags them):
    their name, the step and who stopped them, their settings and last metrics."""
    client = mlflow.tracking.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(sweep_name)
    if experiment is None:
        return pd.DataFrame()
    mlflow.set_tracking_uri(tracking_uri)
    runs = mlflow.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{STOPPED_TAG}` != ''",
        max_results=100_000,
    )
    return runs.reset_index(drop=True)


def stopped_markdown(stopped: pd.DataFrame) -> str:
    """The report's section on trials stopped early: one row each, with the step they reached
    and their last scores (left out of the tables above, whose scores are from last steps)."""
    metrics = sorted(c for c in stopped.columns if c.startswith("metrics.val_"))
    rows = pd.DataFrame(
        {
            "run": stopped["tags.mlflow.runName"],
            "stopped by": stopped[f"tags.{STOPPED_TAG}"],
            "at step": pd.to_numeric(stopped[f"tags.{STOPPED_STEP_TAG}"]),
            **{m.split(".", 1)[1]: stopped[m] for m in metrics},
        }
    ).sort_values(["at step", "run"])
    return (
        f"## Stopped early ({len(rows)} trials)\n\n"
        "Stopped by the sweep's scheduler at a validation; not in the tables above.\n\n"
        + rows.to_markdown(index=False, floatfmt=".4g")
        + "\n"
    )


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


def prediction_sheet(runs: pd.DataFrame, tracking_uri: str, path: Path, most: int = 48) -> Path:
    """input | target | prediction strips of every validation example of the runs, one
    labelled row each (at most `most` rows)."""
    client = mlflow.tracking.MlflowClient(tracking_uri)
    rows: list[np.ndarray] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _, run in runs.iterrows():
            try:
                listed = client.list_artifacts(run["run_id"], "samples")
            except Exception:  # a run without samples (failed before logging) has no row
                continue
            strips = sorted(
                (a.path for a in listed if a.path.endswith("_input_target_prediction.png")),
                key=lambda p: int(Path(p).name.split("_")[1]),
            )
            for name in strips:
                if len(rows) >= most:
                    break
                local = client.download_artifacts(run["run_id"], name, tmp)
                strip = Image.open(local).convert("RGB")
                label = Image.new("RGB", (strip.width, 14), "white")
                text = (
                    f"{run.get('tags.mlflow.runName', '')} · {Path(name).name.split('_input')[0]}"
                )
                ImageDraw.Draw(label).text((2, 1), text, fill="black")
                rows.append(np.concatenate([np.asarray(label), np.asarray(strip)]))
    if not rows:
        raise ValueError("no run has a prediction strip to put on a sheet")
    width = max(r.shape[1] for r in rows)
    padded = [
        np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows
    ]
    return write_png(path, np.concatenate(padded))


def confusion_matrices(runs: pd.DataFrame) -> dict[int, pd.DataFrame]:
    """Grid classification's confusion matrix per n, summed over the runs (seeds and any other
    factor) from their `val_confusion_<true>_<decoded>` metrics; rows true, columns decoded."""
    from tasks.catalog.grid_classification import class_names
    from tasks.grid import CLASSES

    columns = [f"val_confusion_{t}_{d}" for t in range(CLASSES) for d in range(CLASSES)]
    if "task" not in runs or not set(columns) <= set(runs.columns):
        return {}
    grid_runs = runs[(runs["task"] == "grid_classification")].dropna(subset=columns)
    out = {}
    for n, group in grid_runs.groupby("n"):
        counts = group[columns].sum().to_numpy().reshape(CLASSES, CLASSES)
        datasets = group["dataset"] if "dataset" in group else pd.Series([""])
        names = class_names(str(datasets.iloc[0]) or None)
        out[int(n)] = pd.DataFrame(counts.astype(int), index=names, columns=names)
    return out


def confusion_plot(matrix: pd.DataFrame, title: str, path: Path) -> Path:
    """Figure 5b: rows the true class, columns the decoded one, each row in percent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = matrix.sum(axis=1).replace(0, 1)
    share = matrix.div(totals, axis=0) * 100
    figure, axis = plt.subplots(figsize=(5.2, 4.6))
    image = axis.imshow(share.to_numpy(), cmap="Blues", vmin=0, vmax=100)
    axis.set_xticks(range(len(share)), share.columns, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(len(share)), share.index, fontsize=8)
    for (row, col), value in np.ndenumerate(share.to_numpy()):
        colour = "white" if value > 50 else "black"
        axis.text(col, row, f"{value:.0f}", ha="center", va="center", fontsize=7, color=colour)
    axis.set_xlabel("decoded")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axis, label="% of the true class")
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=120, format="png"))
    plt.close(figure)
    return path


def build_report(
    sweep: Sweep,
    runs: pd.DataFrame,
    tracking_uri: str,
    out: Path,
    stopped: pd.DataFrame | None = None,
) -> list[Path]:
    """The tables, charts and sheets of the finished runs (`collect_runs`), and a section on
    the trials stopped early (`collect_stopped`), if any."""
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
    if stopped is not None and not stopped.empty:
        sections.append(stopped_markdown(stopped))
    markdown = "\n".join(sections)
    files.append(write_atomically(out / "tables.md", lambda tmp: tmp.write_text(markdown)))
    for n, matrix in confusion_matrices(runs).items():
        stem = f"confusion_grid_classification_n{n}"
        csv = out / f"{stem}.csv"
        files.append(write_atomically(csv, lambda tmp, m=matrix: m.to_csv(tmp)))
        title = (
            f"Grid classification, n = {n}: accuracy {np.trace(matrix) / matrix.sum().sum():.1%}"
        )
        files.append(confusion_plot(matrix, title, out / f"{stem}.png"))
    for task, task_runs in runs.groupby("task"):
        sheet = out / f"predictions_{task}.png"
        files.append(prediction_sheet(task_runs, tracking_uri, sheet))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.report", description=__doc__.splitlines()[0]
    )
    parser.add_argument("sweep", help="the sweep module whose tables to build")
    parser.add_argument(
        "--storage",
        default="./sweeps",
        help="a folder or a filesystem URI (s3://…), as the sweep's",
    )
    parser.add_argument("--name", help="the sweep run's name (default: the sweep's)")
    parser.add_argument("--tracking-uri", help="default: the SQLite store in the sweep folder")
    parser.add_argument(
        "--out", help="where to write (default: the sweep folder's report/, or ./NAME-report)"
    )
    args = parser.parse_args(argv)
    name = Path(args.sweep).stem if args.name is None else args.name  # a .py path: its stem
    shared = "://" in args.storage
    experiment_dir = None if shared else Path(args.storage).expanduser().resolve() / name
    try:
        sweep = load_sweep(args.sweep)
        if shared and args.tracking_uri is None:
            raise ValueError(f"--storage {args.storage} is shared storage: give --tracking-uri")
        uri = args.tracking_uri or default_tracking_uri(experiment_dir)
        if args.tracking_uri is None and not (experiment_dir / "mlflow.db").exists():
            raise ValueError(f"no sweep {name!r} in the MLflow store {uri} (no such file)")
        out = Path(args.out) if args.out else None
        if out is None:
            out = Path(f"{name}-report") if shared else experiment_dir / "report"
        runs = collect_runs(uri, name)
        files = build_report(sweep, runs, uri, out, collect_stopped(uri, name))
        if shared:  # next to the sweep's state, where the sweep itself puts its report
            storage = Storage(args.storage).child(name)
            for file in files:
                storage.write_bytes(file.read_bytes(), "report", file.relative_to(out).as_posix())
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print((out / "tables.md").read_text())
    print("\n".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
