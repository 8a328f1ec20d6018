"""The constraints declared on the schema's fields, and the walker that checks them."""

from __future__ import annotations

import dataclasses

import pytest

from simengine.config import schema
from simengine.config.schema import (
    CompConfig,
    ConfigError,
    RateMarket,
    RoleConfig,
    SimConfig,
)
from simengine.config.specs import check_fields


def _schema_classes() -> list[type]:
    return [
        obj
        for obj in vars(schema).values()
        if isinstance(obj, type)
        and dataclasses.is_dataclass(obj)
        and obj.__module__ == schema.__name__
    ]


def test_every_param_field_declares_its_range():
    """A Param field without ``kind`` would be skipped by the walker: never checked at all."""
    params = [
        (cls.__name__, f)
        for cls in _schema_classes()
        for f in dataclasses.fields(cls)
        if f.type == "Param"  # annotations are strings (postponed evaluation)
    ]
    assert len(params) > 40  # the walk sees the schema's Param fields
    assert [f"{cls}.{f.name}" for cls, f in params if "kind" not in f.metadata] == []


def test_every_default_passes_its_own_constraints():
    for cls in _schema_classes():
        check_fields(cls(), cls.__name__)


@pytest.mark.parametrize(
    ("obj", "prefix", "message"),
    [
        (SimConfig(horizon_months=0), "sim", "config key 'sim.horizon_months' = 0: must be >= 1"),
        (SimConfig(horizon_months=601), "sim", "'sim.horizon_months' = 601: must be <= 600"),
        (SimConfig(cohort_months=241), "sim", "'sim.cohort_months' = 241: must be in [0, 240]"),
        (SimConfig(precision=0.5), "sim", "'sim.precision' = 0.5: must be in (0, 0.5)"),
        (
            RoleConfig(hires_per_quarter=[1, -2]),
            "staffing.roles.ae",
            "'staffing.roles.ae.hires_per_quarter[1]' = -2: must be >= 0",
        ),
        (
            RateMarket(unit_price={"smb": float("inf")}),
            "market",
            "'market.unit_price.smb' = inf: must be > 0",
        ),
        (
            RateMarket(new_logo_rate={"smb": -1.0}),
            "market",
            "'market.new_logo_rate.smb' = -1.0: must be >= 0",
        ),
        (
            RateMarket(new_logos="both"),
            "market",
            "pick the mode with market=capacity or market=rate",
        ),
        (CompConfig(bookings_quota=0.0), "comp", "'comp.bookings_quota' = 0.0: must be > 0"),
        (CompConfig(deal_volume=-1), "comp", "'comp.deal_volume' = -1: must be >= 0"),
    ],
)
def test_a_value_outside_its_range_is_refused_by_key(obj, prefix, message):
    with pytest.raises(ConfigError) as err:
        check_fields(obj, prefix)
    assert message in str(err.value)


def test_none_passes_only_where_the_default_is_none():
    check_fields(RoleConfig(headcount=None, attrition=None), "staffing.roles.ae")  # today's
    check_fields(RateMarket(unhealthy_share=None), "market")  # the book's own share
    with pytest.raises(ConfigError, match="'comp.deal_volume' = None: expected a number"):
        check_fields(CompConfig(deal_volume=None), "comp")
