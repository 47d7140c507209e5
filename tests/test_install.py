"""`make install` is the tested install: it installs constraints.txt's versions, the ones the
suite last passed with, while pyproject.toml keeps lower bounds so `pip install .` works alone."""

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    found = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exactly (name==version), got {line!r}"
            found[canonicalize_name(name)] = version.strip()
    return found


def requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in project["dependencies"] + extras]


def test_make_install_installs_the_constraints():
    makefile = (ROOT / "Makefile").read_text()
    install = re.search(r"^\$\(VENV\)/\.installed:(.*?)^\s*touch", makefile, re.S | re.M)
    assert install and "constraints.txt" in install.group(1).split("\n")[0]  # rebuilt on change
    assert "-c constraints.txt -e '.[dev]'" in install.group(1)


def test_every_requirement_but_torch_is_pinned_within_its_range():
    pinned = pins()
    assert "torch" not in pinned  # the Makefile pins it per machine (CPU or CUDA build)
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        if name == "torch":
            continue
        assert name in pinned, f"{name} is not in constraints.txt"
        assert requirement.specifier.contains(pinned[name]), (name, pinned[name])


def test_this_environment_is_the_constrained_one():
    """The suite runs in what constraints.txt records (what `make install` gives)."""
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        if name != "torch":
            assert metadata.version(name) == pins()[name], name
