"""Posterior predictive checks: does a fitted model reproduce the book it was fitted to?

Each function takes a book and a posterior ``DataTree``, draws on a plain
``matplotlib.figure.Figure`` (no pyplot, no backend switch) and returns it; ``path`` writes a PNG
(:func:`simengine.report.figures.finish_figure`).  The numbers behind every chart come from small
functions beside it (:func:`kaplan_meier`, :func:`usage_changes`, :func:`season_table`), so a
notebook can print what a chart shows.

Posterior predictive checks here replay the fitted model's *observation* equations on the book's
own exposure (same accounts, same months, same censoring), one replicate per posterior draw:

- survival: ``theta_i ~ Beta(alpha_s, beta_s + entry_i)``, times ``csm_hazard_ratio`` when covered,
  a geometric lifetime after a failed-onboarding coin (``onboarding_failure_s``), censored at the
  account's observed exposure.  ``usage_decline_hazard_ratio`` is left out (it needs simulated
  usage paths), so a replicate slightly under-churns where usage declines;
- usage: month-over-month log changes ``drift_s + b_i + Δ season_s + Δ log ramp(k) + sigma_s eps``
  on the panel cells the usage model fits (skipped months and use-case ramps left out).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from simengine.bookstats.tails import mixture_from_student_t, mixture_scales
from simengine.report.figures import finish_figure, outside_legend

__all__ = [
    "kaplan_meier",
    "segment_hierarchy",
    "season_by_segment",
    "season_table",
    "seasonality_check",
    "survival_check",
    "usage_change_check",
    "usage_changes",
]

_PALETTE = matplotlib.colormaps["tab10"]
#: Tenure (months) after which the onboarding ramp no longer moves usage changes noticeably.
RAMP_DONE = 12


def _posterior_pick(tree: xr.DataTree, n: int, seed: int) -> xr.Dataset:
    """``n`` posterior draws (distinct while available) stacked on dim ``sample``."""
    post = tree["posterior"].to_dataset().stack(sample=("chain", "draw")).transpose("sample", ...)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xD1A6]))
    take = rng.choice(post.sizes["sample"], size=min(n, post.sizes["sample"]), replace=False)
    return post.isel(sample=np.sort(take))


def _tail_law(post: xr.Dataset, j: int) -> tuple[float, float]:
    """Draw ``j``'s step law ``(weight, ratio)``: the mixture, or the one closest to an older
    posterior's t(``usage_tail_nu``); ``(0, 1)``: normal steps."""
    if "usage_tail_weight" in post:
        return float(post["usage_tail_weight"].values[j]), float(post["usage_tail_ratio"].values[j])
    if "usage_tail_nu" in post:
        return mixture_from_student_t(float(post["usage_tail_nu"].values[j]))
    return 0.0, 1.0


def _segment_values(post: xr.Dataset, name: str, segments) -> np.ndarray:
    """(samples, segments) values of a per-segment (or scalar) posterior variable."""
    da = post[name]
    if "segment" in da.dims:
        return da.sel(segment=list(segments)).transpose("sample", "segment").values
    return np.repeat(da.values[:, None], len(segments), axis=1)


# --- survival -----------------------------------------------------------------------------------


