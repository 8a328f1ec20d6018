"""Messages that help, through the CLI: the user's key, the closest valid keys, once, in one line.

Every case exits 2 before anything is simulated, with exactly one line on stderr that names the
key as the user wrote it and never an internal class name (``AdjustConfig``, ``SimConfig``...).
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from simengine.config import schema
from tests.conftest import SMALL

#: The schema's dataclass names: none may reach a user.
CLASS_NAMES = sorted(
    name
    for name, obj in vars(schema).items()
    if isinstance(obj, type) and dataclasses.is_dataclass(obj)
)


def _one_error_line(proc) -> str:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("simengine: error: "), line
    named = [c for c in CLASS_NAMES if re.search(rf"\b{c}\b", line)]
    assert not named, line
    return line


#: Typo cases through the CLI (a subprocess each, ~1 CPU-s): the issue's own cases.
CLI_CASES = {
    "adjust-key": (
        ["adjust.churn_hazzard=1.2"],
        "config key 'adjust.churn_hazzard': unknown key 'churn_hazzard'; did you mean "
        "'churn_hazard'? (keys of adjust: churn_hazard, usage_growth,",
    ),
    "scenario": (
        ["scenario=fy26_cautious"],
        "config key 'scenario' = 'fy26_cautious': no file fy26_cautious.yaml in ",
    ),
    "window-key": (
        ["adjust.price={value: 1.1, form: +4}"],
        "config key 'adjust.price.form': unknown key 'form'; did you mean 'from'? (keys of "
        "adjust.price: value, from, until)",
    ),
    "window-date": (
        ["adjust.price={value: 1.1, from: 2027-13}"],
        "config key 'adjust.price.from' = '2027-13': expected a month YYYY-MM or +N",
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_typo_names_the_key_and_the_closest_valid_ones(cli, case):
    args, expected = CLI_CASES[case]
    line = _one_error_line(cli("run", *SMALL, *args))
    assert expected in line, line
    if case == "scenario":
        assert "--scenarios DIR" in line, line


#: More typo cases, composed in-process and worded by the CLI's own one-line function.
CASES = {
    "plus-key": (  # `+` must not add a key the schema does not have
        ["+adjust.churn_hazzard=1.2"],
        "config key 'adjust.churn_hazzard': unknown key 'churn_hazzard'; did you mean "
        "'churn_hazard'?",
    ),
    "top-key": (["sedd=3"], "config key 'sedd': unknown key 'sedd'; did you mean 'seed'?"),
    "market-key": (
        ["market.unit_prize.smb=2"],
        "config key 'market.unit_prize': unknown key 'unit_prize'; did you mean 'unit_price'?",
    ),
    "segment-adjustment": (
        ["adjust.segments.smb.prize=1.1"],
        "config key 'adjust.segments.smb.prize' = 1.1: unknown adjustment 'prize'; did you "
        "mean 'price'?",
    ),
    "segment-from-month": (
        ["adjust.segments.smb.from_month=2027-01"],
        "a segment's values carry their own window, e.g. "
        "adjust.segments.smb.churn_hazard='{value: 1.3, from: 2027-01}'",
    ),
    "override-parameter": (
        ["model.override.smb.usage_drfit=0.1"],
        "unknown parameter 'usage_drfit'; did you mean 'usage_drift'?",
    ),
    "nested-key": (
        ["model.segments.smb.usage_drfit=0.1"],
        "config key 'model.segments.smb.usage_drfit': unknown key 'usage_drfit'; did you mean "
        "'usage_drift'?",
    ),
    "section": (["sim=3"], "config key 'sim' is a section, not a value"),
    "type": (
        ["sim.draws=abc"],
        "config key 'sim.draws' = 'abc': must be a whole number >= 1 or auto",
    ),
    "group-option": (
        ["staffing=se_heavvy"],
        "config group 'staffing' has no option 'se_heavvy' (no file staffing/se_heavvy.yaml); "
        "did you mean 'se_heavy'",
    ),
    "scenario-name": (["scenario=downturnn"], "did you mean 'downturn'?"),
    "window-order": (
        ["adjust.price={value: 1.1, from: 2027-05, until: 2027-02}"],
        "config key 'adjust.price.until' = '2027-02': before its from (2027-05)",
    ),
    "window-dotted": (
        ["adjust.price.from=2027-01"],
        "config key 'adjust.price.from': adjust.price is one value; write its window with it",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_typo_messages(case):
    from simengine.api import load_config
    from simengine.cli_precheck import one_line, user_errors

    args, expected = CASES[case]
    with pytest.raises(user_errors()) as info:
        load_config([*SMALL, *args])
    line = one_line(info.value)
    assert "\n" not in line and expected in line, line
    assert not [c for c in CLASS_NAMES if re.search(rf"\b{c}\b", line)], line


def test_a_scenario_file_typo_is_said_once(cli, tmp_path):
    """The file, the key as written, the closest key: one line, the reason not repeated."""
    folder = tmp_path / "plans"
    folder.mkdir()
    path = folder / "fy26_cautious.yaml"
    path.write_text("adjust:\n  churn_hazzard: 1.2\n")
    line = _one_error_line(cli("run", "--scenarios", str(folder), "scenario=fy26_cautious", *SMALL))
    assert line == (
        f"simengine: error: scenario file '{path}': config key 'adjust.churn_hazzard': unknown "
        "key 'churn_hazzard'; did you mean 'churn_hazard'? (keys of adjust: churn_hazard, "
        "usage_growth, use_case_rate, new_logos, price, from_month, segments)"
    )


def test_report_and_compare_take_hydra_run_dir(cli, tmp_path):
    """``simengine report PATH hydra.run.dir=DIR`` writes DIR/report.html, as every verb writes
    into hydra.run.dir; another hydra key is refused in one line saying where the output goes
    (compare's hydra.run.dir is exercised in tests/test_compare.py)."""
    from simengine.api import simulate
    from simengine.results import write_netcdf

    run = tmp_path / "run"
    run.mkdir()
    write_netcdf(simulate([*SMALL, "sim.draws=8"]), run / "forecast.nc")
    out = tmp_path / "elsewhere"
    proc = cli("report", str(run), f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert (out / "report.html").is_file() and not (run / "report.html").exists()
    assert str(out / "report.html") in proc.stdout
    line = _one_error_line(cli("report", str(run), "hydra.job.name=x"))
    assert "hydra.run.dir=DIR" in line and "report.html" in line, line
    line = _one_error_line(cli("compare", str(run), str(run), "hydra.sweep.dir=x"))
    assert "hydra.run.dir=DIR" in line and "compare.out" in line, line
