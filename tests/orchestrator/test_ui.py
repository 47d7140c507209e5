"""`python -m orchestrator.ui` on a real tiny sweep, looked at by a real headless Chromium (Debian's
package; `make test` installs it): the sweep's runs are listed, the compare page of two trials
shows their params and metrics, and a screenshot of it is kept in test-artifacts/."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.tracking import SWEEP_TAG
from orchestrator.ui import main as ui_main

pytestmark = pytest.mark.slow  # the real sweep of conftest.report_sweep (~65 s) and a browser

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO / "test-artifacts"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def chromium(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("chromium")
    assert binary, "Debian's chromium is needed: `make browser` installs it"
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    command += ["--window-size=1400,1000", "--virtual-time-budget=20000", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def page_text(url: str) -> str:
    html = chromium("--dump-dom", url).stdout
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def ui(report_sweep):
    """The UI of the shared tiny sweep, on a free port of 127.0.0.1, stopped by its own id."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.ui", "report", "--storage", str(report_sweep.parent),
         "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        first = process.stdout.readline()
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, first + process.stdout.read()
            try:
                if urllib.request.urlopen(f"{base}/health", timeout=2).status == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the MLflow UI did not come up"
            time.sleep(0.5)
        yield base, first
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_the_sweep_in_a_real_browser(ui, report_sweep):
    base, first_line = ui
    client = MlflowClient(f"sqlite:///{report_sweep / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("report")
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if SWEEP_TAG not in r.data.tags]
    assert f"{base}/#/experiments/{experiment.experiment_id}/runs" in first_line

    # The runs page lists the sweep: its parent run, holding one child run per trial.
    listing = page_text(f"{base}/#/experiments/{experiment.experiment_id}/runs")
    assert "report" in listing and f"{len(runs)} matching runs" in listing

    # Two trials side by side: readable names, every param lined up, metrics.
    a, b = sorted(trials, key=lambda r: r.info.run_name)[:2]
    query = urllib.parse.urlencode(
        {"runs": json.dumps([a.info.run_id, b.info.run_id]),
         "experiments": json.dumps([experiment.experiment_id])}
    )  # fmt: skip
    compare = f"{base}/#/compare-runs?{query}"
    text = page_text(compare)
    for run in (a, b):
        name = run.info.run_name
        assert re.fullmatch(r"\w+_n1_\w+_QK_r4_cogvideox_s[12]_\w+", name), name
        assert name in text
    assert "Comparing 2 Runs" in text
    for param in ("task", "trajectory", "modules", "rank", "backbone", "seed"):
        assert re.search(rf"\b{param} {re.escape(a.data.params[param])} ", text), param
    assert "val_psnr" in text or "val_miou" in text or "val_accuracy" in text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ui_compare_runs.png"
    shot.unlink(missing_ok=True)
    chromium(f"--screenshot={shot}", compare)
    header = shot.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", header[16:24]) == (1400, 1000)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_clear_errors_for_a_missing_sweep_and_a_taken_port(report_sweep, capsys):
    assert ui_main(["absent", "--storage", str(report_sweep.parent)]) == 2
    assert "error: no sweep 'absent' in" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert ui_main(["report", "--storage", str(report_sweep.parent), "--port", str(port)]) == 2
    assert f"error: port {port} on 127.0.0.1 is taken; choose another: --port N" in (
        capsys.readouterr().err
    )