def kaplan_meier(
    periods: np.ndarray, churned: np.ndarray, entry: np.ndarray | None = None, horizon: int = 36
) -> np.ndarray:
    """Product-limit survival over month boundaries ``0 .. horizon`` (left truncation allowed).

    Parameters
    ----------
    periods : numpy.ndarray of int, shape (n,)
        Boundaries observed (:func:`simengine.data.observed_lifetimes`).
    churned : numpy.ndarray of bool, shape (n,)
        The last observed boundary was a churn (else censored there).
    entry : numpy.ndarray of int, shape (n,), optional
        Boundaries survived before observation began (at risk only after them).
    horizon : int

    Returns
    -------
    numpy.ndarray, shape (horizon + 1,)
        ``S[t]``: share still a customer after boundary ``t`` (``S[0]`` counts failed onboarding).
    """
    periods = np.asarray(periods, np.int64)
    churned = np.asarray(churned, bool)
    entry = np.zeros_like(periods) if entry is None else np.asarray(entry, np.int64)
    t = np.arange(horizon + 1)[:, None]
    # Boundary 0 (the start month) is at risk for accounts seen from their start; boundary t >= 1
    # for accounts that had entered before it and were still observed at it.
    at_risk = np.where(t == 0, entry[None, :] == 0, (entry[None, :] < t) & (periods[None, :] >= t))
    events = at_risk & churned[None, :] & (periods[None, :] == t)
    n = at_risk.sum(axis=1)
    hazard = np.divide(events.sum(axis=1), n, out=np.zeros(horizon + 1), where=n > 0)
    return np.cumprod(1.0 - hazard)


def _replicate_lifetimes(lives, csm, alpha, beta, hr_csm, fail, rng):
    """One replicate of observed (periods, churned) under the sBG model, same exposure."""
    entry = lives["entry"].to_numpy(np.int64)
    exposure = lives["exposure"].to_numpy(np.int64)
    theta = rng.beta(alpha, beta + entry)
    theta = np.minimum(theta * np.where(csm, hr_csm, 1.0), 1.0 - 1e-12)
    life = entry + rng.geometric(np.maximum(theta, 1e-12))
    life = np.where((entry == 0) & (rng.random(len(entry)) < fail), 0, life)
    return np.minimum(life, exposure), life <= exposure


def survival_check(
    book, tree: xr.DataTree, n_draws: int = 100, seed: int = 0, path: str | Path | None = None
) -> Figure:
    """Kaplan-Meier survival of the data against replicates from the posterior, per segment.

    Returns a Figure: one panel per segment, the data's curve in black over the replicates'
    P5-P95 band and median.  A data curve outside the band at many tenures says the churn model
    misses something in that segment.
    """
    from simengine.data import observed_lifetimes

    lives = observed_lifetimes(book)
    starts = book.accounts["start_month"].to_numpy(np.int64)
    lives["exposure"] = np.maximum(int(book.as_of) - starts, 0)
    csm = (
        book.accounts["csm_covered"].to_numpy(bool)
        if "csm_covered" in book.accounts.columns
        else np.zeros(len(lives), bool)
    )
    segments = list(book.segments)
    post = _posterior_pick(tree, n_draws, seed)
    alpha = _segment_values(post, "churn_alpha", segments)
    beta = _segment_values(post, "churn_beta", segments)
    hr = post["csm_hazard_ratio"].values if "csm_hazard_ratio" in post else np.ones(alpha.shape[0])
    fail = (
        _segment_values(post, "onboarding_failure", segments)
        if "onboarding_failure" in post
        else np.zeros_like(alpha)
    )
    horizon = int(lives["periods"].max())
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5C4]))
    fig = Figure(figsize=(4.2 * len(segments), 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(segments), sharey=True, squeeze=False)[0])
    seg_index = pd.Index(segments).get_indexer(lives["segment"])
    for k, (ax, seg) in enumerate(zip(axes, segments, strict=True)):
        rows = seg_index == k
        part = lives[rows]
        observed = kaplan_meier(part["periods"], part["churned"], part["entry"], horizon)
        reps = np.empty((alpha.shape[0], horizon + 1))
        for j in range(alpha.shape[0]):
            per, ch = _replicate_lifetimes(
                part, csm[rows], alpha[j, k], beta[j, k], hr[j], fail[j, k], rng
            )
            reps[j] = kaplan_meier(per, ch, part["entry"], horizon)
        t = np.arange(horizon + 1)
        lo, mid, hi = np.quantile(reps, [0.05, 0.5, 0.95], axis=0)
        ax.fill_between(t, lo, hi, color=_PALETTE(k), alpha=0.3, linewidth=0,
                        label="posterior replicates P5-P95")  # fmt: skip
        ax.plot(t, mid, color=_PALETTE(k), linewidth=1.2, label="replicates P50")
        ax.step(
            t, observed, where="post", color="black", linewidth=1.4, label="data (Kaplan-Meier)"
        )
        ax.set_title(f"{seg}: {rows.sum():,} accounts", fontsize=10)
        ax.set_xlabel("months since start")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("still a customer")
    outside_legend(axes[-1])
    fig.suptitle("Survival: data vs posterior predictive replicates", fontsize=11)
    return finish_figure(fig, path)


