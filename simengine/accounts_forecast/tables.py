"""The per-account tables: ``accounts_forecast.csv``'s rows from an accumulator, the usage signals
of a book, and ``signals.csv``'s ranking (NumPy and pandas, no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from simengine.accounts_forecast.accumulator import AccountAccumulator

__all__ = [
    "ACCOUNT_COLUMNS",
    "SIGNAL_COLUMNS",
    "SIGNALS_TOP",
    "accounts_table",
    "active_mask",
    "signals_table",
    "usage_signals",
]

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


def active_mask(book) -> np.ndarray:
    """Accounts active at ``as_of`` (no ``churn_month`` or one after it), as
    :func:`simengine.engine.book_state` selects them."""
    churn = book.accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)
    return churn > book.as_of
