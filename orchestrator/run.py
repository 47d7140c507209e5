"""Runs one sweep to the end: Ray, the MLflow parent run, the Tuner, the results table."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import ray

from orchestrator.report import build_report, collect_runs
from orchestrator.results import results_table, write_tables
from orchestrator.tracking import default_tracking_uri, finish_parent_run, start_parent_run
from orchestrator.tuner import build_tuner, trial_resources
from search_spaces import Sweep
from trainables.config import TrialConfig


def run_sweep(sweep: Sweep, configs: list[TrialConfig], name: str, args: argparse.Namespace) -> int:
    storage = Path(args.storage).expanduser().resolve()
    experiment_dir = storage / name
    experiment_dir.mkdir(parents=True, exist_ok=True)
    tracking_uri = args.tracking_uri or default_tracking_uri(experiment_dir)

    # Keep DeepSpeed's one-off JIT build (~50 s on 2 cores) across runs and trials.
    os.environ.setdefault(
        "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")
    )
    ray.init(address=args.address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        gpus = ray.cluster_resources().get("GPU", 0.0)
        resources = trial_resources(sweep, gpus)
        where = f"{gpus:g} GPUs" if gpus else "no GPU: trials run on the CPU"
        print(f"vdm-sweeps: Ray cluster with {where}; each trial gets {resources}", flush=True)
        tracking = start_parent_run(
            tracking_uri, name, experiment_dir / "mlartifacts", sweep.description
        )
        tuner, resumed = build_tuner(sweep, experiment_dir, tracking, resources)
        if resumed:
            print(f"vdm-sweeps: resuming the sweep stored in {experiment_dir}", flush=True)
        results = tuner.fit()
    finally:
        ray.shutdown()

    rows = []
    for result in results:
        metrics = result.metrics or {}
        rows.append(
            {
                **result.config["trial"],
                **{k: v for k, v in metrics.items() if k.startswith("val_") or k == "loss"},
                "status": "ERROR" if result.error else "OK",
            }
        )
    table = results_table(rows)
    files = write_tables(table, experiment_dir)
    failed = bool(results.errors)
    runs = collect_runs(tracking_uri, name)
    if not runs.empty:
        files += build_report(sweep, runs, tracking_uri, experiment_dir / "report")
    finish_parent_run(tracking, files, failed)
    print(table.to_string(index=False))
    print(f"\nresults: {files[0]}  {files[1]}")
    if (experiment_dir / "report" / "tables.md").exists():
        print(f"report:  {experiment_dir / 'report'} (paper tables, plots, prediction sheets)")
    if tracking_uri.startswith("sqlite:"):
        mlflow = Path(sys.executable).parent / "mlflow"
        print(f"browse:  {mlflow} ui --backend-store-uri {tracking_uri} --port 5000")
    else:
        print(f"browse:  {tracking_uri}")
    if failed:
        print(f"{len(results.errors)} trial(s) failed; see the table and {experiment_dir}")
    return 1 if failed else 0