# --- usage changes and seasonality ---------------------------------------------------------------


def usage_changes(book, settle_months: int = 12) -> pd.DataFrame:
    """The month-over-month log usage changes the usage model fits, one row per cell.

    Returns
    -------
    pandas.DataFrame
        ``account`` (panel row), ``segment`` (index into ``book.segments``), ``month`` (month
        number of the later month), ``tenure`` (months since start of the later month), ``change``.
    """
    from simengine.bookstats.panel import usage_panel

    panel = usage_panel(book, settle_months)
    lu = panel.log_usage
    ok = (
        np.isfinite(lu[:, 1:]) & np.isfinite(lu[:, :-1]) & panel.active[:, 1:]
        & panel.active[:, :-1] & ~panel.ramping[:, 1:]
    )  # fmt: skip
    rows, cols = np.nonzero(ok)
    cols = cols + 1
    return pd.DataFrame(
        {
            "account": rows,
            "segment": panel.segment[rows],
            "month": panel.months[cols],
            "tenure": cols - panel.start[rows],
            "change": lu[rows, cols] - lu[rows, cols - 1],
        }
    )


def _log_ramp_table(post: xr.Dataset, j: int, segments, max_tenure: int) -> np.ndarray:
    """Draw ``j``'s ``log ramp_s(k)``, (segments, max_tenure + 1): the fitted curve ``ramp_log``
    (0 past its months), or the exponential approach of an older posterior's ramp_start and
    ramp_months."""
    k = np.arange(max_tenure + 1)
    if "ramp_log" in post:
        table = post["ramp_log"].sel(segment=list(segments)).values[j]  # (S, K + 1)
        out = np.zeros((len(segments), max_tenure + 1))
        width = min(table.shape[1], max_tenure + 1)
        out[:, :width] = table[:, :width]
        return out
    start = _segment_values(post, "ramp_start", segments)[j][:, None]
    months = _segment_values(post, "ramp_months", segments)[j][:, None]
    return np.log1p(-(1.0 - start) * np.exp(-k[None, :] / months))


def _replicate_changes(cells: pd.DataFrame, post: xr.Dataset, j: int, segments, rng) -> np.ndarray:
    seg = cells["segment"].to_numpy()
    value = {
        n: _segment_values(post, n, segments)[j]
        for n in ("usage_drift", "usage_volatility", "account_sd")
    }
    n_accounts = int(cells["account"].max()) + 1
    account_effect = rng.standard_normal(n_accounts)[cells["account"].to_numpy()]
    moy = cells["month"].to_numpy() % 12
    season = season_by_segment(post, segments)[j]  # (segments, 12)
    tenure = cells["tenure"].to_numpy()
    table = _log_ramp_table(post, j, segments, int(tenure.max()) if len(tenure) else 1)
    ramp = table[seg, np.maximum(tenure, 0)] - table[seg, np.maximum(tenure - 1, 0)]
    ramp = np.where(tenure >= 1, ramp, 0.0)
    weight, ratio = _tail_law(post, j)
    noise = rng.standard_normal(len(cells))
    if weight > 0.0:
        # The simulation's step law: a normal scale mixture of unit SD (bookstats/tails.py).
        narrow, wide = mixture_scales(weight, ratio, 1.0)
        noise = noise * np.where(rng.random(len(cells)) < weight, wide, narrow)
    return (
        value["usage_drift"][seg]
        + value["account_sd"][seg] * account_effect
        + season[seg, moy] - season[seg, (moy - 1) % 12]
        + ramp
        + value["usage_volatility"][seg] * noise
    )  # fmt: skip


