"""Packaging: a plain wheel install runs from any folder; the package list matches the tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_wheel_lists_every_package_and_ships_the_config_tree():
    """pyproject lists packages (for the configs/scenarios mapping): none may be forgotten."""
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = {p for p in tool["packages"] if not p.startswith("simengine._conf")}
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "simengine").rglob("__init__.py")
    }
    assert listed == on_disk
    shipped = {p for p in tool["packages"] if p.startswith("simengine._conf.configs.")}
    groups = {
        f"simengine._conf.configs.{d.name}" for d in (REPO / "configs").iterdir() if d.is_dir()
    }
    assert shipped == groups


def test_importing_report_keeps_the_callers_backend():
    code = (
        "import matplotlib; matplotlib.use('pdf'); import simengine.report; "
        "assert matplotlib.get_backend() == 'pdf', matplotlib.get_backend()"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_plain_install_runs_from_any_folder(tmp_path):
    """`pip install .` (not editable, no extras) into a fresh venv, then `simengine run` elsewhere."""
    src = tmp_path / "src"
    shutil.copytree(
        REPO,
        src,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "build", "*.egg-info", "outputs", "multirun"
        ),
    )
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run(
        # --no-compile: byte-compiling every dependency's sources is most of an install's time
        # and tests nothing of ours.
        [py, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
         str(src)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    shutil.rmtree(src)  # the run must not need the source tree
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    args = ["sim.draws=4", "sim.horizon_months=13", "sim.progress=false", "hydra.run.dir=out"]
    for scenario in ("", "scenario=downturn"):
        run = subprocess.run(
            [env_dir / "bin" / "simengine", "run", *args, *([scenario] if scenario else [])],
            capture_output=True,
            text=True,
            cwd=work,
            env=env,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        assert (work / "out" / "forecast.nc").is_file()
    # The report's template ships in the wheel (package data).
    report = subprocess.run(
        [env_dir / "bin" / "simengine", "report", "out"], capture_output=True, text=True,
        cwd=work, env=env,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-2000:]
    assert "<h2>Fan chart with history</h2>" in (work / "out" / "report.html").read_text()
    # scipy is a core dependency (the run path uses it), the fit extra (pymc) is not installed.
    probe = subprocess.run(
        [py, "-c", "import importlib.util as u; print(u.find_spec('pymc') is None)"],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "True"
