"""`python -m orchestrator.ui SWEEP`: the MLflow UI on 127.0.0.1 over a sweep's store.

The sweep's SQLite store (or `--tracking-uri`, for a store that is a database URI) is served by
`mlflow server` on this machine only; the page opens on the sweep's experiment, whose parent run
holds the paper tables and plots and whose child runs (one per trial) hold each trial's params,
metrics, adapter, video and prediction strips. An MLflow server URI needs no UI of ours: it is
printed as is.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from orchestrator.tracking import default_tracking_uri


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def resolve_store(sweep: str, storage: str, name: str | None, tracking_uri: str | None) -> str:
    """The store of a sweep, checked: a one-line ValueError when there is none."""
    name = name or Path(sweep).stem
    if tracking_uri is None:
        if "://" in storage:
            raise ValueError(f"--storage {storage} is shared storage: give --tracking-uri")
        folder = Path(storage).expanduser().resolve() / name
        if not (folder / "mlflow.db").is_file():
            raise ValueError(f"no sweep {name!r} in {folder.parent} (no {folder / 'mlflow.db'})")
        tracking_uri = default_tracking_uri(folder)
    return tracking_uri


def experiment_url(tracking_uri: str, name: str, base: str) -> str:
    experiment = MlflowClient(tracking_uri).get_experiment_by_name(name)
    if experiment is None:
        raise ValueError(f"no sweep {name!r} in the MLflow store {tracking_uri}")
    return f"{base}/#/experiments/{experiment.experiment_id}/runs"


def server_command(tracking_uri: str, port: int) -> list[str]:
    return [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.ui", description=__doc__)
    parser.add_argument("sweep", help="the sweep's name (or its .py file)")
    parser.add_argument("--storage", default="./sweeps")
    parser.add_argument("--name", help="the sweep run's name (default: the sweep's)")
    parser.add_argument("--tracking-uri", help="default: the SQLite store in the sweep folder")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    name = args.name or Path(args.sweep).stem
    try:
        if args.tracking_uri and args.tracking_uri.startswith(("http://", "https://")):
            print(experiment_url(args.tracking_uri, name, args.tracking_uri.rstrip("/")))
            return 0
        store = resolve_store(args.sweep, args.storage, name, args.tracking_uri)
        if not port_free(args.port):
            raise ValueError(f"port {args.port} on 127.0.0.1 is taken; choose another: --port N")
        url = experiment_url(store, name, f"http://127.0.0.1:{args.port}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"vdm-sweeps: MLflow UI for sweep {name!r}: {url}  (Ctrl-C stops it)", flush=True)
    server = subprocess.Popen(server_command(store, args.port))
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait(30)
        return 0


if __name__ == "__main__":
    sys.exit(main())