def usage_change_check(
    book, tree: xr.DataTree, n_draws: int = 30, seed: int = 0, path: str | Path | None = None
) -> Figure:
    """Histogram (log scale) of month-over-month log usage changes: data vs replicates, per segment."""
    cells = usage_changes(book)
    segments = list(book.segments)
    post = _posterior_pick(tree, n_draws, seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x05A6]))
    reps = np.stack(
        [_replicate_changes(cells, post, j, segments, rng) for j in range(post.sizes["sample"])]
    )
    fig = Figure(figsize=(4.2 * len(segments), 3.8))
    axes = fig.subplots(1, len(segments), squeeze=False)[0]
    for k, (ax, seg) in enumerate(zip(axes, segments, strict=True)):
        rows = cells["segment"].to_numpy() == k
        data = cells["change"].to_numpy()[rows]
        if data.size == 0:
            ax.set_title(f"{seg}: no usage changes")
            continue
        edges = np.linspace(*np.quantile(data, [0.001, 0.999]), 41)
        width = np.diff(edges)
        dens = np.stack([np.histogram(r[rows], edges)[0] / (rows.sum() * width) for r in reps])
        lo, hi = np.quantile(dens, [0.05, 0.95], axis=0)
        ax.stairs(hi, edges, baseline=lo, fill=True, color=_PALETTE(k), alpha=0.35,
                  label="replicates P5-P95")  # fmt: skip
        ax.stairs(np.histogram(data, edges)[0] / (data.size * width), edges, color="black",
                  linewidth=1.2, label="data")  # fmt: skip
        ax.set_yscale("log")
        ax.set_title(
            f"{seg}: sd data {data.std():.3f}, replicates {np.median(reps[:, rows].std(axis=1)):.3f}",
            fontsize=9,
        )
        ax.set_xlabel("log usage change, month over month")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("density (log scale)")
    outside_legend(axes[-1])
    fig.suptitle("Usage changes: data vs posterior predictive replicates", fontsize=11)
    return finish_figure(fig, path)


def season_by_segment(post: xr.Dataset, segments) -> np.ndarray:
    """(samples, segments, 12) log seasonal effects of a posterior stacked on ``sample``.

    A fit with a profile per segment gives each segment its own; a fit with one model-wide
    profile gives it to every segment; a posterior without ``season`` gives zeros.
    """
    n = post.sizes["sample"]
    if "season" not in post:
        return np.zeros((n, len(segments), 12))
    da = post["season"]
    if "segment" in da.dims:
        da = da.sel(segment=list(segments)).transpose("sample", "segment", "month_of_year")
        return da.values
    values = da.transpose("sample", ...).values
    return np.repeat(values[:, None, :], len(segments), axis=1)


