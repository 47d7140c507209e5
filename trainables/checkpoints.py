"""Each trial's checkpoints on the sweep's storage, found again by the trial's own stable key.

Written by hand rather than through Tune's checkpoint manager because of what Ray Tune 2.60 does
on restore (measured): its experiment snapshot lags the trials by up to ~10 s, so a restored
trial can start from an older checkpoint than it wrote; a trial PENDING in the snapshot starts
at step 0 though it has checkpoints; and the checkpoint folder index restarts from the snapshot's,
so a restored trial can write over a newer checkpoint. Here a checkpoint is a folder named by
its training step, complete once its manifest (written last) lists files that are all present
at their sizes; a trial resumes from its newest complete one, whatever Tune remembers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from trainables.storage import Storage

MANIFEST = "MANIFEST.json"
STEP_DIR = re.compile(r"step_(\d{9})")


def trial_key(trial: dict[str, Any]) -> str:
    """A trial's identity across restarts, restores and lost drivers: its settings. Tune's trial
    ids are not enough: a trial that had started but was not yet in a lagging snapshot comes
    back under a new id."""
    canonical = json.dumps(trial, sort_keys=True, default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    readable = "_".join(
        str(trial[k]) for k in ("task", "backbone", "n", "seed") if trial.get(k) is not None
    )
    return f"{readable}_{digest}" if readable else digest


class CheckpointStore:
    def __init__(self, storage: Storage, key: str, keep: int = 2) -> None:
        self.storage = storage
        self.base = ("checkpoints", key)
        self.keep = keep

    @staticmethod
    def _folder(step: int) -> str:
        return f"step_{step:09d}"

    def steps(self) -> list[int]:
        """Steps with a checkpoint folder, complete or not, ascending."""
        names = self.storage.list_dirs(*self.base)
        return sorted(int(m.group(1)) for n in names if (m := STEP_DIR.fullmatch(n)))

    def complete(self, step: int) -> bool:
        folder = (*self.base, self._folder(step))
        if not self.storage.exists(*folder, MANIFEST):
            return False
        try:
            manifest = json.loads(self.storage.read_bytes(*folder, MANIFEST))
        except (json.JSONDecodeError, OSError):
            return False
        present = self.storage.list_files(*folder)
        return manifest.get("step") == step and all(
            present.get(name) == size for name, size in manifest["files"].items()
        )

    def latest(self) -> int | None:
        """The newest step whose checkpoint is complete."""
        return next((s for s in reversed(self.steps()) if self.complete(s)), None)

    def upload(self, local_dir: Path, step: int) -> None:
        """Put one process's checkpoint files in the step's folder (each rank of a sharded
        trial uploads its own shards to the same folder)."""
        self.storage.upload(local_dir, *self.base, self._folder(step))

    def seal(self, step: int) -> None:
        """Write the manifest of what the step's folder holds, which makes it complete (call
        after every rank uploaded), then drop what is older than the `keep` newest complete
        checkpoints."""
        folder = (*self.base, self._folder(step))
        files = {k: v for k, v in self.storage.list_files(*folder).items() if k != MANIFEST}
        manifest = json.dumps({"step": step, "files": files}, indent=1).encode()
        self.storage.write_bytes(manifest, *folder, MANIFEST)
        kept = [s for s in reversed(self.steps()) if self.complete(s)][: self.keep]
        for old in self.steps():
            if kept and old < min(kept):
                self.storage.delete(*self.base, self._folder(old))

    def save(self, local_dir: Path, step: int) -> None:
        self.upload(local_dir, step)
        self.seal(step)

    def record_attempt(self, from_step: int) -> None:
        """One record per start of the trial (first run, retry, restore): which step it started
        from, in which process, so a sweep's restarts and their cost can be read back."""
        record = {
            "from_step": from_step,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "time": time.time(),
        }
        name = f"{time.time_ns()}_{os.getpid()}.json"
        self.storage.write_bytes(json.dumps(record).encode(), *self.base, "attempts", name)

    def attempts(self) -> list[dict[str, Any]]:
        """Every recorded start, oldest first."""
        names = sorted(self.storage.list_files(*self.base, "attempts"))
        return [json.loads(self.storage.read_bytes(*self.base, "attempts", n)) for n in names]

    def restore(self, step: int, local_dir: Path) -> Path:
        self.storage.download(local_dir, *self.base, self._folder(step))
        return local_dir
