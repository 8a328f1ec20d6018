# simengine: `make demo` runs the default scenario; `make test` runs the whole suite.
# Both create .venv (Python 3.12, see .python-version) and install the package on first use.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Test files run on this many pytest-xdist workers (a file stays on one worker: its module fixtures
# are built once), in collection order: tests/conftest.py puts the files with slow tests first.
# `make test PYTEST_WORKERS=0` runs them in one process.
PYTEST_WORKERS ?= 2

.PHONY: setup demo test test-fast lint format bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "simengine needs Python 3.12 (see .python-version); found " + sys.version.split()[0])'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[fit,test,sweep,backtest,notebooks]"
	touch $(STAMP)

demo: setup
	$(PY) -m simengine run

test: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

test-fast: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder -m "not slow"

lint: setup
	$(PY) -m ruff check simengine tests benchmarks
	$(PY) -m ruff format --check simengine tests benchmarks

format: setup
	$(PY) -m ruff format simengine tests benchmarks
	$(PY) -m ruff check --fix simengine tests benchmarks

bench: setup
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_fit.py --quick

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .ruff_cache