def season_table(book, tree: xr.DataTree, min_tenure: int = 6) -> pd.DataFrame:
    """Each segment's fitted monthly profile against the one its data shows.

    The data's profile of a segment: its mean log usage change into each calendar month, minus
    the mean of the 12 (drift and ramps), accumulated over the year and centred, from
    accounts past ``min_tenure`` months (the onboarding ramp is not in the profile): an estimate
    of the same 12 log effects, fitted nothing.

    Returns
    -------
    pandas.DataFrame
        One row per (``segment``, ``month`` 0-11, January first): ``month_name``, ``fitted_p5``,
        ``fitted_p50``, ``fitted_p95`` (the posterior's profile), ``data`` (the data's profile),
        ``fitted_step_p5``, ``fitted_step_p50``, ``fitted_step_p95`` and ``data_step``,
        ``data_step_se`` (the step into the month from the month before: what the data see
        directly), ``changes`` (changes into the month).
    """
    cells = usage_changes(book)
    cells = cells[cells["tenure"] > min_tenure]
    segments = list(book.segments)
    post = tree["posterior"].to_dataset().stack(sample=("chain", "draw")).transpose("sample", ...)
    season = season_by_segment(post, segments)
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    rows = []
    for k, seg in enumerate(segments):
        part = cells[cells["segment"].to_numpy() == k]
        moy = part["month"].to_numpy() % 12
        change = part["change"].to_numpy() - (part["change"].mean() if len(part) else 0.0)
        count = np.bincount(moy, minlength=12)
        step = np.bincount(moy, weights=change, minlength=12) / np.maximum(count, 1)
        step = np.where(count > 0, step, np.nan)
        # The 12 steps of a profile sum to zero over a year; months seen a different number of
        # times (a window of 30 months) leave a remainder that would accumulate into a trend.
        step -= np.nanmean(step) if (count > 0).any() else 0.0
        sq = np.bincount(moy, weights=change**2, minlength=12) / np.maximum(count, 1)
        se = np.sqrt(np.maximum(sq - np.nan_to_num(step) ** 2, 0.0) / np.maximum(count, 1))
        profile = np.cumsum(np.nan_to_num(step))
        profile -= profile.mean()
        fitted = np.quantile(season[:, k], [0.05, 0.5, 0.95], axis=0)
        fitted_step = np.quantile(
            season[:, k] - np.roll(season[:, k], 1, axis=1), [0.05, 0.5, 0.95], axis=0
        )
        for m in range(12):
            rows.append(
                {
                    "segment": seg,
                    "month": m,
                    "month_name": names[m],
                    "fitted_p5": fitted[0, m],
                    "fitted_p50": fitted[1, m],
                    "fitted_p95": fitted[2, m],
                    "data": profile[m],
                    "fitted_step_p5": fitted_step[0, m],
                    "fitted_step_p50": fitted_step[1, m],
                    "fitted_step_p95": fitted_step[2, m],
                    "data_step": step[m],
                    "data_step_se": se[m],
                    "changes": int(count[m]),
                }
            )
    return pd.DataFrame(rows)


def seasonality_check(book, tree: xr.DataTree, path: str | Path | None = None) -> Figure:
    """Each segment's fitted monthly profile (P5-P95, P50) against the one its data shows.

    Top row: the profile (log effects, January first), fitted against the data's accumulated
    steps (:func:`season_table`).  Bottom row: the step into each month, which the data see
    directly, with ±2 standard errors.  One column per segment: segments of one book may dip in
    different months, and a model-wide profile shows here as the same band in every column.
    """
    table = season_table(book, tree)
    segments = list(book.segments)
    x = np.arange(12)
    fig = Figure(figsize=(4.0 * len(segments) + 1.5, 6.4))
    axes = fig.subplots(2, len(segments), squeeze=False, sharey="row")
    for k, seg in enumerate(segments):
        t = table[table["segment"] == seg]
        ax_p, ax_s = axes[0, k], axes[1, k]
        colour = _PALETTE(k)
        ax_p.fill_between(x, t["fitted_p5"], t["fitted_p95"], color=colour, alpha=0.3,
                          linewidth=0, label="fitted P5-P95")  # fmt: skip
        ax_p.plot(x, t["fitted_p50"], color=colour, label="fitted P50")
        ax_p.plot(x, t["data"], "o--", color="black", ms=3, label="data (accumulated steps)")
        dip = int(np.argmin(t["fitted_p50"].to_numpy()))
        ax_p.set_title(
            f"{seg}: profile (fitted dip {t['month_name'].iloc[dip]} "
            f"{np.expm1(t['fitted_p50'].iloc[dip]):+.0%})",
            fontsize=9,
        )
        ax_s.fill_between(x, t["fitted_step_p5"], t["fitted_step_p95"], color=colour,
                          alpha=0.3, linewidth=0, label="fitted P5-P95")  # fmt: skip
        ax_s.plot(x, t["fitted_step_p50"], color=colour, label="fitted P50")
        ax_s.errorbar(x, t["data_step"], yerr=2 * t["data_step_se"], fmt="o", color="black",
                      ms=3, capsize=2, label="data ±2 SE")  # fmt: skip
        ax_s.set_title(f"{seg}: step into each month", fontsize=9)
        for ax in (ax_p, ax_s):
            ax.axhline(0.0, color="grey", linewidth=0.8)
            ax.set_xticks(x, t["month_name"], fontsize=7)
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("log seasonal effect")
    axes[1, 0].set_ylabel("log step from the month before")
    outside_legend(axes[1, -1])
    fig.suptitle("Seasonal profile per segment: fitted vs the data", fontsize=11)
    return finish_figure(fig, path)


