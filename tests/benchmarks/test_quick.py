"""Benchmarks run in their `--quick` mode (the smallest run that still goes through its code
path) and leave a results file with at least one row. The benchmarks are found, not listed: each
module of benchmarks/ with a top-level `main` (benchmarks.harness.entry) is one, and each must be
in exactly one of three kinds, so a new benchmark cannot go unclassified:

- run here, in its `--quick` mode;
- `TESTED_ELSEWHERE`: a test of its own runs it small;
- `STARTS_RAY`: its quick mode starts a local Ray cluster and its actors (17–76 s each on 2
  quiet cores); tests/benchmarks/test_quick_ray.py runs those, a unit of its own that another
  worker runs beside this one (`make test`, tests/conftest.py).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def benchmarks() -> list[str]:
    names = []
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        tree = ast.parse(path.read_text())
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            names.append(path.stem)
    return names


TESTED_ELSEWHERE = {
    "full_scale": "tests/benchmarks/test_full_scale.py",
    "vae_tiling": "tests/benchmarks/test_vae_tiling.py",
}
STARTS_RAY = {"step_overhead", "memory", "sweep_machinery", "sweep_overhead", "packing"}


def run_here() -> list[str]:
    return [n for n in benchmarks() if n not in TESTED_ELSEWHERE and n not in STARTS_RAY]


def test_every_benchmark_is_of_one_kind():
    found = set(benchmarks())
    assert set(TESTED_ELSEWHERE) <= found and STARTS_RAY <= found
    assert not set(TESTED_ELSEWHERE) & STARTS_RAY
    for test in TESTED_ELSEWHERE.values():
        assert (REPO / test).is_file()
    assert len(run_here()) >= 5


def test_the_benchmarks_are_found():
    found = benchmarks()
    assert {"full_scale", "packing", "micro_claim"} <= set(found)
    assert not any(name.startswith("_") or name == "harness" for name in found)


def check_quick(name: str, tmp_path: Path) -> None:
    """`python -m benchmarks.NAME --quick` ends well, with its command and a row in its results."""
    out = tmp_path / f"{name}.json"
    command = [sys.executable, "-m", f"benchmarks.{name}", "--quick", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert f"benchmarks.{name}" in record["command"] and "--quick" in record["command"]
    assert len(record["rows"]) >= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", run_here())
def test_quick(name, tmp_path):
    check_quick(name, tmp_path)
