"""One trial's MLflow run, a child of the sweep's parent run, re-attached (never duplicated) when
a trial restarts: first by the run id its checkpoint holds, then by its trial-key tag. A
re-attached run skips the steps it already holds (a resumed trial replays the steps after its
checkpoint bit for bit), so each metric has one point per step.

The client API (not the fluent `mlflow.start_run`) keeps no global active run, which matters
because Ray reuses worker processes across trials.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

TRIAL_KEY_TAG = "vdm.trial_key"
FLUSH_SECONDS = 15.0
MAX_METRICS_PER_BATCH = 1000  # MLflow's limit per log_batch call


class RunLog:
    def __init__(self, client: MlflowClient, run_id: str, logged_through: int = -1) -> None:
        self.client = client
        self.run_id = run_id
        self.logged_through = logged_through  # metrics at steps up to here are already logged
        self._buffer: list[Metric] = []
        self._flushed_at = time.monotonic()
        # The training thread adds points while a checkpoint's write flushes them on another
        # (trainables.background_writes): one lock for the buffer, one for the store.
        self._buffer_lock = threading.Lock()
        self._write_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        tracking: dict[str, str],
        trial_id: str,
        trial_name: str,
        params: dict[str, Any],
        run_id: str | None = None,
    ) -> RunLog:
        """`tracking` carries `uri`, `experiment_id` and `parent_run_id`, set by the sweep."""
        client = MlflowClient(tracking_uri=tracking["uri"])
        if run_id is None:
            found = client.search_runs(
                [tracking["experiment_id"]],
                filter_string=f"tags.`{TRIAL_KEY_TAG}` = '{trial_id}'",
                max_results=1,
            )
            run_id = found[0].info.run_id if found else None
        if run_id is not None:
            client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
            logged = [
                point.step
                for key in client.get_run(run_id).data.metrics
                for point in client.get_metric_history(run_id, key)
            ]
            return cls(client, run_id, max(logged, default=-1))
        run = client.create_run(
            tracking["experiment_id"],
            run_name=trial_name,
            tags={
                MLFLOW_PARENT_RUN_ID: tracking["parent_run_id"],
                MLFLOW_RUN_NAME: trial_name,
                TRIAL_KEY_TAG: trial_id,
            },
        )
        log = cls(client, run.info.run_id)
        client.log_batch(log.run_id, params=[Param(k, str(v)) for k, v in params.items()])
        return log

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Buffered: a store write costs ~15 ms of the trial's CPU (SQLite or HTTP), so points
        go out together, at most `FLUSH_SECONDS` late (the UI stays live), at each checkpoint
        and at the end."""
        if step <= self.logged_through:
            return
        now = int(time.time() * 1000)
        points = [
            Metric(key, float(value), now, step)
            for key, value in metrics.items()
            if math.isfinite(float(value))
        ]
        with self._buffer_lock:
            self._buffer.extend(points)
        if time.monotonic() - self._flushed_at > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Store every buffered point now. Called before a checkpoint is written: a resumed
        trial re-logs only the steps after its checkpoint, so every step up to it must be
        stored by then."""
        with self._write_lock:
            with self._buffer_lock:
                points, self._buffer = self._buffer, []
            try:
                while points:
                    chunk = points[:MAX_METRICS_PER_BATCH]
                    self.client.log_batch(self.run_id, metrics=chunk)
                    del points[: len(chunk)]
            finally:
                if points:  # not stored: back in front of the buffer for the next flush
                    with self._buffer_lock:
                        self._buffer[:0] = points
            self._flushed_at = time.monotonic()

    def log_artifacts(self, local_dir: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifacts(self.run_id, str(local_dir), artifact_path)

    def finish(self, status: str = "FINISHED") -> None:
        self.flush()
        self.client.set_terminated(self.run_id, status=status)
