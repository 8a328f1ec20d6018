"""Expansion: use-case arrivals (rate per segment, raised by SE engagement) and use-case size.

Arrivals
--------
New use cases (those starting after the account's start month; ``uc0`` is the initial one) arrive
``Poisson(use_case_rate_s * se_use_case_ratio^se)`` per active month after the start month, ``se``
an attribute of the account (as the simulation treats it: an SE-supported account adopts at the
ratio times the rate).  Counts and exposure months are summed per (segment, SE flag): the
likelihood is exact and tiny.

*Exposure* runs over the months the use-case table covers: from ``max(start + 1, cover)`` to
churn or ``as_of``, where ``cover`` is the later of the observation window's start and the first
month in the use-case table.  For an account that started before ``cover``, a first recorded use
case starting at ``cover`` is not a new arrival (it is what the account already ran when the table
begins); see :func:`simengine.bookstats.panel.new_use_cases`.

*The SE flag must not depend on the outcome.*  The flag is ``accounts.se_engaged`` (an account
attribute) when present, else the ``se_supported`` flag of the account's first recorded use case.
Where every account has an initial use case that flag is known before any arrival.  Where the
table lists adoptions only, an account's first use case is itself an arrival: an account without
one has no flag, and reading "no use case" as "not SE-supported" makes the SE accounts exactly
those with at least one arrival (a ratio of ~2-4 on books with no SE effect at all).  So the
flag of an account that has not revealed it is latent: such an account's months enter as the
mixture ``pi_s Poisson(0 | rate ratio T) + (1 - pi_s) Poisson(0 | rate T)``, and the flags of
the accounts that revealed theirs inside the exposure (first use case at or after its first
month) are ``Bernoulli(pi_s)``, ``pi_s = se_supported_share`` per segment (``Beta(1, 1)``: the
revealed flags, hundreds of them, pin it).  The model is the generative one under both readings
of the flag: an account attribute that scales the rate (the flag reveals the type), and a flag
drawn per use case with no effect (ratio 1, ``pi_s`` the flag's share).  An account with a use
case before the exposure starts has its flag known and is conditioned on it (no ``pi_s`` term).
Only approximate: an account that predates ``cover`` without a recorded use case has survived
``start .. cover`` without one, which under a real effect makes it a little less likely SE than
``pi_s`` says.  Without unrevealed accounts (an ``se_engaged`` column, or an initial use case
everywhere) there is no mixture and no ``se_supported_share``.

The SE flag does not enter the size of a use case: the simulation has no SE term there (a book
where SE support makes use cases larger reads as a wider size distribution).

Size and ramp
-------------
A new use case starting in month ``a`` moves log usage by
``log(1 + E(u) + m h(u)) - log(1 + E(u-1) + m h(u-1))`` in month ``a + u`` on top of the usual
drift, season and onboarding terms, with ``h(u) = 1 - exp(-(u + 1) / use_case_ramp_months_s)``,
plateau size ``m ~ LogNormal(use_case_size_mu_s, use_case_size_sigma_s)`` relative to the
account's base usage, and ``E`` the uplift of the account's earlier new use cases (0 for its
first).  The changes in months ``a .. a + settle_months - 1`` (cut short at the next use case, churn
or ``as_of``) have that likelihood with the noise of the usage model and ``m`` integrated out by
10-point Gauss-Hermite quadrature.  Those are exactly the months the usage model leaves out: with
``later_windows`` every observed change is read by one of the two (the drift enters both);
by default only each account's first new use case has a window.

*Later use cases* (``later_windows``).  Their ``E`` is latent (the earlier sizes); it is taken at its expectation,
each earlier use case at ``exp(mu + sigma^2 / 2)`` on its own ramp, so an earlier use case still
ramping when the next starts is modelled, not read as drift.  Reading only first use cases drops the ``settle_months`` after every later one: 2-3% of the changes on the 24-month
benchmark books (``benchmarks/bench_backtest.py``), a third of them on a book with a use case every
~6 months.  The account
effect ``b_i`` is left in the noise (its share of a window's variance is ``W tau^2 / sigma^2``, ~5%
at the defaults).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simengine.bookstats.changes import SETTLE_MONTHS
from simengine.bookstats.panel import new_use_cases, segment_index, usage_panel, use_case_cover
from simengine.bookstats.shapes import RAMP_FIT_MONTHS
from simengine.data import Book
from simengine.fitting._lazy import pm, pt
from simengine.fitting.base import BookModel, SharedParameters

__all__ = ["ExpansionModel", "arrival_counts", "use_case_windows"]

_HERMITE_X, _HERMITE_W = np.polynomial.hermite.hermgauss(10)


class ExpansionModel(BookModel):
    """Use-case arrival rate and size/ramp.

    Model config
    ------------
    settle_months : int, default 12
        Length of the window after a first use case read for its size and ramp.
    max_accounts : int, default 0
        Size windows from a random sample of this many accounts (0 = all); arrivals use all.
    fit_sizes : bool, default True
        Fit size and ramp (needs usage); ``False`` fits arrivals only.
    later_windows : bool, default False
        Also read the windows of every later use case (module docstring), so no change after a
        use case is left out of both fits.  Off by default: on the five 24-month benchmark books
        it moved the estimates within their posterior SDs and the backtest scores both ways
        (404 bias -6.0% -> -5.6%, 101 -1.9% -> -2.8%; ``benchmarks/backtest_results.txt``), and
        the shipped default posterior is a fit without it.  It matters on books with frequent
        use cases (a third of the changes at one use case every ~6 months).
    """

    name = "expansion"

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        return {
            "settle_months": SETTLE_MONTHS,
            "max_accounts": 0,
            "fit_sizes": True,
            "later_windows": False,
        }

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:
        if book.use_cases is None:  # resolve_models refuses this first, with exit code 2
            raise ValueError("fit.models includes 'expansion' but the book has no use_cases table")
        data = {"arrivals": arrival_counts(book)}
        data["windows"] = None
        if self.model_config["fit_sizes"] and len(book.usage):
            panel = usage_panel(
                book, self.model_config["settle_months"], self.model_config["max_accounts"], seed
            )
            windows = use_case_windows(panel, self.model_config["settle_months"])
            if not self.model_config["later_windows"]:
                first = ~windows["prev_mask"].any(axis=1)
                windows = {k: (v if k == "lag" else v[first]) for k, v in windows.items()}
            data["windows"] = windows if len(windows["segment"]) else None
        return data

    def add_to_model(self, params: SharedParameters, data: dict[str, Any]) -> None:
        model = params.model
        with model:
            pm.Potential("use_case_arrival_loglik", _arrival_loglik(params, data["arrivals"]))
        if data["windows"] is not None:
            with model:
                pm.Potential("use_case_size_loglik", _size_loglik(params, data["windows"]))

    def observed_summary(self, data: dict[str, Any], segments: tuple[str, ...]) -> dict:
        n = len(segments)
        arr = data["arrivals"]
        seg = arr["segment"].to_numpy()
        out = {
            "use_case_arrivals": ("segment", np.bincount(seg, weights=arr["count"], minlength=n)),
            "use_case_exposure_months": (
                "segment",
                np.bincount(seg, weights=arr["exposure"], minlength=n),
            ),
        }
        if data["windows"] is not None:
            out["use_case_size_windows"] = (
                "segment",
                np.bincount(data["windows"]["segment"], minlength=n),
            )
        return out


def arrival_counts(book: Book) -> pd.DataFrame:
    """New use cases and exposure months per (segment, SE flag) (rules in the module docstring).

    Returns
    -------
    pandas.DataFrame
        int64 columns ``segment`` (index into ``book.segments``), ``se`` (1, 0, or -1: not known,
        the account has no recorded use case), ``count``, ``exposure`` (active months after the
        start month that the use-case table covers, up to ``as_of``), ``accounts`` and
        ``revealed`` (of those accounts, the ones whose first use case starts inside their
        exposure: their flag is an outcome, Bernoulli(``se_supported_share``)).  One row per
        (segment, se) for known flags; one per (segment, exposure) for unknown ones, whose
        likelihood is not a function of summed exposure.
    """
    accounts = book.accounts
    ids = accounts["account_id"]
    cover = use_case_cover(book)
    start = accounts["start_month"].to_numpy(np.int64)
    end = accounts["churn_month"].fillna(book.as_of + 1).to_numpy(dtype=np.int64)
    end = np.minimum(end, book.as_of + 1)
    first_exposed = np.maximum(start + 1, cover)
    exposure = np.maximum(end - first_exposed, 0)
    new = new_use_cases(book)
    row = pd.Index(ids).get_indexer(new["account_id"])
    count = np.bincount(row[row >= 0], minlength=len(accounts)).astype(np.int64)
    cases = book.use_cases[book.use_cases["start_month"] <= book.as_of]
    ordered = cases.sort_values(["account_id", "start_month", "use_case_id"], kind="stable")
    first = ordered.groupby("account_id", sort=False).head(1).set_index("account_id")
    first_start = first["start_month"].reindex(ids).to_numpy(dtype=np.float64)
    revealed = np.isfinite(first_start) & (np.nan_to_num(first_start) >= first_exposed)
    if "se_engaged" in accounts.columns:
        se = accounts["se_engaged"].to_numpy(dtype=bool).astype(np.int64)
        revealed[:] = False  # an account attribute: no flag is an outcome
    else:
        flag = first["se_supported"].reindex(ids, fill_value=False).to_numpy(dtype=bool)
        se = np.where(np.isfinite(first_start), flag.astype(np.int64), -1)
    frame = pd.DataFrame(
        {
            "segment": segment_index(accounts["segment"], book.segments),
            "se": se,
            "count": count,
            "exposure": exposure,
            "accounts": np.ones(len(accounts), dtype=np.int64),
            "revealed": revealed.astype(np.int64),
        }
    )
    columns = ["count", "exposure", "accounts", "revealed"]
    known = frame[frame["se"] >= 0].groupby(["segment", "se"], as_index=False)[columns].sum()
    # An account without a use case and without exposure tells nothing.
    unknown = frame[(frame["se"] < 0) & (frame["exposure"] > 0)]
    unknown = unknown.groupby(["segment", "se", "exposure"], as_index=False)[
        ["count", "accounts", "revealed"]
    ].sum()[["segment", "se", *columns]]
    return pd.concat([known, unknown], ignore_index=True).astype(np.int64)


def _arrival_loglik(params: SharedParameters, arrivals: pd.DataFrame):
    """Poisson log likelihood of the arrivals (the ``count!`` term dropped: no parameters).

    Known flags: summed counts and exposure per (segment, flag).  Unknown flags (no use case yet):
    a two-point mixture over the flag, ``se_supported_share`` its weight, with the revealed flags'
    Bernoulli terms; without any SE flag in the book the unknown months are plain months.
    """
    seg = arrivals["segment"].to_numpy()
    se = arrivals["se"].to_numpy()
    counts = arrivals["count"].to_numpy().astype(np.float64)
    exposure = arrivals["exposure"].to_numpy().astype(np.float64)
    segment_rate = params.get("use_case_rate")
    flagged = bool((se == 1).any())
    if not flagged or not (se < 0).any():
        # No unrevealed flag (or no SE flag at all, and no ratio): every month is a plain
        # Poisson month of its flag.
        rate = segment_rate[seg]
        if flagged:
            rate = rate * pt.switch(se == 1, params.get("se_use_case_ratio"), 1.0)
        mean = rate * exposure
        return pt.sum(counts * pt.log(mean) - mean)
    ratio = params.get("se_use_case_ratio")
    with params.model:
        share = pm.Beta("se_supported_share", 1.0, 1.0, dims="segment")
    known = se >= 0
    s_k, se_k = seg[known], se[known]
    mean = segment_rate[s_k] * pt.switch(se_k == 1, ratio, 1.0) * exposure[known]
    seen = counts[known] > 0  # a flag's row may have no exposure left (log 0)
    loglik = pt.sum(counts[known][seen] * pt.log(mean[np.flatnonzero(seen)])) - pt.sum(mean)
    revealed = arrivals["revealed"].to_numpy().astype(np.float64)[known]
    log_share = pt.switch(se_k == 1, pt.log(share[s_k]), pt.log1p(-share[s_k]))
    loglik = loglik + pt.sum(revealed * log_share)
    s_u, t_u = seg[~known], exposure[~known]
    n_u = arrivals["accounts"].to_numpy().astype(np.float64)[~known]
    zero_supported = pt.log(share[s_u]) - segment_rate[s_u] * ratio * t_u
    zero_plain = pt.log1p(-share[s_u]) - segment_rate[s_u] * t_u
    return loglik + pt.sum(n_u * pt.logaddexp(zero_supported, zero_plain))


def use_case_windows(panel, settle_months: int) -> dict[str, np.ndarray]:
    """Log-usage changes in the ``settle_months`` months after each new use case starts.

    One window per distinct (account, start month) of a new use case starting in column 1 or
    later (two use cases starting in the same month share a window, as one jump), cut short at
    the account's next new use case.  ``prev_gap`` lists, per window, how many months before it
    each earlier new use case of the account started (a use case in the panel's first column or
    before it counts here, without a window of its own).

    Returns
    -------
    dict of numpy.ndarray
        ``segment`` (n_w,); ``change``, ``tenure``, ``month`` (n_w, W) with ``W = settle_months``;
        ``lag`` (W,) = 0..W-1; ``mask`` (n_w, W) bool: the change is observed and inside the window;
        ``prev_gap`` (n_w, J) float, ``prev_mask`` (n_w, J) bool: the earlier use cases (J >= 1,
        padded with mask False).
    """
    y = panel.log_usage
    n, width = y.shape
    order = np.lexsort((panel.case_col, panel.case_row))
    row_all, col_all = panel.case_row[order], panel.case_col[order]
    # Distinct starts; the next distinct start of the same account cuts a window short.
    distinct = np.ones(len(row_all), dtype=bool)
    distinct[1:] = (row_all[1:] != row_all[:-1]) | (col_all[1:] != col_all[:-1])
    row, col = row_all[distinct], col_all[distinct]
    same_next = np.zeros(len(row), dtype=bool)
    same_next[:-1] = row[1:] == row[:-1]
    stop = np.full(len(row), width, dtype=np.int64)
    stop[:-1] = np.where(same_next[:-1], col[1:], width)
    # Earlier use cases (with multiplicity) of each distinct start: all of the account's cases
    # before it.
    first_of_row = np.searchsorted(row_all, row, side="left")
    n_prev = np.flatnonzero(distinct) - first_of_row
    has = (col >= 1) & (col < width)
    row, col, stop, first_of_row, n_prev = (
        row[has],
        col[has],
        stop[has],
        first_of_row[has],
        n_prev[has],
    )
    lag = np.arange(settle_months)
    cols = col[:, None] + lag[None, :]  # month a + u
    inside = cols < np.minimum(stop, width)[:, None]
    safe = np.minimum(cols, width - 1)
    change = y[row[:, None], safe] - y[row[:, None], safe - 1]
    mask = inside & np.isfinite(change)
    keep = mask.any(axis=1)
    change = np.where(mask, change, 0.0)
    tenure = cols - panel.start[row][:, None]
    n_j = max(int(n_prev.max()) if len(n_prev) else 0, 1)
    j = np.arange(n_j)[None, :]
    prev_mask = j < n_prev[:, None]
    prev_idx = np.where(prev_mask, first_of_row[:, None] + j, 0)
    prev_gap = np.where(prev_mask, col[:, None] - col_all[prev_idx], 0).astype(np.float64)
    return {
        "segment": panel.segment[row][keep],
        "change": change[keep],
        "tenure": np.maximum(tenure[keep], 1),
        "month": (panel.first_month + cols)[keep],
        "lag": lag,
        "mask": mask[keep],
        "prev_gap": prev_gap[keep],
        "prev_mask": prev_mask[keep],
    }


def _size_loglik(params: SharedParameters, w: dict[str, np.ndarray]):
    """Log likelihood of the use-case windows, each size integrated out by quadrature.

    Windows of an account's first new use case (:func:`_first_windows_loglik`) and of later ones
    (:func:`_later_windows_loglik`, which carry the earlier use cases' uplift) are summed.
    """
    later = w["prev_mask"].any(axis=1)
    total = 0.0
    for keep, loglik in ((~later, _first_windows_loglik), (later, _later_windows_loglik)):
        if keep.any():
            part = {k: (v if k == "lag" else v[keep]) for k, v in w.items()}
            total = total + loglik(params, part)
    return total


def _size_nodes(params: SharedParameters):
    """Plateau sizes at the quadrature nodes, (S, K), and their log weights, (K,)."""
    size_mu = params.get("use_case_size_mu")
    size_sigma = params.get("use_case_size_sigma")
    log_size = size_mu[:, None] + np.sqrt(2.0) * size_sigma[:, None] * _HERMITE_X[None, :]
    return pt.exp(log_size), np.log(_HERMITE_W / np.sqrt(np.pi))


def _usage_terms(params: SharedParameters, w: dict[str, np.ndarray]):
    """Drift, season and onboarding terms of each window change, (n_w, W): read from
    :func:`_usage_step_table` (one gather from a small table)."""
    return _usage_step_table(params)[_step_index(w["segment"][:, None], w["month"], w["tenure"])]


def _later_windows_loglik(params: SharedParameters, w: dict[str, np.ndarray]):
    """Windows of later use cases: the jump is relative to ``1 + E`` of the earlier ones.

    Month ``a + u`` of a use case started in ``a`` moves log usage by
    ``log(1 + E(u) + m h(u)) - log(1 + E(u - 1) + m h(u - 1))``, where ``E(u)`` is the uplift of
    the account's earlier use cases, each at its expected size ``exp(mu + sigma^2 / 2)`` and its
    own ramp ``h`` (their realised sizes are latent; the first one's is integrated out in its own
    window).  ``E`` carries on ramping through the window, so an earlier use case still ramping
    when this one starts is not mistaken for drift.  Few windows: computed per (window, node, lag).
    """
    seg = w["segment"]
    scale, nu = params.usage_noise()
    size, log_weight = _size_nodes(params)
    ramp = params.get("use_case_ramp_months")[seg]  # (n_w,)
    mean_size = pt.exp(
        params.get("use_case_size_mu") + 0.5 * params.get("use_case_size_sigma") ** 2
    )[seg]
    lag = w["lag"].astype(np.float64)
    gap = w["prev_gap"][:, :, None] + lag[None, None, :]  # age of each earlier case, (n_w, J, W)
    prev = w["prev_mask"].astype(np.float64)[:, :, None]
    t = ramp[:, None, None]
    uplift = mean_size[:, None] * pt.sum(prev * (1.0 - pt.exp(-(gap + 1.0) / t)), axis=1)
    uplift_before = mean_size[:, None] * pt.sum(prev * (1.0 - pt.exp(-gap / t)), axis=1)
    done = 1.0 - pt.exp(-(lag[None, :] + 1.0) / ramp[:, None])  # (n_w, W)
    done_before = 1.0 - pt.exp(-lag[None, :] / ramp[:, None])
    m = size[seg][:, :, None]  # (n_w, K, 1)
    jump = pt.log1p(uplift[:, None, :] + m * done[:, None, :]) - pt.log1p(
        uplift_before[:, None, :] + m * done_before[:, None, :]
    )  # (n_w, K, W)
    resid = (w["change"] - _usage_terms(params, w))[:, None, :] - jump
    sd = scale[seg][:, None, None]
    if nu is None:
        noise = pm.Normal.dist(mu=0.0, sigma=sd)
    else:
        noise = pm.StudentT.dist(nu=nu, mu=0.0, sigma=sd)
    logp = pt.sum(pm.logp(noise, resid) * w["mask"].astype(np.float64)[:, None, :], axis=2)
    return pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))


def _usage_step_table(params: SharedParameters):
    """Drift, season and onboarding step of a change, per (segment, month of year, tenure):
    ``(S, 12, K + 1)`` flattened, tenure ``k = 1 .. K + 1`` in slot ``k - 1`` (``K + 1`` stands
    for every tenure past the ramp, whose step is 0).  :func:`_step_index` finds a change's slot,
    so the likelihood gathers one value per change from a small table."""
    log_ramp = params.log_ramp_table(RAMP_FIT_MONTHS)  # (S, K + 1)
    drift = params.get("usage_drift")
    season = params.season()
    month_step = season - pt.roll(season, 1, axis=1)  # season[m] - season[m - 1]
    ramp = pt.concatenate([log_ramp, pt.zeros((log_ramp.shape[0], 1))], axis=1)
    ramp_step = ramp[:, 1:] - ramp[:, :-1]  # (S, K + 1)
    table = drift[:, None, None] + month_step[:, :, None] + ramp_step[:, None, :]
    return table.reshape((-1,))


def _step_index(segment: np.ndarray, month: np.ndarray, tenure: np.ndarray) -> np.ndarray:
    """Slot of :func:`_usage_step_table` of changes of ``segment`` in ``month`` at ``tenure``."""
    width = RAMP_FIT_MONTHS + 1
    slot = np.minimum(np.maximum(tenure, 1), width) - 1
    return (segment * 12 + month % 12) * width + slot


def _first_windows_loglik(params: SharedParameters, w: dict[str, np.ndarray]):
    """Windows of an account's first new use case (no earlier uplift).

    The jump of a use case depends on its window only through (segment, node, lag), so it is
    computed on that small (S, K, W) table, and the usage terms of a change through (segment,
    month of year, tenure) (:func:`_usage_step_table`).  With normal noise the window's log
    density at node ``k`` needs ``sum m x^2``, ``sum m x J_k`` and ``sum m J_k^2`` (``x`` =
    change minus the usage terms, ``m`` = mask): two small matrix products per segment instead of
    transcendental functions over every (window, node, lag).  With Student-t noise (``robust``)
    the densities are evaluated on the observed (window, lag) pairs only.
    """
    seg = w["segment"]
    scale, nu = params.usage_noise()
    n_seg = len(params.model.coords["segment"])
    # Variables are created in the order of the first-written form (size, then ramp): the
    # sampler's parameter vector, hence a seeded fit, is unchanged.
    size_nodes, log_weight = _size_nodes(params)
    ramp = params.get("use_case_ramp_months")
    size = size_nodes[:, :, None]  # (S, K, 1)
    lag = w["lag"].astype(np.float64)
    done = 1.0 - pt.exp(-(lag[None, :] + 1.0) / ramp[:, None])  # (S, W)
    done_before = 1.0 - pt.exp(-lag[None, :] / ramp[:, None])
    jump = pt.log1p(size * done[:, None, :]) - pt.log1p(size * done_before[:, None, :])  # (S,K,W)
    steps = _usage_step_table(params)
    mask = w["mask"]
    index = _step_index(seg[:, None], w["month"], w["tenure"])  # (n_w, W)
    if nu is not None:
        n_nodes = len(log_weight)
        window, lag_at = np.nonzero(mask)
        s_at = seg[window]
        resid = w["change"][window, lag_at] - steps[index[window, lag_at]]  # (n_obs,)
        jump_at = jump.transpose(0, 2, 1).reshape((-1, n_nodes))[s_at * len(lag) + lag_at]
        noise = pm.StudentT.dist(nu=nu, mu=0.0, sigma=scale[s_at][:, None])
        logp = pm.logp(noise, resid[:, None] - jump_at)  # (n_obs, K)
        logp = pt.zeros((len(seg), n_nodes))[window].inc(logp)  # (n_w, K)
        return pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))
    total = 0.0
    for s in range(n_seg):
        rows = np.flatnonzero(seg == s)
        if not len(rows):
            continue
        m = mask[rows].astype(np.float64)
        x = w["change"][rows] * m - steps[np.where(mask[rows], index[rows], 0)] * m
        sum_sq = pt.sum(x * x, axis=1)[:, None]
        cross = pt.dot(x, jump[s].T)  # (n_s, K)
        jump_sq = pt.dot(m, (jump[s] ** 2).T)
        var = scale[s] ** 2
        logp = -0.5 * (sum_sq - 2.0 * cross + jump_sq) / var - m.sum(axis=1)[:, None] * (
            pt.log(scale[s]) + 0.5 * np.log(2.0 * np.pi)
        )
        total = total + pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))
    return total
