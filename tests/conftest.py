"""Shared fixtures: the real Hydra config, shrunk so a test runs in a second or two.

Like lightning-hydra-template's conftest: compose the configs the CLI composes, then override sizes
(few accounts, few draws, short horizon) and write into ``tmp_path``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

#: Overrides that shrink a run: ~150 accounts, 24 months of history, 16 draws, 15-month horizon.
SMALL = [
    "sim.draws=16",
    "sim.horizon_months=15",
    "sim.progress=false",
    "data.synthetic.n_accounts=150",
    "data.synthetic.history_months=24",
]


def pytest_collection_modifyitems(config, items):
    """Files holding a ``slow`` test first, each file's tests in their order.

    ``make test`` hands whole files to its workers in collection order (``--dist loadfile
    --no-loadscope-reorder``): the long files start first and the many short ones fill in at the
    end, so the workers finish together.  xdist's own order (most tests first) started the long
    files of one to three tests (the README, packaging, recovery tests) last, where one worker ran
    them while the other sat idle.
    """
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture
def small_overrides() -> list[str]:
    return list(SMALL)


@pytest.fixture
def small_cfg():
    from simengine.api import load_config

    return load_config(SMALL)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``python -m simengine ARGS`` as a subprocess and capture its output."""
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", "simengine", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


def pytest_configure(config):
    """One compiled-model cache for the session, empty at its start (as on a CI clone).

    Tests that fit the same book with the same settings share it (a fit after the first loads the
    compiled model: the same machine code, so the same draws), but no test sees an entry left by
    an earlier session or by the user's own fits (``~/.cache/simengine``), so a cold compile is
    never hidden.  pytest-xdist workers inherit the controller's environment, hence the same
    folder.
    """
    if hasattr(config, "workerinput"):
        return  # a worker: the controller set it
    root = tempfile.mkdtemp(prefix="simengine-test-cache-")
    config._simengine_cache = root
    os.environ["SIMENGINE_CACHE_DIR"] = root


def pytest_unconfigure(config):
    root = getattr(config, "_simengine_cache", None)
    if root:
        shutil.rmtree(root, ignore_errors=True)
