"""Timestamps for the sweep benchmarks, from every process of a run (the driver, Tune's trial
actors, a plain loop): spans and points appended as JSON lines to the file that
`$VDM_BENCH_EVENTS` names. Ray's worker processes inherit the variable from the driver that
started the local Ray, so the driver sets it before `ray.init`.

Nothing in the product changes: in the process that runs a trial, a phase observer
(`trainables.trial.PHASE_OBSERVERS`) times the trial's phases (`load`, `build_engine`, …), the
methods of the MLflow log, the checkpoint store and the session are wrapped, and the benchmark
hands Tune a subclass of the product's trainable that installs them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENV = "VDM_BENCH_EVENTS"
_STATE: dict[str, Any] = {"trial": None, "installed": False}
_LOCK = threading.Lock()


def _write(record: dict[str, Any]) -> None:
    path = os.environ.get(ENV)
    if not path:
        return
    line = json.dumps(record, default=str) + "\n"
    with _LOCK, open(path, "a") as out:  # one short append per record: lines never interleave
        out.write(line)


def set_trial(name: str | None) -> None:
    _STATE["trial"] = name


def point(name: str, **fields: Any) -> None:
    _write(
        {
            "kind": "point",
            "name": name,
            "t": time.time(),
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "trial": _STATE["trial"],
            **fields,
        }
    )


@contextlib.contextmanager
def span(name: str, **fields: Any) -> Iterator[None]:
    start = time.time()
    try:
        yield
    finally:
        _write(
            {
                "kind": "span",
                "name": name,
                "start": start,
                "end": time.time(),
                "pid": os.getpid(),
                "thread": threading.get_ident(),
                "trial": _STATE["trial"],
                **fields,
            }
        )


def timed(function: Callable, name: str) -> Callable:
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with span(name):
            return function(*args, **kwargs)

    wrapper.__wrapped_by_timeline__ = True
    return wrapper


def patch(owner: Any, attribute: str, name: str) -> None:
    """Replace `owner.attribute` (a function, method or classmethod) by a timed one, once."""
    raw = owner.__dict__.get(attribute) if isinstance(owner, type) else None
    if isinstance(raw, classmethod):
        if getattr(raw.__func__, "__wrapped_by_timeline__", False):
            return
        setattr(owner, attribute, classmethod(timed(raw.__func__, name)))
        return
    current = getattr(owner, attribute)
    if getattr(current, "__wrapped_by_timeline__", False):
        return
    setattr(owner, attribute, timed(current, name))


#: The trial's phases the timeline shows (`shard_fraction` is too short to matter).
TIMED_PHASES = (
    "load",
    "prepare",
    "add_lora",
    "build_engine",
    "validate",
    "save_checkpoint",
    "log_final_artifacts",
)


def timed_phase(phase: str, args: tuple, proceed: Callable[[], Any]) -> Any:
    """A phase observer: the phase as the span `trial.<phase>`."""
    if phase not in TIMED_PHASES:
        return proceed()
    with span(f"trial.{phase}"):
        return proceed()


def install_trial_probes() -> None:
    """Time the phases of `trainables.trial.train` in this process (idempotent)."""
    if _STATE["installed"]:
        return
    import ray.tune

    import trainables.trial as trial_module
    from trainables.checkpoints import CheckpointStore
    from trainables.run_log import RunLog
    from trainables.sweep_trial import StoredSession

    trial_module.PHASE_OBSERVERS.append(timed_phase)
    for attribute in ("open", "log_metrics", "flush", "log_artifacts", "finish"):
        patch(RunLog, attribute, f"mlflow.{attribute}")
    for attribute in ("latest", "record_attempt", "restore", "upload", "seal"):
        patch(CheckpointStore, attribute, f"store.{attribute}")
    patch(StoredSession, "report", "session.report")
    patch(ray.tune, "report", "tune.report")
    _STATE["installed"] = True


def timed_trainable() -> type:
    """The product's trainable (`trainables.sweep_trial.spot_aware_trainable`) with the probes: a
    point when Tune builds the actor (with the process's age) or reuses it, and a span around
    the trial function. Only module-level functions are called from the methods, so that the
    state they touch is this module's in the worker (the class itself is pickled by value)."""
    import psutil

    from trainables.sweep_trial import spot_aware_trainable

    base = spot_aware_trainable()

    class TimedTrial(base):
        def setup(self, config: dict[str, Any]) -> None:
            point(
                "actor.setup",
                trial_name=self.trial_name,
                process_created=psutil.Process().create_time(),
            )
            install_trial_probes()
            super().setup(config)

        def reset_config(self, new_config: dict[str, Any]) -> bool:
            point("actor.reset", trial_name=self.trial_name)
            return super().reset_config(new_config)

        def _trainable_func(self, config: dict[str, Any]):
            set_trial(self.trial_name)
            try:
                with span("trial.func"):
                    return super()._trainable_func(config)
            finally:
                set_trial(None)

    TimedTrial.__name__ = TimedTrial.__qualname__ = base.__name__
    return TimedTrial


def tune_callback():
    """Driver-side points: Tune saw a trial's actor start, a result, the trial's end."""
    from ray.tune import Callback

    class TimelineCallback(Callback):
        def on_trial_start(self, iteration, trials, trial, **info):
            point("tune.trial_start", trial_name=str(trial))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            point("tune.trial_result", trial_name=str(trial))

        def on_trial_complete(self, iteration, trials, trial, **info):
            point("tune.trial_complete", trial_name=str(trial))

        def on_trial_error(self, iteration, trials, trial, **info):
            point("tune.trial_error", trial_name=str(trial))

    return TimelineCallback()


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def exclusive_times(spans: list[dict[str, Any]]) -> list[tuple[dict[str, Any], float]]:
    """Each span with its own time, its nested spans' (same process and thread) taken out."""
    out = []
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for s in spans:
        groups[(s["pid"], s["thread"])].append(s)
    for group in groups.values():
        group.sort(key=lambda s: (s["start"], -s["end"]))
        children: dict[int, float] = defaultdict(float)
        stack: list[int] = []
        for i, s in enumerate(group):
            while stack and group[stack[-1]]["end"] <= s["start"]:
                stack.pop()
            if stack:
                children[stack[-1]] += s["end"] - s["start"]
            stack.append(i)
        for i, s in enumerate(group):
            out.append((s, (s["end"] - s["start"]) - children[i]))
    return out
