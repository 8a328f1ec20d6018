"""One account read closely: its history and simulated next 12 months, churn timing and commit.

:func:`account_records` runs a forecast as ``simengine run`` does and keeps the kernel's per-draw
record of a few accounts; :func:`account_drilldown` and :func:`commit_burndown` chart one of them
on a plain ``matplotlib.figure.Figure`` (``path`` writes a PNG).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from simengine.report.figures import (
    _money,
    finish_figure,
    money_formatter,
    outside_legend,
    unit_label,
)

__all__ = ["account_drilldown", "account_records", "commit_burndown"]


def account_records(cfg, account_ids, book=None):
    """Simulate ``cfg`` and keep the kernel's per-draw record of a few accounts.

    The run is :func:`simengine.pipeline.simulate_config` unchanged (same numbers as ``simengine
    run``); its kernel is wrapped so each chunk's per-account record is copied for ``account_ids``
    on its way to the per-account forecast.

    Returns
    -------
    tuple of (xarray.Dataset, dict of str to numpy.ndarray)
        The forecast, and per account its record, shape (draws, len(ACCOUNT_OUTPUTS)).
    """
    from simengine.accounts_forecast import active_mask
    from simengine.data import book_from_config
    from simengine.engine import run_kernel
    from simengine.pipeline import simulate_config

    book = book_from_config(cfg.data, need_usage=True) if book is None else book
    active = book.accounts.loc[active_mask(book), "account_id"].astype(str).to_list()
    missing = [a for a in account_ids if a not in active]
    if missing:
        raise KeyError(f"accounts not active at as_of: {missing}")
    where = [active.index(a) for a in account_ids]
    kept: list[np.ndarray] = []

    def kernel(state, params, capacity=None, **kwargs):
        sink = kwargs["account_sink"]

        def tee(record: np.ndarray) -> None:
            kept.append(record[:, where].copy())
            sink(record)

        return run_kernel(state, params, capacity, **{**kwargs, "account_sink": tee})

    ds = simulate_config(cfg, book=book, kernel=kernel)
    stacked = np.concatenate(kept, axis=0)
    return ds, {a: stacked[:, k] for k, a in enumerate(account_ids)}


def _account_revenue(usage: pd.DataFrame, price: float | None) -> tuple[np.ndarray, bool]:
    """An account's monthly revenue: the data's ``revenue``, usage x ``price`` where it has none;
    its usage (and ``False``) when neither is there."""
    given = (
        usage["revenue"].to_numpy(float)
        if "revenue" in usage.columns
        else np.full(len(usage), np.nan)
    )
    if price is not None:
        return np.where(np.isfinite(given), given, usage["usage"].to_numpy(float) * price), True
    if "revenue" in usage.columns and np.isfinite(given).all():
        return given, True
    return usage["usage"].to_numpy(float), False


def account_drilldown(
    book,
    account_id: str,
    record: np.ndarray,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    price: float | None = None,
) -> Figure:
    """One account: its revenue history, its simulated next 12 months, churn timing, commit.

    Parameters
    ----------
    book : simengine.data.Book
    account_id : str
    record : numpy.ndarray, shape (draws, len(ACCOUNT_OUTPUTS))
        The kernel's per-account record of this account, one row per draw
        (:data:`simengine.kernels.layout.ACCOUNT_OUTPUTS`).
    path : str or os.PathLike, optional
        Write a PNG there.
    currency : str, optional
        Currency code on every money axis and title (``"currency"`` when not given).
    price : float, optional
        The account's unit price: prices usage months without a ``revenue`` value, so the
        history is revenue like the simulated months beside it (without it, and without a
        ``revenue`` column, the history is usage on its own axis).
    """
    from simengine.kernels.layout import A_CHURN_MONTH, A_LEAK_12M, A_OVERAGE_12M, A_REVENUE_12M

    acc = book.accounts.set_index("account_id").loc[account_id]
    usage = book.usage[book.usage["account_id"] == account_id].sort_values("month")
    history, is_revenue = _account_revenue(usage, price)
    months = pd.PeriodIndex.from_ordinals(usage["month"].to_numpy() - (1970 * 12), freq="M")
    fig = Figure(figsize=(12, 7.5))
    grid = fig.add_gridspec(2, 3)
    ax_h = fig.add_subplot(grid[0, :])
    ax_u = ax_h if is_revenue else ax_h.twinx()  # usage is not money: its own axis
    ax_u.plot(months.to_timestamp(), history, color="black", marker="o", ms=2.5,
              label="history" if is_revenue else "usage history (right axis)")  # fmt: skip
    rev12 = record[:, A_REVENUE_12M]
    q = np.quantile(rev12, [0.1, 0.5, 0.9]) / 12.0
    end = (months[-1] + 12).to_timestamp()
    start = (months[-1] + 1).to_timestamp()
    ax_h.fill_between([start, end], [q[0]] * 2, [q[2]] * 2, color="tab:blue", alpha=0.25,
                      label="next 12 months, mean per month: P10-P90")  # fmt: skip
    ax_h.plot([start, end], [q[1]] * 2, color="tab:blue", label="P50")
    ax_h.axvline(months[-1].to_timestamp(), color="grey", linestyle=":", label="as of")
    ax_h.yaxis.set_major_formatter(money_formatter(currency))
    ax_h.set_ylabel(unit_label("revenue per month", currency))
    if not is_revenue:
        ax_u.yaxis.set_major_formatter(FuncFormatter(_money))
        ax_u.set_ylabel("usage per month (units)")
    ax_h.set_title(
        f"{account_id} ({acc['segment']}): history and the simulated next 12 months "
        f"({len(record):,} draws)", fontsize=10,
    )  # fmt: skip
    outside_legend(ax_h)
    ax_h.grid(alpha=0.3)

    ax_r = fig.add_subplot(grid[1, 0])
    ax_r.hist(rev12, bins=40, color="tab:blue", alpha=0.7)
    if is_revenue:
        ax_r.axvline(12 * history[-1], color="black", linestyle="--", label="12 x last month")
    ax_r.xaxis.set_major_formatter(money_formatter(currency))
    ax_r.set_title(unit_label("revenue over the next 12 months", currency), fontsize=9)
    ax_r.legend(fontsize=8)

    ax_c = fig.add_subplot(grid[1, 1])
    churn = record[:, A_CHURN_MONTH]
    t = np.arange(0, 13)
    # churn_month = m + 1 means the account is gone from forecast month m on.
    gone = np.array([np.mean((churn > 0) & (churn <= k)) for k in t])
    ax_c.step(t, 1.0 - gone, where="post", color="tab:red")
    ax_c.set_ylim(max(0.0, 1.0 - gone[-1] - 0.1), 1.005)
    ax_c.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax_c.set_xlabel("forecast month")
    ax_c.set_title(f"P(still a customer); P(churn in 12m) = {gone[-1]:.1%}", fontsize=9)
    ax_c.grid(alpha=0.3)

    ax_k = fig.add_subplot(grid[1, 2])
    commit = float(acc.get("commit_annual", 0.0) or 0.0)
    if commit > 0:
        over, leak = record[:, A_OVERAGE_12M], record[:, A_LEAK_12M]
        net = over - leak
        ax_k.hist(net, bins=40, color="tab:purple", alpha=0.7)
        ax_k.axvline(0.0, color="black", linewidth=0.8)
        ax_k.xaxis.set_major_formatter(money_formatter(currency))
        ax_k.set_title(
            f"commit {_money(commit, 0)} {currency or 'currency'}/yr: overage − leak, 12m\n"
            f"P(overage) {np.mean(over > 0):.0%}, P(leak) {np.mean(leak > 0):.0%}", fontsize=9,
        )  # fmt: skip
    else:
        ax_k.text(0.5, 0.5, "no annual commit:\npay as you go", ha="center", va="center")
        ax_k.set_axis_off()
    return finish_figure(fig, path)


def commit_burndown(
    book,
    account_id: str,
    path: str | Path | None = None,
    *,
    currency: str | None = None,
    price: float | None = None,
) -> Figure:
    """The account's current commit term: commit left against a straight-line pace.

    ``currency`` names the money axis; ``price`` prices usage months without a ``revenue`` value
    (the commit is money, so what burns it down must be too).
    """
    acc = book.accounts.set_index("account_id").loc[account_id]
    commit = float(acc.get("commit_annual", 0.0) or 0.0)
    if commit <= 0:
        raise ValueError(f"account {account_id!r} has no annual commit")
    start = int(acc["contract_start_month"])
    term_start = start + 12 * ((int(book.as_of) - start) // 12)
    usage = book.usage[(book.usage["account_id"] == account_id)]
    revenue, _ = _account_revenue(usage, price)
    months = np.arange(term_start, int(book.as_of) + 1)
    spent = (
        pd.Series(revenue, index=usage["month"].to_numpy()).groupby(level=0).sum()
        .reindex(months).fillna(0.0).cumsum().to_numpy()
    )  # fmt: skip
    fig = Figure(figsize=(7, 3.8))
    ax = fig.subplots()
    k = np.arange(len(months))
    ax.plot(k + 1, commit - spent, "o-", color="black", label="commit left (actual)")
    ax.plot([0, 12], [commit, 0.0], "--", color="grey", label="even pace")
    ax.axhline(0.0, color="tab:red", linewidth=0.8)
    ax.set_xlim(0, 12)
    ax.yaxis.set_major_formatter(money_formatter(currency))
    ax.set_ylabel(unit_label("commit left", currency))
    ax.set_xlabel("month of the contract year")
    ax.set_title(
        f"{account_id}: commit burn-down of {_money(commit, 0)} {currency or 'currency'} a year, "
        f"{k.size} of 12 months of the term so far", fontsize=10,
    )  # fmt: skip
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return finish_figure(fig, path)


# --- calibration ---------------------------------------------------------------------------------
