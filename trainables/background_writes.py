"""A one-process trial's checkpoint writes on a thread of their own while the next steps train.

At full scale a checkpoint is ~1 GB of LoRA and optimizer state: pickled and written to local
disk, then uploaded (seconds to S3) every `checkpoint_every` steps. Here the training thread only
copies the state (device to host) and queues the rest: DeepSpeed's file writes of a big state
(`trainables.engine.write_checkpoints_with`), then the MLflow points, the upload and the manifest
(`trainables.trial.store_checkpoint`), in that order on one thread. A small state (a tiny
trial's) is written and stored in line: its ~25 ms of Python cost less there than queued against the
training thread's GIL. The next checkpoint and the trial's
end wait for everything queued and raise its first error on the training thread. Not for groups:
their writes are collective (barriers), which must stay in step order on every rank. The same
queue makes a one-process trial's Tune reports (trainables.queued_reports).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class BackgroundWrites:
    def __init__(self, enabled: bool, name: str = "checkpoint-writes") -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name) if enabled else None
        self._pending: list[Future] = []
        self.submitted = 0  # writes queued so far
        self._failed = False  # set and read on the writing thread only; reset by `wait`

    @property
    def enabled(self) -> bool:
        return self._pool is not None

    def submit(self, write: Callable[[], None]) -> None:
        """Queue `write` after everything queued before it. Once a write fails, the ones queued
        after it are skipped until `wait`: a checkpoint missing a file is never sealed."""
        if self._pool is None:
            raise RuntimeError("background writes are off for this trial")
        self._pending.append(self._pool.submit(self._run, write))
        self.submitted += 1

    def _run(self, write: Callable[[], None]) -> None:
        if self._failed:
            raise RuntimeError("skipped: an earlier write failed")
        try:
            write()
        except BaseException:
            self._failed = True
            raise

    def raise_failure(self) -> None:
        """Raise the first error of what has ended so far, without waiting for the rest (and
        forget what ended well: a long trial queues thousands of small writes)."""
        ended = [f for f in self._pending if f.done()]  # once: a write may end meanwhile
        if any(f.exception() is not None for f in ended):
            self.wait()
        self._pending = [f for f in self._pending if f not in ended]

    def wait(self) -> None:
        """Wait for everything queued; raise the first error after all have ended."""
        pending, self._pending = self._pending, []
        errors = [f.exception() for f in pending]
        self._failed = False
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown()
