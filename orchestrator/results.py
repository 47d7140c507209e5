"""The results table of a sweep: one row per trial, its settings and its final metrics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trainables.media import write_atomically

# The settings a reader compares trials by; the rest stays in MLflow's params.
KEY_COLUMNS = ("task", "n", "seed", "trajectory", "modules", "rank", "backbone", "steps")


def results_table(rows: list[dict], sampled: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """`rows`: each a trial's config merged with its last reported metrics and its status (OK,
    ERROR, or stopped early by the sweep's scheduler at a step); `sampled`: the settings a
    search drew (orchestrator.search), shown after the key columns."""
    table = pd.DataFrame(rows)
    metrics = sorted(c for c in table.columns if c.startswith("val_"))
    extra = [c for c in sampled if c not in KEY_COLUMNS]
    keys = (*KEY_COLUMNS, *extra, *metrics, "loss", "status")
    columns = [c for c in keys if c in table.columns]
    return table[columns].sort_values(list(KEY_COLUMNS[:1]), kind="stable").reset_index(drop=True)


def write_tables(table: pd.DataFrame, directory: Path) -> list[Path]:
    csv = write_atomically(directory / "results.csv", lambda tmp: table.to_csv(tmp, index=False))
    markdown = write_atomically(
        directory / "results.md",
        lambda tmp: tmp.write_text(table.to_markdown(index=False, floatfmt=".4g") + "\n"),
    )
    return [csv, markdown]
