"""The benchmarks whose `--quick` mode starts a local Ray cluster (tests/benchmarks/test_quick.py
says which), run here: a module of their own, so that they run on one worker while the others
run the rest of the suite."""

import pytest

from tests.benchmarks.test_quick import STARTS_RAY, check_quick


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(STARTS_RAY))
def test_quick_with_ray(name, tmp_path):
    check_quick(name, tmp_path)
