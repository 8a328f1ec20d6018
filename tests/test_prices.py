"""Prices from the data: each account's own unit price, its segment's for new logos."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simengine.data import generate_book, write_book
from simengine.prices import ACCOUNT_MONTHS, account_prices

AS_OF = 2026 * 12 + 9  # 2026-10


@pytest.fixture(scope="module")
def own_priced(tmp_path_factory):
    """A book with its own segment names and its own prices (2-5 per unit, per account), whose
    usage is flat over its last 12 months: revenue should carry straight into the forecast."""
    book = generate_book(n_accounts=400, history_months=24, seed=11, commits=False).book
    rng = np.random.default_rng(5)
    names = {"enterprise": "large", "mid_market": "medium", "smb": "small"}
    accounts = book.accounts.assign(segment=book.accounts["segment"].map(names))
    price = pd.Series(rng.uniform(2.0, 5.0, len(accounts)), index=accounts["account_id"])
    usage = book.usage.copy()
    # Flat usage: every month of the last 12 takes the account's as_of usage (where it had usage).
    last = usage[usage["month"] == AS_OF].set_index("account_id")["usage"]
    recent = (usage["month"] > AS_OF - 12) & usage["account_id"].isin(last.index)
    usage.loc[recent, "usage"] = usage.loc[recent, "account_id"].map(last).to_numpy()
    usage["revenue"] = usage["usage"] * usage["account_id"].map(price).to_numpy()
    book = type(book)(accounts, usage, None, book.as_of, {})
    paths = write_book(book, tmp_path_factory.mktemp("own_priced"))
    return book, price, paths


def test_account_price_is_its_own_revenue_over_usage(own_priced):
    book, price, _ = own_priced
    prices = account_prices(book, {"default": 1.0})
    active = book.accounts[book.accounts["churn_month"].isna()]["account_id"]
    np.testing.assert_allclose(prices.account[active].values, price[active].values, rtol=1e-9)
    assert prices.data_priced == frozenset({"large", "medium", "small"})
    # New logos: the segment's usage-weighted price of its last 12 months.
    usage = book.usage.merge(book.accounts[["account_id", "segment"]], on="account_id")
    small = usage[(usage["segment"] == "small") & (usage["month"] > AS_OF - 12)]
    expected = small["revenue"].sum() / small["usage"].sum()
    assert prices.new_logo["small"] == pytest.approx(expected, rel=1e-12)


def test_price_uses_the_last_months_with_usage():
    """Only the last ACCOUNT_MONTHS months with usage count: an old price does not linger."""
    from simengine.data import Book

    months = np.arange(AS_OF - 9, AS_OF + 1)
    usage = pd.DataFrame({"account_id": "a", "month": months, "usage": 10.0, "revenue": 10.0 * 1.0})
    usage.loc[usage["month"] > AS_OF - ACCOUNT_MONTHS, "revenue"] = 10.0 * 2.0
    usage.loc[usage["month"] == AS_OF, ["usage", "revenue"]] = 0.0  # no usage in the last month
    accounts = pd.DataFrame(
        {"account_id": ["a"], "segment": ["s"], "start_month": [AS_OF - 9],
         "churn_month": pd.array([pd.NA], dtype="Int64")}
    )  # fmt: skip
    book = Book(accounts, usage, None, AS_OF, {})
    got = account_prices(book, {}).account["a"]
    # 6 months with usage > 0: the 5 at price 2 and one at price 1.
    assert got == pytest.approx((5 * 20 + 10) / 60)


def test_no_revenue_column_uses_market_unit_price(own_priced):
    book, _, _ = own_priced
    bare = type(book)(book.accounts, book.usage.drop(columns="revenue"), None, book.as_of, {})
    prices = account_prices(bare, {"default": 1.5, "small": 0.7})
    assert prices.new_logo == {"large": 1.5, "medium": 1.5, "small": 0.7}
    assert prices.data_priced == frozenset()


@pytest.mark.slow
def test_first_forecast_month_carries_the_observed_revenue(own_priced):
    """Installed-base revenue of the first forecast month is within 3% of the last observed month's.

    Flat usage, no seasonality and no drift (plain assumptions: this book has no posterior), so
    the forecast's first month differs from the last observed one only by first-month churn
    (mean ~1.2-2.5% a month by segment), use-case ramps (~0.1%) and usage noise (0.06/sqrt(400)
    accounts ~0.3%, larger for a skewed book): 3% leaves room for those and none for a wrong
    price (the config's 1.0 against the data's 2-5 would be off by a factor of ~3).
    """
    import simengine

    book, _, paths = own_priced
    with pytest.warns(UserWarning, match="model.segments.default"):  # own segment names
        ds = simengine.simulate(
            [
                *(f"data.{table}={path}" for table, path in paths.items()),
                "sim.draws=100",
                "sim.horizon_months=6",
                "sim.progress=false",
                "fit.posterior=none",  # the config's assumptions, so the price is all that acts
                "model.season_cos=0",
                "model.season_sin=0",
                "model.segments.default.usage_drift=0",
            ]
        )
    installed = (ds["revenue"] - ds["new_logo_revenue"]).sum("segment").isel(month=0)
    observed = book.usage.loc[book.usage["month"] == AS_OF, "revenue"].sum()
    p50 = float(installed.median("draw"))
    assert abs(p50 / observed - 1) < 0.03, (p50, observed)
