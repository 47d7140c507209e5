"""Which adapter `orchestrator.predict` applies, and the settings of the trial that trained it:
from a trial's MLflow run (its params and its `adapter/` artifact) or from an adapter folder
(the trial writes its settings beside the adapter: `trainables.config.CONFIG_FILE`).

A run id is looked up in `--tracking-uri`, or in the SQLite store of sweep `--name` under
`--storage` (where `orchestrator.sweep` keeps it), or, with neither, in every sweep under
`--storage`.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.tracking import default_tracking_uri
from orchestrator.ui import resolve_store
from trainables.config import CONFIG_FILE, TrialConfig

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

RUN_ID = re.compile(r"[0-9a-f]{32}")
#: The file diffusers' `load_lora_weights` reads from a folder (`Backbone.save_adapter`).
WEIGHTS_FILE = "pytorch_lora_weights.safetensors"


@dataclass(frozen=True)
class Adapter:
    folder: Path  # holds WEIGHTS_FILE
    config: TrialConfig  # the trial that trained it
    source: str  # what the user named, for messages


def from_folder(path: Path) -> Adapter:
    """A trial's `adapter/` folder, or a folder holding one (its final checkpoint, or its run's
    downloaded artifacts), or the weights file itself."""
    if path.is_file():
        if path.name != WEIGHTS_FILE:
            raise ValueError(
                f"ADAPTER {str(path)!r} is a file; expected a folder with {WEIGHTS_FILE}"
            )
        path = path.parent
    folder = next((f for f in (path, path / "adapter") if (f / WEIGHTS_FILE).is_file()), None)
    if folder is None:
        raise ValueError(
            f"no adapter in {str(path)!r}: expected {WEIGHTS_FILE} in it or in its adapter/ "
            "(a trial's adapter folder or final checkpoint folder)"
        )
    if not (folder / CONFIG_FILE).is_file():
        raise ValueError(
            f"the adapter in {str(folder)!r} has no {CONFIG_FILE} beside it (the trial's "
            "settings, which every trial writes there): give the trial's MLflow run id instead"
        )
    return Adapter(folder, TrialConfig.from_json(folder / CONFIG_FILE), str(path))


def stores(tracking_uri: str | None, storage: str, name: str | None) -> list[str]:
    """The MLflow stores to look a run id up in."""
    if tracking_uri is not None:
        return [tracking_uri]
    if name is not None:
        return [resolve_store(name, storage, name, None)]
    if "://" in storage:
        raise ValueError(f"--storage {storage} is shared storage: give --tracking-uri")
    root = Path(storage).expanduser().resolve()
    found = sorted(db.parent for db in root.glob("*/mlflow.db"))
    if not found:
        raise ValueError(
            f"no sweeps in {root} (no */mlflow.db) to look the run up in; give --storage "
            "(and --name) or --tracking-uri"
        )
    return [default_tracking_uri(folder) for folder in found]


def from_run(run_id: str, uris: list[str], where: str, tmp: Path) -> Adapter:
    """The run's adapter artifact (downloaded into `tmp`) and its params as a `TrialConfig`."""
    for uri in uris:
        client = MlflowClient(uri)
        try:
            run = client.get_run(run_id)
        except MlflowException as error:
            if error.error_code == "RESOURCE_DOES_NOT_EXIST":
                continue
            raise ValueError(f"MLflow store {uri}: {str(error).splitlines()[0]}") from None
        if "task" not in run.data.params:
            raise ValueError(
                f"run {run_id} is not a trial's run (it has no trial params; the sweep's parent "
                "run?): give the run id of one trial"
            )
        config = TrialConfig.from_params(run.data.params)
        try:
            local = Path(client.download_artifacts(run_id, "adapter", str(tmp)))
        except (MlflowException, OSError):
            local = tmp / "adapter"
        if not (local / WEIGHTS_FILE).is_file():
            raise ValueError(
                f"run {run_id} has no adapter (status {run.info.status}): a trial logs "
                "adapter/ when it finishes"
            )
        return Adapter(local, config, f"run {run_id}")
    raise ValueError(f"unknown run id {run_id} in {where}")


@contextlib.contextmanager
def open_adapter(
    spec: str, tracking_uri: str | None, storage: str, name: str | None
) -> Iterator[Adapter]:
    """ADAPTER as the user gave it: an existing path is a folder, else an MLflow run id (whose
    adapter is downloaded for the duration of the block)."""
    path = Path(spec).expanduser()
    if path.exists():
        yield from_folder(path)
        return
    if not RUN_ID.fullmatch(spec):
        raise ValueError(
            f"ADAPTER {spec!r} is neither a folder nor an MLflow run id (32 hex digits)"
        )
    uris = stores(tracking_uri, storage, name)
    where = uris[0] if len(uris) == 1 else f"the sweeps under {Path(storage).expanduser()}"
    with tempfile.TemporaryDirectory(prefix="vdm-predict-") as tmp:
        yield from_run(spec, uris, where, Path(tmp))
