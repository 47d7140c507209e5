"""A sweep name stands for one search space: running a name again with other trials is refused,
so an earlier sweep's checkpoints, runs and tables are never mixed with or overwritten by
another's. The trials are recorded in `<storage>/<name>/sweep.json` on the first run, with the
sweep's search (orchestrator.search: scheduler, sampled ranges, seed); Tune restores a sweep with
the scheduler and searcher it started with, so another search under the same name is refused too.
A record without a search (an older sweep) ran the default: the grid, FIFO."""

from __future__ import annotations

import json
from typing import Any

from orchestrator.search import Search
from trainables.storage import Storage

RECORD = "sweep.json"


def _canonical(trials: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(t, sort_keys=True, default=str) for t in trials)


def claim(
    storage: Storage,
    name: str,
    trials: list[dict[str, Any]],
    resume: bool,
    search: dict[str, Any] | None = None,
) -> bool:
    """Record the sweep's trials (and its search, `Search.record()`; None: the default) under
    its name, or check them against the record; returns whether the sweep existed (so this run
    resumes it). `resume` demands that it exists."""
    search = search or Search().record()
    if not storage.exists(RECORD):
        if resume:
            raise ValueError(
                f"--resume: there is no sweep {name!r} in {storage.uri}; run it without --resume"
            )
        record = {"name": name, "trials": trials, "search": search}
        storage.write_bytes(json.dumps(record, indent=1, default=str).encode(), RECORD)
        return False
    record = json.loads(storage.read_bytes(RECORD))
    recorded = record["trials"]
    if _canonical(recorded) != _canonical(trials):
        new = set(_canonical(trials)) - set(_canonical(recorded))
        raise ValueError(
            f"sweep {name!r} in {storage.uri} was run with another search space "
            f"({len(recorded)} trials there, {len(trials)} now, {len(new)} of them new); "
            "nothing was changed: give this one another --name"
        )
    before = {**Search().record(), **record.get("search", {})}
    changed = [key for key in search if before.get(key) != search[key]]
    if changed:
        key = changed[0]
        raise ValueError(
            f"sweep {name!r} in {storage.uri} was run with another search ({key} "
            f"{_shown(before.get(key))} there, {_shown(search[key])} now); nothing was changed: "
            "run the same search again to resume it, or give this one another --name"
        )
    return True


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return str(value)
