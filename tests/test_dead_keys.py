"""No dead key: every leaf of the composed config either changes the forecast or is refused.

For every leaf key of the default composition and of each group option (staffing/*, comp/*,
market/*), change its value and run in-process on the embedded book (its fitted posterior applies,
so fitted parameters' plain values are exercised): the returned dataset's data variables must
change, or the run must raise :class:`ConfigError` naming the key (the CLI turns that into exit 2;
tests/test_cli.py checks a sample of them as subprocesses).  Tiny runs (3 draws, 13 months) keep
the cost bounded.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from simengine.api import load_config, simulate_config
from simengine.config import ConfigError, validate
from simengine.data import book_from_config

pytestmark = pytest.mark.slow

TINY = ["sim.draws=3", "sim.horizon_months=13", "sim.progress=false", "sim.cohort_months=24"]
#: In 13 months x 3 draws two adoption specialists at 2%/month lose nobody in ~20% of runs, so
#: their ramp and backfill would act only by chance: capacity-mode runs raise every role's
#: attrition to 30%/month today (the plan keeps it), so leavers (and the backfills that ramp) occur
#: in every draw, in today's team and in the plan.
BUSY = [f"company.team.{role}.attrition=0.3" for role in ("ae", "se", "csm", "adoption")]

#: Facts about today's company that the composed run does not use, by design: a company is
#: described once and every plan reads what it needs (refusing these would refuse the status quo
#: of a company described for other plans).  Every other company key must act.
UNUSED_FACTS = (
    "company.team.partner.",  # no partner heads today, none in the plan
    # The embedded book flags who is covered (csm_covered, se_engaged): today's coverage is the
    # book's share and a plan scales it by its capacity over today's, where today's per-head
    # coverage cancels while the plan keeps today's team.
    "company.team.se.accounts_covered",
    "company.team.csm.accounts_covered",
    "company.team.adoption.accounts_covered",
)

#: Keys that by design change no number of a run.
NO_NUMBERS = {
    "sim.threads",  # results do not depend on the thread count (tested bitwise)
    "sim.chunk_draws",  # nor on chunking
    "sim.progress",  # a progress bar
    "data.accounts",  # paths and the book's selection: tested with real files elsewhere
    "data.usage",
    "data.use_cases",
    "data.as_of",
    "data.currency",  # a label on charts and tables (tests/test_report.py)
    "data.fiscal_year_start",  # how tables, CSVs and workbooks cut years (tests/test_rollups.py)
    "fit.posterior",
    "fit.auto",  # whether `run` fits a user's book (the embedded book has its posterior)
    "fit.cache_dir",  # where those fits are kept
    "fit.models",  # `simengine fit` settings: they change the posterior a fit writes, not a run
    "fit.method",
    "fit.draws",
    "fit.tune",
    "fit.chains",
    "fit.target_accept",
    "fit.max_usage_accounts",
    "fit.allow_bad",  # diagnostics-gate thresholds: accept or refuse a posterior (tested in fitting)
    "fit.max_rhat",
    "fit.min_ess_bulk",
    "fit.max_divergences",
    "staffing.name",  # labels recorded in attrs
    "comp.plan",
    "market.new_logos",  # the mode's label; the mode is picked with market=capacity|rate
}


def _leaves(obj, prefix=""):
    if dataclasses.is_dataclass(obj):
        items = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
    elif isinstance(obj, dict) and "dist" not in obj:
        items = list(obj.items())
    else:
        return [prefix]
    out = []
    for k, v in items:
        out += _leaves(v, f"{prefix}.{k}" if prefix else k)
    return out


def _get(obj, key):
    for part in key.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _set(obj, key, value):
    *parents, last = key.split(".")
    for part in parents:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    if isinstance(obj, dict):
        obj[last] = value
    else:
        setattr(obj, last, value)


def _changed(value):
    """A different value of the same type, inside the key's valid range where it can be."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        if value == 0:
            return 0.1
        # Toward 1 from above (a cap of 3 becomes 1.5 and binds); halved in (0, 1].
        return value * 0.5 if 0 < value <= 1 else 1 + (value - 1) / 4
    if isinstance(value, list):
        return [*value, 1] if not value else [value[0] + 1, *value[1:]]
    if isinstance(value, dict) and "dist" in value:
        spec = dict(value)
        if spec["dist"] in ("normal", "lognormal"):
            spec["mu"] = spec["mu"] + 0.1
        elif spec["dist"] == "beta":
            spec["a"] = spec["a"] * 2
        elif spec["dist"] == "gamma":
            spec["shape"] = spec["shape"] * 2
        else:
            width = spec["high"] - spec["low"]
            spec["low"], spec["high"] = spec["low"] + width / 4, spec["high"] - width / 4
        return spec
    if isinstance(value, str) and value[:4].isdigit():  # a month
        return f"{int(value[:4])}-{int(value[5:7]) % 12 + 1:02d}"
    return None  # None (unset) or an empty map: nothing to change


@pytest.fixture(scope="module")
def book():
    return book_from_config(load_config(TINY).data)


def _same(a, b) -> bool:
    if set(a.data_vars) != set(b.data_vars):
        return False
    for name in a.data_vars:
        x, y = a[name].values, b[name].values
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
            return False
    return True


def _check_every_leaf(base_overrides, prefixes, book):
    base_cfg = load_config([*TINY, *base_overrides])
    base = simulate_config(base_cfg, book)
    dead = []
    for key in _leaves(base_cfg):
        if key.split(".")[0] not in prefixes or key in NO_NUMBERS or key.startswith(UNUSED_FACTS):
            continue
        value = _get(base_cfg, key)
        parts = key.split(".")
        if value is None and parts[:2] == ["staffing", "roles"]:
            # A plan's unset value is today's: set it to half of today's (a plan's change is a
            # decision, not a nudge: se_heavy's SEs cover every deal, and one deal more an SE
            # changes nothing, half of them does).
            value = getattr(base_cfg.company.team.get(parts[2]), parts[3], None)
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
                new_value = value // 2 if isinstance(value, int) else value / 2
            else:
                new_value = _changed(value)
        else:
            new_value = _changed(value)
        if new_value is None:
            continue
        cfg = copy.deepcopy(base_cfg)
        _set(cfg, key, new_value)
        use_book = None if key.startswith("data.synthetic") else book
        try:
            validate(cfg)
            ds = simulate_config(cfg, use_book)
        except ConfigError as exc:
            assert key in str(exc) or key.rsplit(".", 1)[0] in str(exc), (key, str(exc))
            continue
        if _same(base, ds):
            dead.append(key)
    assert not dead, f"keys that change nothing and are not refused: {dead}"


def test_default_config_has_no_dead_key(book):
    _check_every_leaf(
        BUSY,
        (
            "seed",
            "sim",
            "data",
            "model",
            "adjust",
            "market",
            "company",
            "staffing",
            "comp",
            "effects",
        ),  # fmt: skip
        book,
    )


@pytest.mark.parametrize(
    ("option", "prefixes"),
    [
        ("staffing=ae_heavy", ("staffing",)),
        ("staffing=se_heavy", ("staffing",)),
        ("comp=bookings", ("comp",)),
        ("comp=consumption", ("comp",)),
        ("market=rate", ("market", "staffing", "comp", "effects", "model")),
    ],
)
def test_group_option_has_no_dead_key(book, option, prefixes):
    _check_every_leaf([option, *([] if option == "market=rate" else BUSY)], prefixes, book)