# --- the hierarchy ------------------------------------------------------------------------------


def _raw_estimates(book) -> pd.DataFrame:
    """Per-segment estimates from the data alone (no pooling): what each segment says by itself."""
    from simengine.data import observed_lifetimes

    lives = observed_lifetimes(book)
    cells = usage_changes(book)
    # Past the onboarding ramp: at tenure 7 a 3-month ramp still adds ~0.03 a month, four times
    # a typical drift; after 12 months it adds < 0.004.
    cells = cells[cells["tenure"] > RAMP_DONE]
    rows = []
    for k, seg in enumerate(book.segments):
        life = lives[lives["segment"] == seg]
        exposure = float((life["periods"] - life["entry"]).clip(lower=0).sum())
        part = cells[cells["segment"] == k]["change"]
        rows.append(
            {
                "segment": seg,
                "accounts": len(life),
                "monthly_churn": life["churned"].sum() / exposure if exposure else np.nan,
                "usage_drift": part.mean() if len(part) else np.nan,
                "usage_volatility": part.std() if len(part) > 1 else np.nan,
            }
        )
    return pd.DataFrame(rows).set_index("segment")


def segment_hierarchy(book, tree: xr.DataTree, path: str | Path | None = None) -> Figure:
    """What the hierarchy learned per segment: posterior 90% intervals beside each segment's own
    data-only estimate, for mean monthly churn, usage drift and usage volatility.

    A segment's posterior sits between its own estimate and the others' when its data are few
    (partial pooling); with many accounts it sits on its own estimate.  Usage volatility's raw
    value includes the account effects and is an upper bound.
    """
    post = tree["posterior"].to_dataset().stack(sample=("chain", "draw"))
    raw = _raw_estimates(book)
    segments = [s for s in book.segments if s in post["segment"].values]
    panels = {
        "monthly_churn": ("mean monthly churn α/(α+β)", post["churn_alpha"] / (post["churn_alpha"] + post["churn_beta"])),
    }  # fmt: skip
    for name, label in (("usage_drift", "usage drift (log/month)"),
                        ("usage_volatility", "usage volatility (log/month)")):  # fmt: skip
        if name in post:
            panels[name] = (label, post[name])
    fig = Figure(figsize=(4.2 * len(panels), 0.55 * len(segments) + 1.8))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    y = np.arange(len(segments))
    for ax, (name, (label, da)) in zip(axes, panels.items(), strict=True):
        q = da.sel(segment=segments).quantile([0.05, 0.5, 0.95], dim="sample").values
        ax.errorbar(q[1], y, xerr=[q[1] - q[0], q[2] - q[1]], fmt="o", color="tab:blue",
                    capsize=3, label="posterior P50, 90% interval")  # fmt: skip
        ax.plot(
            raw.loc[segments, name], y, "x", color="black", ms=8,
            label=f"segment's data alone\n(usage: tenure > {RAMP_DONE} months)",
        )  # fmt: skip
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3, axis="x")
        if name == "monthly_churn":
            ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    axes[0].set_yticks(y, [f"{s} ({raw.loc[s, 'accounts']:,})" for s in segments])
    axes[0].invert_yaxis()
    outside_legend(axes[-1])
    return finish_figure(fig, path)
