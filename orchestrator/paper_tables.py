"""The paper's tables from a sweep's runs: rows = the varied factor, columns = task × n, cells =
the task's primary metric, mean ± std over seeds, best in bold and second best in italics."""

from __future__ import annotations

import pandas as pd

from search_spaces import Table
from tasks import trial_metrics
from tasks.metrics import LOWER_IS_BETTER, PERCENT


def primary_metric(task: str, dataset: str | None = None, data_root: str | None = None) -> str:
    """The metric a task's trials are ranked by (a folder of pairs may name its own)."""
    return trial_metrics(task, dataset, data_root)[0]


def _source(rows: pd.DataFrame) -> tuple[str | None, str | None]:
    """The dataset and folder the task's runs read (their MLflow params; '' for none)."""
    first = rows.iloc[0]

    def text(value: object) -> str | None:  # NaN where no run logged it
        return value if isinstance(value, str) and value else None

    return text(first.get("dataset")), text(first.get("data_root"))


def table_values(runs: pd.DataFrame, table: Table, order: list | None = None) -> pd.DataFrame:
    """Long format: one row per (row value, task, n) with the metric's mean, std and seeds;
    row values in `order` (the sweep's), then tasks and n ascending."""
    selected = runs
    for key, value in table.fixed.items():
        selected = selected[selected[key] == value]
    parts = []
    for task, rows in selected.groupby("task", sort=False):
        metric = primary_metric(str(task), *_source(rows))
        column = f"val_{metric}"
        if column not in rows:
            continue
        scale = 100.0 if metric in PERCENT else 1.0
        stats = (
            (rows[column] * scale)
            .groupby([rows[table.rows], rows["n"]], sort=False)
            .agg(mean="mean", std="std", seeds="count")
            .reset_index()
            .rename(columns={table.rows: "row"})
        )
        stats.insert(1, "task", task)
        stats.insert(3, "metric", metric)
        parts.append(stats)
    columns = ["row", "task", "n", "metric", "mean", "std", "seeds"]
    if not parts:
        return pd.DataFrame(columns=columns)
    values = pd.concat(parts, ignore_index=True)
    rank = {value: i for i, value in enumerate(order or [])}
    values["_order"] = values["row"].map(lambda v: rank.get(v, len(rank)))
    values = values.sort_values(["_order", "task", "n"], kind="stable")
    return values.drop(columns="_order").reset_index(drop=True)


def _cell(mean: float, std: float, seeds: int) -> str:
    return f"{mean:.2f} ± {std:.2f}" if seeds > 1 else f"{mean:.2f}"


def table_markdown(values: pd.DataFrame, table: Table) -> str:
    """Rows in the sweep's order; per column the best **bold**, the second best _italic_."""
    if values.empty:
        return f"### {table.title}\n\n(no finished trials match)\n"
    rows = list(dict.fromkeys(values["row"]))
    columns = list(dict.fromkeys(zip(values["task"], values["n"], values["metric"], strict=True)))
    grid = pd.DataFrame(index=rows, columns=[f"{t} {m} n={n}" for t, n, m in columns], dtype=object)
    for task, n, metric in columns:
        block = values[(values["task"] == task) & (values["n"] == n)]
        order = block.sort_values("mean", ascending=metric in LOWER_IS_BETTER)["row"].tolist()
        for _, entry in block.iterrows():
            text = _cell(entry["mean"], entry["std"], entry["seeds"])
            if entry["row"] == order[0] and len(order) > 1:
                text = f"**{text}**"
            elif len(order) > 2 and entry["row"] == order[1]:
                text = f"_{text}_"
            grid.loc[entry["row"], f"{task} {metric} n={n}"] = text
    grid = grid.fillna("–")
    grid.index.name = table.rows
    return f"### {table.title}\n\n{grid.reset_index().to_markdown(index=False)}\n"
