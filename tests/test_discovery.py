"""One rule finds backbones, tasks and sweeps (docs/extending.md): every module of the package
whose name does not start with an underscore is one of them, named by its module."""

from __future__ import annotations

import pkgutil
from pathlib import Path
from types import ModuleType

import search_spaces
import tasks.catalog
import trainables.backbones
from search_spaces import Sweep, load_sweep, sweep_names
from tasks import get_task, task_names
from trainables.backbones import backbone_class, backbone_names


def entries(package: ModuleType) -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules(package.__path__) if info.name[0] != "_"
    )


def test_every_backbone_module_is_a_backbone_named_by_its_module():
    assert backbone_names() == entries(trainables.backbones)
    for name in backbone_names():
        found = backbone_class(name)
        assert (found.name, found.__module__) == (name, f"trainables.backbones.{name}")


def test_every_task_module_is_a_task_named_by_its_module():
    assert [n for n in task_names() if not n.startswith("_")] == entries(tasks.catalog)
    for name in entries(tasks.catalog):
        assert type(get_task(name)).__module__ == f"tasks.catalog.{name}"


def test_every_sweep_module_is_a_sweep_named_by_its_module():
    assert sweep_names() == entries(search_spaces)
    assert all(isinstance(load_sweep(name), Sweep) for name in sweep_names())


def test_the_suites_long_pole_named_in_conftest_is_a_test_module():
    """tests/conftest.py starts this module first on the xdist workers; renamed, it would not."""
    from tests.conftest import START_FIRST

    assert (Path(__file__).resolve().parents[1] / START_FIRST).is_file()
