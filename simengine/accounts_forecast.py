"""Per-account forecast: each active account's next 12 months, reduced while the kernel streams.

The kernel writes, per chunk of draws, a small record per (draw, book account)
(:data:`simengine.kernels.layout.ACCOUNT_OUTPUTS`: revenue, churn month, overage, leak and new use
cases over the first 12 forecast months).  :class:`AccountAccumulator` folds each chunk into
per-account running sums and quantile state, so a run never holds a draws x accounts x months
array: memory is one chunk's record plus, per account, a few sums and either

- the exact ``revenue_12m`` values of every draw, when ``draws x accounts`` is at most
  :data:`EXACT_LIMIT` (quantiles are then ``numpy.quantile``'s), or
- a histogram of ``revenue_12m / scale`` over :data:`HIST_BINS` log-spaced bins spanning
  ``10**HIST_LOG_RANGE`` (``scale`` = 12 x the account's last monthly revenue), plus an underflow
  bin that holds zero.  Bin edges are a factor ``10**(7/700) = 1.0233`` apart and quantiles
  interpolate geometrically inside a bin, so a quantile is within 2.3% of the exact sample
  quantile (relative), whatever the number of draws.

:func:`accounts_table` turns the accumulator into ``accounts_forecast.csv`` and
:func:`signals_table` ranks the accounts for ``signals.csv``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simengine.kernels.layout import (
    A_CHURN_MONTH,
    A_LEAK_12M,
    A_OVERAGE_12M,
    A_REVENUE_12M,
    A_USE_CASES_12M,
    ACCOUNT_OUTPUTS,
)

__all__ = [
    "ACCOUNT_COLUMNS",
    "EXACT_LIMIT",
    "AccountAccumulator",
    "AccountForecast",
    "accounts_frame",
    "accounts_table",
    "active_mask",
    "print_signals",
    "signals_table",
    "usage_signals",
    "write_account_outputs",
]

#: Largest draws x accounts for which every draw's revenue_12m is kept (64 MB of float64).
EXACT_LIMIT = 8_000_000
#: Histogram resolution when the exact values are not kept.
HIST_BINS = 700
HIST_LOG_RANGE = (-5.0, 2.0)
#: Accounts binned at a time (bounds the scratch memory of a histogram update).
_HIST_BLOCK = 2048

#: Columns of ``accounts_forecast.csv`` in order (DESIGN.md, *More outputs*, plus a few more).
ACCOUNT_COLUMNS = (
    "account_id",
    "segment",
    "revenue_last",
    "revenue_next12_p10",
    "revenue_next12_p50",
    "revenue_next12_p90",
    "revenue_next12_mean",
    "p_churn_3m",
    "p_churn_12m",
    "usage_trend",
    "usage_yoy",
    "p_growth_12m",
    "p_overage_12m",
    "expected_overage_12m",
    "p_leak_12m",
    "expected_leak_12m",
    "expected_new_use_cases_12m",
    "p_new_use_case_12m",
)


def _fold(total: np.ndarray, values: np.ndarray) -> None:
    """``total += values[0]; total += values[1]; ...``: draws added one at a time, in draw
    order, so the sums do not depend on how the draws were chunked (same bytes at any thread
    count, whose chunk size differs)."""
    for row in values:
        total += row


class AccountAccumulator:
    """Streaming per-account statistics over chunks of draws.

    Parameters
    ----------
    revenue_last : numpy.ndarray, shape (accounts,)
        Each account's revenue in the ``as_of`` month (scales the histogram; growth reference).
    draws : int
        Draws the run will add in total (decides exact vs histogram quantiles).
    exact_limit : int
        Keep exact values when ``draws * accounts <= exact_limit``.
    """

    def __init__(self, revenue_last: np.ndarray, draws: int, exact_limit: int = EXACT_LIMIT):
        self.revenue_last = np.asarray(revenue_last, dtype=np.float64)
        n = self.revenue_last.size
        self.n_accounts = n
        self.draws = int(draws)
        self.exact_limit = int(exact_limit)
        self.seen = 0
        self.sum_revenue = np.zeros(n)
        self.n_churn_3m = np.zeros(n)
        self.n_churn_12m = np.zeros(n)
        self.n_growth = np.zeros(n)
        self.n_overage = np.zeros(n)
        self.sum_overage = np.zeros(n)
        self.n_leak = np.zeros(n)
        self.sum_leak = np.zeros(n)
        self.sum_use_cases = np.zeros(n)
        self.n_use_case = np.zeros(n)
        self.exact = self.draws * n <= exact_limit
        if self.exact:
            self.values = np.empty((self.draws, n))
            self.hist = None
        else:
            self.values = None
            # Column 0 is the underflow bin (zero included), the last one the overflow bin.
            self.hist = np.zeros((n, HIST_BINS + 2), dtype=np.int32)
            self.scale = np.where(self.revenue_last > 0, 12.0 * self.revenue_last, 1.0)

    #: Per-account arrays a continued run needs (:meth:`state`), besides ``values``/``hist``.
    _SUMS = ("sum_revenue", "n_churn_3m", "n_churn_12m", "n_growth", "n_overage", "sum_overage",
             "n_leak", "sum_leak", "sum_use_cases", "n_use_case")  # fmt: skip

    def grow(self, draws: int) -> None:
        """Make room for ``draws`` draws in total (``sim.draws=auto`` adds blocks to a run).

        The result is the accumulator a run of ``draws`` draws would hold after the same draws:
        sums are folded draw by draw in draw order whatever the blocks; when ``draws x accounts``
        passes ``exact_limit`` the exact values kept so far are binned, which gives the counts
        binning them draw by draw would have given.
        """
        draws = int(draws)
        if draws < self.seen:
            raise ValueError(f"{self.seen} draws added already; cannot shrink to {draws}")
        self.draws = draws
        if not self.exact:
            return
        if draws * self.n_accounts > self.exact_limit:
            seen = self.values[: self.seen]
            self.exact, self.values = False, None
            self.hist = np.zeros((self.n_accounts, HIST_BINS + 2), dtype=np.int32)
            self.scale = np.where(self.revenue_last > 0, 12.0 * self.revenue_last, 1.0)
            for a in range(0, self.n_accounts, _HIST_BLOCK):
                b = min(a + _HIST_BLOCK, self.n_accounts)
                self.hist[a:b] += self._bin_counts(seen[:, a:b], self.scale[a:b])
        elif self.values.shape[0] < draws:
            values = np.empty((draws, self.n_accounts))
            values[: self.seen] = self.values[: self.seen]
            self.values = values

    def state(self) -> dict[str, np.ndarray]:
        """Everything a later block needs to continue this accumulator (:meth:`from_state`)."""
        out = {name: getattr(self, name) for name in self._SUMS}
        out["revenue_last"] = self.revenue_last
        out["seen"] = np.asarray(self.seen)
        if self.exact:
            out["values"] = self.values[: self.seen]
        else:
            out["hist"] = self.hist
        return out

    @classmethod
    def from_state(
        cls, state: dict[str, np.ndarray], draws: int, exact_limit: int = EXACT_LIMIT
    ) -> AccountAccumulator:
        """The accumulator :meth:`state` saved, with room for ``draws`` draws in total."""
        seen = int(state["seen"])
        acc = cls(state["revenue_last"], seen, exact_limit)
        if acc.exact != ("values" in state):  # saved in the other mode: rebuild that mode
            acc.exact = "values" in state
            acc.values = np.empty((seen, acc.n_accounts)) if acc.exact else None
            if not acc.exact:
                acc.scale = np.where(acc.revenue_last > 0, 12.0 * acc.revenue_last, 1.0)
        for name in cls._SUMS:
            getattr(acc, name)[...] = state[name]
        if acc.exact:
            acc.values[:seen] = state["values"]
        else:
            acc.hist = np.array(state["hist"], dtype=np.int32)
        acc.seen = seen
        acc.grow(draws)
        return acc

    @property
    def nbytes(self) -> int:
        """Bytes the accumulator holds (for the memory figures)."""
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        return int(sum(a.nbytes for a in arrays))

    def add(self, record: np.ndarray) -> None:
        """Fold one chunk's kernel record, shape (chunk draws, accounts, len(ACCOUNT_OUTPUTS))."""
        if record.ndim != 3 or record.shape[1:] != (self.n_accounts, len(ACCOUNT_OUTPUTS)):
            raise ValueError(f"record has shape {record.shape}")
        k = record.shape[0]
        if self.seen + k > self.draws:
            raise ValueError(f"more than {self.draws} draws added")
        revenue = record[:, :, A_REVENUE_12M]
        churn = record[:, :, A_CHURN_MONTH]
        overage = record[:, :, A_OVERAGE_12M]
        leak = record[:, :, A_LEAK_12M]
        cases = record[:, :, A_USE_CASES_12M]
        _fold(self.sum_revenue, revenue)
        # churn_month holds t + 1 for a churn at the boundary into forecast month t, 0 for none.
        self.n_churn_3m += ((churn >= 1) & (churn <= 3)).sum(axis=0)
        self.n_churn_12m += ((churn >= 1) & (churn <= 12)).sum(axis=0)
        self.n_growth += (revenue > 12.0 * self.revenue_last).sum(axis=0)
        self.n_overage += (overage > 0).sum(axis=0)
        _fold(self.sum_overage, overage)
        self.n_leak += (leak > 0).sum(axis=0)
        _fold(self.sum_leak, leak)
        _fold(self.sum_use_cases, cases)
        self.n_use_case += (cases > 0).sum(axis=0)
        if self.exact:
            self.values[self.seen : self.seen + k] = revenue
        else:
            # Blocks of accounts: the bincount's (accounts x bins) int64 scratch stays small.
            for a in range(0, self.n_accounts, _HIST_BLOCK):
                b = min(a + _HIST_BLOCK, self.n_accounts)
                self.hist[a:b] += self._bin_counts(revenue[:, a:b], self.scale[a:b])
        self.seen += k

    @staticmethod
    def _bin_counts(revenue: np.ndarray, scale: np.ndarray) -> np.ndarray:
        lo, hi = HIST_LOG_RANGE
        n = revenue.shape[1]
        ratio = revenue / scale[None, :]
        with np.errstate(divide="ignore"):
            pos = (np.log10(ratio) - lo) / (hi - lo) * HIST_BINS
        bins = np.where(ratio > 0, np.clip(np.floor(pos), -1, HIST_BINS) + 1, 0).astype(np.int64)
        flat = bins + (HIST_BINS + 2) * np.arange(n)[None, :]
        counts = np.bincount(flat.ravel(), minlength=n * (HIST_BINS + 2))
        return counts.reshape(n, HIST_BINS + 2)

    def quantiles(self, probs) -> np.ndarray:
        """Quantiles of ``revenue_12m`` per account, shape (len(probs), accounts)."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.seen == 0:
            raise ValueError("no draws added")
        if self.exact:
            return np.quantile(self.values[: self.seen], probs, axis=0)
        lo, hi = HIST_LOG_RANGE
        width = (hi - lo) / HIST_BINS
        cum = np.cumsum(self.hist, axis=1)
        out = np.empty((probs.size, self.n_accounts))
        for j, p in enumerate(probs):
            target = p * self.seen
            b = (cum < target).sum(axis=1)  # first bin whose cumulative count reaches the target
            b = np.minimum(b, HIST_BINS + 1)
            before = np.where(b > 0, np.take_along_axis(cum, (b - 1)[:, None], 1)[:, 0], 0)
            inside = np.take_along_axis(self.hist, b[:, None], 1)[:, 0]
            frac = np.where(inside > 0, (target - before) / np.maximum(inside, 1), 0.5)
            edge = lo + (np.clip(b, 1, HIST_BINS) - 1 + np.clip(frac, 0, 1)) * width
            value = self.scale * 10.0**edge
            out[j] = np.where(b == 0, 0.0, value)  # the underflow bin reads as 0
        return out


def usage_signals(
    usage: pd.DataFrame, ids: pd.Index, as_of: int, start: np.ndarray | None = None
) -> pd.DataFrame:
    """``usage_trend`` and ``usage_yoy`` per account, NaN where the reference is 0 or missing.

    ``usage_trend`` = usage in ``as_of`` / mean usage of the three months before - 1 (the 30-day
    trend against the prior period); ``usage_yoy`` = usage in ``as_of`` / usage in ``as_of - 12``
    - 1 (against the same month last year).  With ``start`` (start months, same order as
    ``ids``), a reference period the account was not yet a customer in is missing too: an
    onboarding ramp is not a usage spike.
    """
    recent = usage[(usage["month"] >= as_of - 12) & usage["account_id"].isin(ids)]
    wide = recent.pivot_table(index="account_id", columns="month", values="usage", aggfunc="sum")
    wide = wide.reindex(index=ids, columns=np.arange(as_of - 12, as_of + 1)).fillna(0.0)
    last = wide[as_of].to_numpy(float)
    prior = wide[[as_of - 3, as_of - 2, as_of - 1]].to_numpy(float).mean(axis=1)
    year_ago = wide[as_of - 12].to_numpy(float)
    started = np.full(len(ids), -np.inf) if start is None else np.asarray(start, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        trend = np.where((prior > 0) & (started <= as_of - 3), last / prior - 1.0, np.nan)
        yoy = np.where((year_ago > 0) & (started <= as_of - 12), last / year_ago - 1.0, np.nan)
    return pd.DataFrame({"usage_trend": trend, "usage_yoy": yoy}, index=ids)


def accounts_table(
    acc: AccountAccumulator,
    account_ids: np.ndarray,
    segments: np.ndarray,
    commit: np.ndarray,
    signals: pd.DataFrame,
) -> pd.DataFrame:
    """``accounts_forecast.csv``: one row per account active at ``as_of`` (book order).

    Parameters
    ----------
    acc : AccountAccumulator
        After every draw was added.
    account_ids, segments : numpy.ndarray of str, shape (accounts,)
    commit : numpy.ndarray, shape (accounts,)
        Annual commit at ``as_of`` (0: none): overage and leak columns are empty without one.
    signals : pandas.DataFrame
        :func:`usage_signals` of the same accounts, same order.

    Returns
    -------
    pandas.DataFrame
        :data:`ACCOUNT_COLUMNS`.  ``p_*`` are shares of draws; ``expected_*`` and
        ``revenue_next12_mean`` means over draws (currency, use cases); ``p_growth_12m`` is
        P(revenue over the next 12 months > 12 x ``revenue_last``).  With a horizon shorter than
        12 months every ``*12*`` column covers the horizon only.
    """
    n = acc.seen
    q = acc.quantiles([0.1, 0.5, 0.9])
    has_commit = np.asarray(commit) > 0
    committed = lambda v: np.where(has_commit, v, np.nan)  # noqa: E731
    return pd.DataFrame(
        {
            "account_id": account_ids,
            "segment": segments,
            "revenue_last": acc.revenue_last,
            "revenue_next12_p10": q[0],
            "revenue_next12_p50": q[1],
            "revenue_next12_p90": q[2],
            "revenue_next12_mean": acc.sum_revenue / n,
            "p_churn_3m": acc.n_churn_3m / n,
            "p_churn_12m": acc.n_churn_12m / n,
            "usage_trend": signals["usage_trend"].to_numpy(float),
            "usage_yoy": signals["usage_yoy"].to_numpy(float),
            "p_growth_12m": acc.n_growth / n,
            "p_overage_12m": committed(acc.n_overage / n),
            "expected_overage_12m": committed(acc.sum_overage / n),
            "p_leak_12m": committed(acc.n_leak / n),
            "expected_leak_12m": committed(acc.sum_leak / n),
            "expected_new_use_cases_12m": acc.sum_use_cases / n,
            "p_new_use_case_12m": acc.n_use_case / n,
        },
        columns=list(ACCOUNT_COLUMNS),
    )


#: Usage moves flagged as signals: the last month against the mean of the three before
#: (``usage_trend``) and, where the account has one, against the same month last year
#: (``usage_yoy``); both must agree, so a seasonal swing alone is not flagged.
DROP_THRESHOLD = -0.25
SPIKE_THRESHOLD = 0.50
SIGNAL_COLUMNS = (
    "signal", "rank", "account_id", "segment", "value", "value_name", "probability",
    "probability_name", "revenue_last", "revenue_at_risk_12m", "usage_trend", "usage_yoy",
)  # fmt: skip
#: Accounts listed per signal unless ``signals.top`` says otherwise.
SIGNALS_TOP = 10


def signals_table(table: pd.DataFrame, top: int = SIGNALS_TOP) -> pd.DataFrame:
    """``signals.csv``: the accounts to look at, ``top`` per signal, each with its probability.

    Signals (``value`` / ``probability``; ranked by):

    - ``churn_risk``: revenue at risk, ``p_churn_12m`` x 12 x ``revenue_last`` / ``p_churn_12m``;
      ranked by the probability (then the revenue at risk): the accounts most likely to leave;
    - ``leak``: ``expected_leak_12m`` / ``p_leak_12m`` (accounts with a commit); by probability;
    - ``overage``: ``expected_overage_12m`` / ``p_overage_12m``; by probability;
    - ``expansion``: median growth, ``revenue_next12_p50`` - 12 x ``revenue_last`` /
      ``p_growth_12m``, accounts whose median grows; by probability, then median growth (a mean
      over draws is not used: one heavy-tailed draw can own it);
    - ``usage_drop``: ``usage_trend`` <= -25% (and ``usage_yoy`` <= -25% where known), ranked by
      revenue x size of the drop (observed) / ``p_churn_12m``;
    - ``usage_spike``: ``usage_trend`` >= +50% (and ``usage_yoy`` >= +50% where known) /
      ``p_growth_12m`` (whether the higher level carries into the next 12 months).

    Every row carries ``revenue_at_risk_12m``.  Rows are ranked within each signal (rank 1
    first; ties by value, then account id); accounts with nothing to report (no commit, zero
    value, no flag) are left out.
    """
    t = table.assign(revenue_at_risk_12m=table["p_churn_12m"] * 12.0 * table["revenue_last"])
    trend, yoy = t["usage_trend"], t["usage_yoy"]
    drop = (trend <= DROP_THRESHOLD) & (yoy.isna() | (yoy <= DROP_THRESHOLD))
    spike = (trend >= SPIKE_THRESHOLD) & (yoy.isna() | (yoy >= SPIKE_THRESHOLD))
    median_growth = t["revenue_next12_p50"] - 12.0 * t["revenue_last"]
    by_probability = "probability"
    specs = {
        "churn_risk": (t["revenue_at_risk_12m"], "revenue_at_risk_12m", "p_churn_12m",
                       by_probability, t["p_churn_12m"] > 0),
        "leak": (t["expected_leak_12m"], "expected_leak_12m", "p_leak_12m", by_probability,
                 t["expected_leak_12m"] > 0),
        "overage": (t["expected_overage_12m"], "expected_overage_12m", "p_overage_12m",
                    by_probability, t["expected_overage_12m"] > 0),
        "expansion": (median_growth, "median_growth_12m", "p_growth_12m", by_probability,
                      median_growth > 0),
        "usage_drop": (trend, "usage_trend", "p_churn_12m", -trend * t["revenue_last"], drop),
        "usage_spike": (trend, "usage_trend", "p_growth_12m", trend * t["revenue_last"], spike),
    }  # fmt: skip
    frames = []
    for signal, (value, value_name, prob_name, rank_by, keep) in specs.items():
        keep = keep.fillna(False).to_numpy(bool)
        if isinstance(rank_by, str):  # by probability, then value
            keys = [t[prob_name][keep], value[keep]]
        else:
            keys = [rank_by[keep], value[keep]]
        rows = t[keep].assign(value=value[keep], _key=keys[0], _key2=keys[1])
        rows = rows.sort_values(
            ["_key", "_key2", "account_id"], ascending=[False, False, True]
        ).head(top)
        frames.append(
            pd.DataFrame(
                {
                    "signal": signal,
                    "rank": np.arange(1, len(rows) + 1),
                    "account_id": rows["account_id"].to_numpy(),
                    "segment": rows["segment"].to_numpy(),
                    "value": rows["value"].to_numpy(float),
                    "value_name": value_name,
                    "probability": rows[prob_name].to_numpy(float),
                    "probability_name": prob_name,
                    "revenue_last": rows["revenue_last"].to_numpy(float),
                    "revenue_at_risk_12m": rows["revenue_at_risk_12m"].to_numpy(float),
                    "usage_trend": rows["usage_trend"].to_numpy(float),
                    "usage_yoy": rows["usage_yoy"].to_numpy(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).reindex(columns=list(SIGNAL_COLUMNS))


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


def active_mask(book) -> np.ndarray:
    """Accounts active at ``as_of`` (no ``churn_month`` or one after it), as
    :func:`simengine.engine.book_state` selects them."""
    churn = book.accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)
    return churn > book.as_of


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


def write_account_outputs(ds, out_dir, top: int = SIGNALS_TOP) -> dict:
    """Write ``accounts_forecast.csv``, ``accounts_forecast.parquet`` and ``signals.csv`` (the
    first ``top`` accounts of each signal: ``signals.top``).

    Returns ``{name: path}``; nothing when ``ds`` has no per-account forecast.
    """
    from pathlib import Path

    from simengine.atomic import atomic_path
    from simengine.csvtext import plain_csv

    if "account" not in ds.dims:
        return {}
    out_dir = Path(out_dir)
    table = accounts_frame(ds)
    paths = {}
    # CSVs: six significant digits, as plain decimals (1234570, never 1.23457e+06).
    for key, name, write in (
        ("accounts_forecast", "accounts_forecast.csv",
         lambda f, p: p.write_text(plain_csv(f, significant=6))),
        ("accounts_forecast_parquet", "accounts_forecast.parquet",
         lambda f, p: f.to_parquet(p, index=False)),
        ("signals", "signals.csv",
         lambda f, p: p.write_text(plain_csv(signals_table(f, top), significant=6))),
    ):  # fmt: skip
        with atomic_path(out_dir / name) as tmp:
            write(table, tmp)
        paths[key] = out_dir / name
    return paths


def print_signals(ds, console=None, top: int = 3, written: int = SIGNALS_TOP) -> None:
    """A short rich table: the first ``top`` accounts of every signal, with their probability
    (``written``: how many ``signals.csv`` holds, for the title)."""
    from rich.console import Console
    from rich.table import Table

    if "account" not in ds.dims:
        return
    console = console or Console()
    signals = signals_table(accounts_frame(ds), top=top)
    table = Table(title=f"Account signals (signals.csv has the top {written} of each)",
                  title_justify="left")  # fmt: skip
    for column, justify in (("signal", "left"), ("account", "left"), ("segment", "left"),
                            ("value", "right"), ("probability", "right")):  # fmt: skip
        table.add_column(column, justify=justify)
    for row in signals.itertuples(index=False):
        if row.value_name == "usage_trend":
            value = f"{row.value:+.0%} usage"
        else:
            value = f"{row.value:,.0f} ({row.value_name})"
        table.add_row(row.signal, row.account_id, row.segment, value,
                      f"{row.probability:.0%} {row.probability_name}")  # fmt: skip
    console.print(table)
