"""A sweep name stands for one search space: running a name again with other trials is refused,
so an earlier sweep's checkpoints, runs and tables are never mixed with or overwritten by
another's. The trials are recorded in `<storage>/<name>/sweep.json` on the first run."""

from __future__ import annotations

import json
from typing import Any

from trainables.storage import Storage

RECORD = "sweep.json"


def _canonical(trials: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(t, sort_keys=True, default=str) for t in trials)


def claim(storage: Storage, name: str, trials: list[dict[str, Any]], resume: bool) -> bool:
    """Record the sweep's trials under its name, or check them against the record; returns
    whether the sweep existed (so this run resumes it). `resume` demands that it exists."""
    if not storage.exists(RECORD):
        if resume:
            raise ValueError(
                f"--resume: there is no sweep {name!r} in {storage.uri}; run it without --resume"
            )
        record = {"name": name, "trials": trials}
        storage.write_bytes(json.dumps(record, indent=1, default=str).encode(), RECORD)
        return False
    recorded = json.loads(storage.read_bytes(RECORD))["trials"]
    if _canonical(recorded) != _canonical(trials):
        new = set(_canonical(trials)) - set(_canonical(recorded))
        raise ValueError(
            f"sweep {name!r} in {storage.uri} was run with another search space "
            f"({len(recorded)} trials there, {len(trials)} now, {len(new)} of them new); "
            "nothing was changed: give this one another --name"
        )
    return True
