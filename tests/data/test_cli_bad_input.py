"""Bad input through the command line: exit code 2, one line on stderr naming the file and the
column, no traceback, nothing written (DESIGN.md, *Contract*).

The cases are those of ``test_loader.py`` (see ``bad_inputs.py``).  Each needs a fresh Python
process (~1.5 s, mostly imports), so all of them are started together by one module fixture and the
parametrised tests only read the results.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .bad_inputs import BAD_CASES, BadCase, write_bad_book

REPO = Path(__file__).resolve().parents[2]
CLI_CASES = [case for case in BAD_CASES if case.cli]
OUTPUTS = ("forecast.nc", "summary.csv", "fan_chart.png")

pytestmark = pytest.mark.skipif(
    not (REPO / "simengine" / "cli.py").exists(), reason="simengine/cli.py is not written yet"
)


def _run(case: BadCase, folder: Path) -> dict:
    folder.mkdir()
    paths, row = write_bad_book(case, folder)
    out = folder / "out"
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    command = [
        sys.executable, "-m", "simengine", "run",
        f"data.accounts={paths['accounts']}",
        f"data.usage={paths['usage']}",
        f"data.use_cases={paths['use_cases']}",
        f"hydra.run.dir={out}",
        "sim.draws=10",
        "sim.horizon_months=6",
        *case.cli_overrides,
    ]  # fmt: skip
    # cwd inside the case folder: anything the run might write lands where the test looks.
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=folder, env=env, timeout=300, check=False
    )
    return {"done": done, "paths": paths, "row": row, "folder": folder}


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("cli_bad_input")
    # Threads only wait on child processes; a few more than cores hides the import I/O.
    with ThreadPoolExecutor(max_workers=(os.cpu_count() or 2) + 2) as pool:
        futures = {case.name: pool.submit(_run, case, root / case.name) for case in CLI_CASES}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.name for c in CLI_CASES])
def test_cli_rejects_bad_input(cli_results, case: BadCase):
    result = cli_results[case.name]
    done: subprocess.CompletedProcess = result["done"]
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert done.stderr.strip() == lines[0]
    line = lines[0]
    assert result["paths"][case.table].name in line
    if case.column is not None:
        assert f"'{case.column}'" in line
    if result["row"] is not None:
        assert f"row {result['row']}" in line
    written = [p for name in OUTPUTS for p in result["folder"].rglob(name)]
    assert written == []
