"""Tune's `report` off a one-process trial's training thread, and at most one report a while.

Ray Tune's function trainable reports synchronously: `tune.report` returns only once the driver
has taken the result and asked for the next one, a round trip through the Tune controller
(4-8 ms measured here with 1-4 trials, more on a busy driver; BENCHMARKS.md, step overhead). A
tiny trial reports its loss every ~10 steps of ~20 ms: 2-4 % of its time spent waiting. Here a
thread of its own makes the reports, in order; the training thread only queues them.

Each result Tune takes also costs Python in the trial's actor (Tune's `train()` bookkeeping,
which holds the GIL against training) and in the driver (loggers, progress). So a result that
comes sooner than `every_seconds` after the last one sent is held, and the next one replaces it:
Tune sees the newest metrics at most that often, and the last one always (at `close`). MLflow
still gets every point (trainables.run_log); at full scale, where steps take seconds, nothing is
held. A report with validation scores is never held: a sweep's scheduler (ASHA) judges trials on
those alone. What Tune answers through `report` still reaches the training thread: a stop (Tune
raises SystemExit in the reporting thread) or an error is raised at the next report, and the
reports queued after it are dropped. Group trials need none of this: their ranks' reports are
polled by the trial's own thread (trainables.workers).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator

from trainables.background_writes import BackgroundWrites

#: A one-process trial reports to Tune at most this often (its last report always).
TUNE_REPORT_SECONDS = 2.0


class QueuedReports:
    def __init__(self, report: Callable[[dict], None], every_seconds: float = 0.0) -> None:
        self._report = report
        self._every = every_seconds
        self._queue = BackgroundWrites(enabled=True, name="tune-reports")
        self._held: dict | None = None
        self._sent_at = -float("inf")

    def __call__(self, metrics: dict) -> None:
        self._queue.raise_failure()
        now = time.monotonic()
        if now - self._sent_at < self._every and not validated(metrics):
            self._held = dict(metrics)
            return
        self._send(dict(metrics), now)

    def _send(self, metrics: dict, now: float) -> None:
        self._held, self._sent_at = None, now
        self._queue.submit(functools.partial(self._report, metrics))

    def close(self) -> None:
        """Send the held report, wait until every queued one is made; raise the first error."""
        try:
            if self._held is not None:
                self._queue.raise_failure()
                self._send(self._held, time.monotonic())
        finally:
            self._queue.close()


def validated(metrics: dict) -> bool:
    """Whether a report carries validation scores: it is never held or replaced, since a
    sweep's scheduler judges trials on those reports alone (orchestrator.search)."""
    return any(key.startswith("val_") for key in metrics)


@contextlib.contextmanager
def queued_reports(
    report: Callable[[dict], None], every_seconds: float = 0.0
) -> Iterator[QueuedReports]:
    """`report` as a QueuedReports for the block: its reports are all made when the block ends
    well; when it fails, the reports are still made (best effort: the trial's error is the one
    raised)."""
    reports = QueuedReports(report, every_seconds)
    try:
        yield reports
    except BaseException:
        with contextlib.suppress(BaseException):
            reports.close()
        raise
    reports.close()
