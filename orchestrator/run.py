"""Runs one sweep to the end: Ray, the MLflow parent run, the Tuner, the results table."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ray

from orchestrator.identity import claim
from orchestrator.placement_checks import check_batches
from orchestrator.progress import SweepProgress
from orchestrator.report import build_report, collect_runs, collect_stopped
from orchestrator.resources import cluster_card_gb, launchable_resources, shares, sweep_placement
from orchestrator.results import results_table, write_tables
from orchestrator.search import Search, sizing_trials
from orchestrator.tracking import (
    default_tracking_uri,
    finish_parent_run,
    mark_stopped_early,
    start_parent_run,
)
from orchestrator.tuner import build_tuner
from orchestrator.weights_check import check_on_cluster
from search_spaces import Sweep
from trainables.checkpoints import trial_key
from trainables.storage import Storage


@dataclass(frozen=True)
class SweepRequest:
    """How to run a sweep, apart from its trials: the arguments of `python -m orchestrator.sweep`
    that `run_sweep` reads, with the CLI's defaults."""

    name: str  # the sweep run's name: its folder under `storage` and its MLflow experiment
    storage: str = "./sweeps"  # a folder, or a filesystem URI every node reaches
    resume: bool = False  # the sweep of this name must exist already
    tracking_uri: str | None = None  # None: a SQLite store inside the sweep's folder
    address: str | None = None  # a running Ray cluster; None: local Ray
    card_gb: float | None = None  # None: read from the cluster's vram_<N>gb resources
    gpus_per_trial: float | None = None  # --gpus-per-trial; None: the resources policy
    workers: int | None = None  # --workers; None: the trial's own, then the policy
    # --scheduler, --search, --sample, ...; the default: the sweep's grid, FIFO
    search: Search = field(default_factory=Search)


def run_sweep(sweep: Sweep, request: SweepRequest) -> int:
    """Runs `sweep`'s trials as `request` says (resuming one stored under its name); 0
    when every trial finished, 1 when any failed. Raises ValueError for a name already used by
    other trials, a missing sweep to `resume` or a placement that cannot split a trial's batch,
    and OSError for storage that cannot be reached."""
    name = request.name
    storage = Storage(request.storage).child(name)
    search = request.search
    existed = claim(storage, name, sweep.trials, request.resume, search.record())
    sized = sizing_trials(search, sweep.trials)  # a sampled choice may move a trial's memory
    if storage.local:
        experiment_dir = Path(storage.root)
        experiment_dir.mkdir(parents=True, exist_ok=True)
    else:  # tables and plots are made here, then uploaded next to the sweep's state
        experiment_dir = Path(tempfile.mkdtemp(prefix=f"vdm-sweeps-{name}-"))
    tracking_uri = request.tracking_uri or default_tracking_uri(experiment_dir)

    # Keep DeepSpeed's one-off JIT build (~50 s on 2 cores) across runs and trials.
    os.environ.setdefault(
        "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "vdm-sweeps" / "torch_extensions")
    )
    ray.init(address=request.address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        cluster = ray.cluster_resources()
        # On a cluster of `ray up`, the GPU node types its autoscaler can launch count too.
        launchable = launchable_resources() if request.address is not None else {}
        card_gb = cluster_card_gb(cluster, launchable, request.card_gb)
        placement = sweep_placement(
            sized,
            card_gb,
            sweep.resources,
            request.gpus_per_trial,
            request.workers,
        )
        check_batches(sized, placement)  # on the cluster's own cards
        if request.address is not None:  # locally, the CLI checked them before Ray started
            check_on_cluster(sweep.trials, cluster)  # where trials read them: a GPU node
        gpus = cluster.get("GPU", 0.0)
        if not card_gb:
            where = "no GPU: trials run on the CPU"
        elif gpus:
            where = f"{gpus:g} GPUs of {card_gb:g} GB"
        else:
            where = f"no GPU up yet; the autoscaler launches GPU nodes for {card_gb:g} GB shares"
        print(f"vdm-sweeps: Ray cluster with {where}; per trial: {shares(placement)}", flush=True)
        artifacts = (
            (experiment_dir / "mlartifacts").resolve().as_uri()
            if storage.local
            else storage.uri.partition("?")[0] + "/mlartifacts"
        )
        tracking = start_parent_run(tracking_uri, name, artifacts, sweep.description)
        progress = SweepProgress(search.trial_count(sweep.trials))
        tuner, resumed = build_tuner(
            sweep, storage, tracking, placement, callbacks=[progress], search=search
        )
        if resumed or existed:
            print(f"vdm-sweeps: resuming the sweep stored in {storage.uri}", flush=True)
        results = tuner.fit()
    finally:
        ray.shutdown()

    rows = []
    for result in results:
        metrics = result.metrics or {}
        stopped = search.stopped_at(metrics, result.config["trial"])
        status = "ERROR" if result.error else "OK"
        if stopped is not None and not result.error:
            status = f"{search.stopped_label} at step {stopped}"
            mark_stopped_early(
                tracking, trial_key(result.config["trial"]), stopped, search.scheduler.upper()
            )
        rows.append(
            {
                **result.config["trial"],
                **{k: v for k, v in metrics.items() if k.startswith("val_") or k == "loss"},
                "status": status,
            }
        )
    table = results_table(rows, sampled=sorted(search.space))
    files = write_tables(table, experiment_dir)
    failed = bool(results.errors)
    runs = collect_runs(tracking_uri, name)
    if not runs.empty:
        stopped = collect_stopped(tracking_uri, name)
        files += build_report(sweep, runs, tracking_uri, experiment_dir / "report", stopped)
    if not storage.local:
        for file in files:
            relative = file.relative_to(experiment_dir).as_posix()
            storage.write_bytes(file.read_bytes(), relative)
    finish_parent_run(tracking, files, failed)
    print(table.to_string(index=False))
    print(
        f"\nresults: {files[0]}  {files[1]}" + ("" if storage.local else f" (and in {storage.uri})")
    )
    if (experiment_dir / "report" / "tables.md").exists():
        print(f"report:  {experiment_dir / 'report'} (paper tables, plots, prediction sheets)")
    if tracking_uri.startswith("sqlite:"):
        parent = Path(storage.root).parent
        print(f"browse:  {sys.executable} -m orchestrator.ui {name} --storage {parent}")
    else:
        print(f"browse:  {tracking_uri}")
    if failed:
        print(f"{len(results.errors)} trial(s) failed; see the table and {experiment_dir}")
    return 1 if failed else 0
