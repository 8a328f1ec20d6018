"""Every YAML under configs/ and scenarios/ composes and validates (one test per file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simengine.api import load_config
from simengine.config import CONFIG_DIR, SCENARIO_DIR

GROUP_FILES = sorted(p for p in CONFIG_DIR.rglob("*.yaml") if p.parent != CONFIG_DIR)
SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))


def test_primary_config_composes():
    cfg = load_config()
    assert cfg.seed == 20261122 and cfg.sim.draws >= 1


@pytest.mark.parametrize("path", GROUP_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_group_file_composes(path: Path):
    group = path.parent.relative_to(CONFIG_DIR).as_posix()
    cfg = load_config([f"{group}={path.stem}"])
    assert cfg is not None
    if group == "staffing":
        assert cfg.staffing.name == path.stem
    if group == "comp":
        assert cfg.comp.plan == path.stem


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_composes(path: Path):
    assert path.read_text().startswith("# @package _global_"), "scenario files are global packages"
    assert load_config([f"scenario={path.stem}"]) is not None


def test_expected_files_exist():
    names = {f"{p.parent.name}/{p.stem}" for p in GROUP_FILES}
    assert {
        "staffing/balanced",
        "staffing/ae_heavy",
        "staffing/se_heavy",
        "comp/bookings",
        "comp/consumption",
        "comp/hybrid",
        "market/capacity",
        "market/rate",
    } <= names
    assert {"baseline", "best_in_class", "downturn", "post_sales_shift", "price_increase"} <= {
        p.stem for p in SCENARIOS
    }


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_scenario_header_states_its_intended_effect(path: Path):
    header = "".join(line for line in path.read_text().splitlines(True) if line.startswith("#"))
    assert "ntended effect" in header, f"{path.name}: say what the scenario should do, in words"


def test_market_schemas_hold_only_their_keys():
    """Rate-only keys are not in the capacity schema and the reverse (a wrong one fails to compose)."""
    from simengine.config import CapacityMarket, RateMarket

    cap, rate = load_config(), load_config(["market=rate"])
    assert isinstance(cap.market, CapacityMarket) and isinstance(rate.market, RateMarket)
    assert not hasattr(cap.market, "new_logo_rate") and not hasattr(cap.market, "csm_coverage")
    assert not hasattr(rate.market, "new_logo_mix")
    assert not hasattr(rate.market, "deal_size_multiplier")


def _sourced(lines: list[str], i: int) -> bool:
    """A value is sourced by a comment on its line, just above it, or on an enclosing key's line."""
    if "#" in lines[i] or (i > 0 and lines[i - 1].strip().startswith("#")):
        return True
    indent = len(lines[i]) - len(lines[i].lstrip())
    for j in range(i - 1, -1, -1):
        line = lines[j]
        if not line.strip() or line.strip().startswith("#"):
            continue
        level = len(line) - len(line.lstrip())
        if level < indent:
            return _sourced(lines, j)
    return False


@pytest.mark.parametrize("path", [CONFIG_DIR / "config.yaml", *GROUP_FILES], ids=lambda p: p.stem)
def test_every_default_says_where_it_comes_from(path: Path):
    """Every value in configs/ carries a comment on its line, above it, or on its enclosing key."""
    lines = (
        path.read_text().split("\nhydra:")[0].splitlines()
    )  # Hydra's own settings are not parameters
    for i, line in enumerate(lines):
        stripped = line.strip()
        is_value = ":" in stripped and not stripped.endswith(":") and not stripped.startswith("#")
        if not is_value or stripped.startswith(("- ", "name:", "plan:", "_target_")):
            continue
        assert _sourced(lines, i), (
            f"{path.name}:{i + 1}: {stripped} has no comment saying where it comes from"
        )
