"""The per-account forecast of one run as an ``xarray.Dataset`` over dim ``account`` (it travels
inside ``forecast.nc``), and the table back from such a dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simengine.accounts_forecast.accumulator import AccountAccumulator
from simengine.accounts_forecast.tables import (
    ACCOUNT_COLUMNS,
    accounts_table,
    active_mask,
    usage_signals,
)

__all__ = ["ACCOUNT_UNITS", "AccountForecast", "accounts_frame"]


class AccountForecast:
    """The per-account forecast of one run: accumulator plus what the table needs from the book.

    Parameters
    ----------
    book : simengine.data.Book
    state : simengine.engine.BookState
        The kernel's book at ``as_of`` (same accounts, same order as :func:`active_mask`).
    draws : int
        Draws the run simulates.
    signals : pandas.DataFrame, optional
        :meth:`book_signals` of ``book``, when the caller has it (it depends on the book alone,
        so a sweep computes it once); computed here otherwise.
    accumulator : AccountAccumulator, optional
        An accumulator holding the run's first draws, to continue (``sim.draws=auto``): it is
        grown to ``draws`` and the next draws are folded into it.
    """

    def __init__(
        self,
        book,
        state,
        draws: int,
        signals: pd.DataFrame | None = None,
        accumulator: AccountAccumulator | None = None,
    ):
        mask = active_mask(book)
        accounts = book.accounts[mask]
        self.account_ids = accounts["account_id"].to_numpy(dtype=object)
        self.segments = accounts["segment"].to_numpy(dtype=object)
        if len(self.account_ids) != state.n_accounts:
            raise ValueError("book and state disagree on the active accounts")
        self.commit = np.asarray(state.commit, dtype=np.float64)
        revenue_last = state.hist_usage[:, -1] * state.price  # the as_of month at the run's price
        if accumulator is None:
            accumulator = AccountAccumulator(revenue_last, draws)
        elif accumulator.n_accounts != state.n_accounts:
            raise ValueError("the accumulator to continue holds other accounts")
        else:
            accumulator.grow(draws)
        self.accumulator = accumulator
        self.signals = self.book_signals(book) if signals is None else signals
        if not self.signals.index.equals(pd.Index(self.account_ids)):
            raise ValueError("signals are not those of the book's active accounts")

    @staticmethod
    def book_signals(book) -> pd.DataFrame:
        """:func:`usage_signals` of ``book``'s accounts active at ``as_of`` (book order)."""
        accounts = book.accounts[active_mask(book)]
        return usage_signals(
            book.usage,
            pd.Index(accounts["account_id"].to_numpy(dtype=object)),
            int(book.as_of),
            accounts["start_month"].to_numpy(np.int64),
        )

    def add(self, record: np.ndarray) -> None:
        """The engine's ``account_sink``: fold one chunk's record."""
        self.accumulator.add(record)

    def table(self) -> pd.DataFrame:
        """``accounts_forecast.csv`` (:func:`accounts_table`)."""
        return accounts_table(
            self.accumulator, self.account_ids, self.segments, self.commit, self.signals
        )

    def to_dataset(self):
        """The table as an ``xarray.Dataset`` over dim ``account`` (coords ``account``,
        ``account_segment``), so it travels inside ``forecast.nc``."""
        import xarray as xr

        table = self.table()
        data = {
            c: ("account", table[c].to_numpy(float), {"units": ACCOUNT_UNITS.get(c, "")})
            for c in ACCOUNT_COLUMNS[2:]
        }
        return xr.Dataset(
            data,
            coords={
                "account": ("account", table["account_id"].astype(str).to_numpy()),
                "account_segment": ("account", table["segment"].astype(str).to_numpy()),
            },
        )


ACCOUNT_UNITS = {
    "revenue_last": "currency per month",
    "revenue_next12_p10": "currency",
    "revenue_next12_p50": "currency",
    "revenue_next12_p90": "currency",
    "revenue_next12_mean": "currency",
    "expected_overage_12m": "currency",
    "expected_leak_12m": "currency",
    "expected_new_use_cases_12m": "use cases",
}


def accounts_frame(ds) -> pd.DataFrame:
    """``accounts_forecast.csv`` back from a dataset that holds it (dim ``account``)."""
    frame = pd.DataFrame(
        {
            "account_id": ds["account"].values.astype(str),
            "segment": ds["account_segment"].values.astype(str),
        }
    )
    for c in ACCOUNT_COLUMNS[2:]:
        frame[c] = ds[c].values
    return frame
