"""Spot notice: SIGTERM (what a spot reclaim sends first) asks the running trial to write a
checkpoint after its current step and stop, so its retry loses nothing.

The handler only sets a flag: the training loop, which runs in Tune's trainable thread, checks
it between steps. Python allows handlers to be installed only from the main thread, which in a
Ray actor is the one that built the trainable (`install` is called there)."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

_requested = threading.Event()
_training = threading.Event()


class Preempted(RuntimeError):
    """The trial stopped on a spot notice after checkpointing; its retry resumes from there."""


def requested() -> bool:
    return _requested.is_set()


def request() -> None:
    _requested.set()


def clear() -> None:
    _requested.clear()


@contextlib.contextmanager
def training() -> Iterator[None]:
    """While a training loop runs, SIGTERM means "checkpoint and stop"; otherwise the process
    keeps its earlier SIGTERM behaviour (Ray's: exit)."""
    _training.set()
    try:
        yield
    finally:
        _training.clear()


def install() -> bool:
    """Route SIGTERM to the flag (in the main thread only; returns whether it was installed)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        if _training.is_set():
            request()
        elif callable(previous):
            previous(signum, frame)
        else:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
