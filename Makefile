# Two entry points, each installing what it needs first: `make smoke` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# Without a GPU, ask for the CPU build by its local version: it exists only as a CPU wheel
# (a local wheel folder or the PyTorch CPU index given in PIP_EXTRA_INDEX_URL), so pip fails
# loudly instead of downloading several GB of CUDA libraries.
TORCH_SPEC := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo "torch==2.13.0" || echo "torch==2.13.0+cpu")

.PHONY: install smoke test lint browser constraints

install: $(VENV)/.installed

# The tested install: every package at the version the suite last passed with (constraints.txt;
# torch is left out of it, pinned above per machine). `pip install .` alone takes the newest.
$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q '$(TORCH_SPEC)'
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# After the suite passes on newer versions: install them (`pip install -U ...` in .venv), run
# `make test`, then `make constraints` to record them, and commit constraints.txt.
constraints:
	@echo "# The versions \`make test\` last passed with (make constraints; torch is pinned in the Makefile)." > constraints.txt.tmp
	$(PY) -m pip freeze --exclude-editable | grep -v -E '^(torch|pip)==' >> constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt

smoke: install
	$(PY) -m orchestrator.sweep smoke

# The UI test drives a real headless Chromium: Debian's package, installed once if missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@command -v chromium >/dev/null 2>&1 || ( $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null )

# The suite's modules spread over TEST_WORKERS processes (pytest-xdist), each module whole on one
# worker (tests/conftest.py), so the idle time of Ray starts and servers overlaps work.
TEST_WORKERS ?= 2
test: install browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff format --check . && $(VENV)/bin/ruff check .
