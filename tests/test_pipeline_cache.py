"""The per-process caches of a run's book-derived inputs (prices, observed history, usage signals).

A sweep's jobs share them; each is keyed by the book's data hash plus the derivation's other
inputs, so another book, or other prices, gets its own values, and a caller changing a returned
dataset does not change the next run's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

from simengine.accounts_forecast import AccountForecast
from simengine.api import load_config, simulate
from simengine.history import observed_revenue
from simengine.pipeline import check_run
from simengine.prices import account_prices
from simengine.run_cache import _DERIVED

from .conftest import SMALL


def _book(seed: int):
    from simengine.data import book_from_config

    return book_from_config(load_config([*SMALL, f"data.synthetic.seed={seed}"]).data, True)


@pytest.fixture(scope="module")
def runs():
    return {seed: simulate([*SMALL, f"data.synthetic.seed={seed}"]) for seed in (1, 2)}


def test_history_and_signals_follow_the_book(runs):
    for seed, ds in runs.items():
        book = _book(seed)
        prices = account_prices(book, load_config(SMALL).market.unit_price)
        fresh = observed_revenue(book, prices.account, tuple(book.segments))
        xr.testing.assert_identical(ds["history_revenue"], fresh)
        signals = AccountForecast.book_signals(book)
        np.testing.assert_array_equal(ds["account"].values, signals.index.astype(str))
        np.testing.assert_array_equal(ds["usage_trend"].values, signals["usage_trend"].values)
    a, b = (runs[s]["history_revenue"].values for s in (1, 2))
    assert a.shape != b.shape or not np.array_equal(a, b)  # two books, two histories


def test_a_changed_result_does_not_change_the_next_run(runs):
    ds = simulate([*SMALL, "data.synthetic.seed=1"])  # the cached history of seed 1
    ds["history_revenue"].values[:] = -1.0
    again = simulate([*SMALL, "data.synthetic.seed=1"])
    xr.testing.assert_identical(again["history_revenue"], runs[1]["history_revenue"])


def test_prices_are_keyed_by_unit_price():
    """Without a revenue column prices are ``market.unit_price``: another price, other prices."""
    book = _book(3)
    book = dataclasses.replace(book, usage=book.usage.drop(columns="revenue"))
    seen = []
    for price in (2.0, 3.0, 2.0):
        cfg = load_config([*SMALL, f"market.unit_price.default={price}", "data.synthetic.seed=3"])
        checked = check_run(cfg, book)
        fresh = account_prices(book, cfg.market.unit_price)
        assert checked.prices.new_logo == fresh.new_logo
        np.testing.assert_array_equal(checked.prices.account, fresh.account)
        seen.append(checked.prices)
    assert seen[0] is seen[2] and seen[0] is not seen[1]  # the same key is a cache hit
    assert len(_DERIVED) <= 16  # bounded
