"""Every benchmark runs in its `--quick` mode (the smallest run that still goes through its code
path) and leaves a results file with at least one row. The benchmarks are found, not listed: each
module of benchmarks/ with a top-level `main` (benchmarks.harness.entry) is one case."""

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


def test_the_benchmarks_are_found():
    found = benchmarks()
    assert {"full_scale", "packing", "micro_claim"} <= set(found)
    assert not any(name.startswith("_") or name == "harness" for name in found)


@pytest.mark.slow
@pytest.mark.parametrize("name", benchmarks())
def test_quick(name, tmp_path):
    out = tmp_path / f"{name}.json"
    command = [sys.executable, "-m", f"benchmarks.{name}", "--quick", "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    record = json.loads(out.read_text())
    assert f"benchmarks.{name}" in record["command"] and "--quick" in record["command"]
    assert len(record["rows"]) >= 1
