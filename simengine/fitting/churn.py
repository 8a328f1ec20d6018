"""Churn: discrete-time shifted-beta-geometric (sBG) lifetimes, per segment, right-censored.

Account ``i`` of segment ``s`` churns at each month boundary after its start with probability
``theta_i * c_i * h_it`` where ``theta_i ~ Beta(churn_alpha_s, churn_beta_s)``, ``c_i`` is
``csm_hazard_ratio`` for CSM-covered accounts (else 1) and ``h_it`` is
``usage_decline_hazard_ratio`` at boundaries where log usage fell by more than
``decline_threshold`` over the three months before (else 1).  Observed periods follow the data
contract: ``churn_month - start_month`` boundaries for a churned account (the last one a churn),
``as_of - start_month`` survived boundaries for an active one (censored).

**With the four required columns only** (no coverage flags, no usage) the likelihood is exactly the
sBG of Fader & Hardie, marginal over ``theta``::

    P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta)
    S(t)     = B(alpha, beta + t) / B(alpha, beta)

evaluated as the stable products ``S(t) = prod_{j<t} (beta + j) / (alpha + beta + j)`` and
``P(T = t) = S(t - 1) * alpha / (alpha + beta + t - 1)`` (a difference of ``betaln`` loses all
precision when ``beta`` is large and traps NUTS chains there).  Accounts are aggregated to counts of
identical ``(segment, periods, churned)`` cells, so the cost does not grow with the book.

**With covariates** the marginal over ``theta`` has no closed form.  Accounts that are uncovered and
never declining keep the exact terms above.  For the others, survival through ``n`` boundaries at
hazard ``c * theta`` is taken to first order in ``theta`` as survival through ``c * n`` base-hazard
boundaries, ``(1 - c theta)^n ~ (1 - theta)^(c n)``, whose Beta mixture is still a Beta-function
ratio (real-valued periods): ``S = B(alpha, beta + e) / B(alpha, beta)`` with effective exposure
``e = c * (plain + h * declining)``, and the churn boundary contributes
``c h^last * B(alpha + 1, beta + e) / B(alpha, beta)``.  The log-likelihood error per account is
about ``n c (1 - c) theta^2 / 2`` (4e-4 for 36 months, c = 0.7, theta = 1%): negligible, smooth and
as cheap as the exact form (a 121-point quadrature over theta was tried first: 300x slower to
sample and prone to divergences).  The Beta-function ratios are evaluated with
:func:`lgamma_ratio`, stable for large arguments: the plain ``gammaln(b + e) - gammaln(b)``
loses all precision at ``b ~ 1e11`` (``gammaln`` ~ 3e12, float64 keeps ~1e-3 of it), which made
the log density noisy out there and let a chain wander off to ``churn_beta`` ~ 4e11 and stay.

**Left truncation.**  An account that started before the observation window
(``book.window_start``) and was still a customer in it is in the table *because* it survived
``entry`` boundaries: its likelihood is conditioned on that, ``S(t) / S(entry)`` for a censored
account and ``P(T = t) / S(entry)`` for a churn (exact for the sBG; ``S`` of the effective
exposure with covariates).  Dropping the division biases mean churn down on survivors-only
exports, because the long tenures of the survivors are low-theta accounts.

**Failed onboarding.**  ``churn_month == start_month`` (never a customer past the start month) is
a separate event with probability ``onboarding_failure_s`` per account that starts inside the
window; the others enter the sBG.  The simulation applies it to new logos.

**Parameterisation.**  ``churn_alpha = m * kappa``, ``churn_beta = (1 - m) * kappa`` with
``logit m`` hierarchical with a learned segment scale and ``log kappa`` per segment (priors in
:data:`simengine.fitting.base.PRIORS`): the posterior of ``kappa`` follows the data where they
inform it and its prior where they do not, instead of a ridge to infinity in (alpha, beta).

**Usage-decline covariate** (the definition the simulation uses too).  ``u[m]`` is an account's
usage in month ``m``, 0 for a month without a row or with usage 0 while it is a customer.  The
boundary into month ``b`` (churn decision after month ``b - 1``) is *declining* when

    Q1 = u[b-4] + u[b-3] + u[b-2]  <  exp(decline_threshold) * Q0,   Q0 = u[b-7] + u[b-6] + u[b-5]

with ``Q0 > 0`` and all six months at or after the account's start and the first usage month.
Month ``b - 1`` is left out (a lag of one month): the last month before a churn is often partial
and would put the effect before its cause.  Zeros count as the drop they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simengine.data import Book, observed_lifetimes
from simengine.fitting._lazy import pm, pt
from simengine.fitting.base import BookModel, SharedParameters, segment_index

__all__ = [
    "ChurnModel",
    "churn_cells",
    "declining_at",
    "lgamma_ratio",
    "sbg_log_likelihood",
]


class ChurnModel(BookModel):
    """Hierarchical sBG churn with optional CSM and usage-decline hazard ratios.

    Model config
    ------------
    use_coverage : bool, default True
        Estimate ``csm_hazard_ratio`` when the accounts table has ``csm_covered``.
    use_usage_trend : bool, default True
        Estimate ``usage_decline_hazard_ratio`` when usage is present.
    decline_threshold : float, default -0.20
        Log ratio of the two quarters below which a boundary counts as "declining" (module doc;
        -0.20: a fall of ~18% quarter on quarter, ~2 SD of the quarter ratio at 6%/month noise).
    """

    name = "churn"

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        return {"use_coverage": True, "use_usage_trend": True, "decline_threshold": -0.20}

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:
        return churn_cells(
            book,
            use_coverage=self.model_config["use_coverage"],
            use_usage_trend=self.model_config["use_usage_trend"],
            decline_threshold=self.model_config["decline_threshold"],
        )

    def add_to_model(self, params: SharedParameters, data: dict[str, Any]) -> None:
        model = params.model
        logit_mean = params.get("churn_logit_mean")
        concentration = pt.exp(params.get("churn_log_concentration"))
        mean = pm.math.sigmoid(logit_mean)
        with model:
            alpha = pm.Deterministic("churn_alpha", mean * concentration, dims="segment")
            beta = pm.Deterministic("churn_beta", (1.0 - mean) * concentration, dims="segment")
        cells = data["cells"]
        csm_hr = params.get("csm_hazard_ratio") if data["has_coverage"] else None
        decline_hr = params.get("usage_decline_hazard_ratio") if data["has_trend"] else None
        loglik = sbg_log_likelihood(alpha, beta, cells, csm_hr, decline_hr)
        failure = params.get("onboarding_failure")
        onboard = data["onboarding"]
        onboard_loglik = pt.sum(
            onboard["failed"] * pt.log(failure)
            + (onboard["entered"] - onboard["failed"]) * pt.log1p(-failure)
        )
        with model:
            pm.Potential("churn_loglik", loglik)
            pm.Potential("onboarding_failure_loglik", onboard_loglik)

    def observed_summary(self, data: dict[str, Any], segments: tuple[str, ...]) -> dict:
        cells = data["cells"]
        n = len(segments)
        w = cells["count"].to_numpy()
        seg = cells["segment"].to_numpy()
        return {
            "churn_accounts": ("segment", np.bincount(seg, weights=w, minlength=n)),
            "churn_events": (
                "segment",
                np.bincount(seg, weights=w * cells["churned"], minlength=n),
            ),
            "churn_periods": (
                "segment",
                np.bincount(seg, weights=w * (cells["periods"] - cells["entry"]), minlength=n),
            ),
            "churn_truncated_accounts": (
                "segment",
                np.bincount(seg, weights=w * (cells["entry"] > 0), minlength=n),
            ),
            "onboarding_failures": ("segment", data["onboarding"]["failed"]),
            "onboarding_starts": ("segment", data["onboarding"]["entered"]),
        }


def churn_cells(
    book: Book,
    use_coverage: bool = True,
    use_usage_trend: bool = True,
    decline_threshold: float = -0.20,
) -> dict[str, Any]:
    """Aggregate observed lifetimes to counts of identical likelihood cells.

    Parameters
    ----------
    book : Book
    use_coverage, use_usage_trend : bool
        Whether to carry the CSM flag / count declining-usage boundaries (each only if the book has
        the column / usage rows).
    decline_threshold : float
        See :class:`ChurnModel`.

    Returns
    -------
    dict
        ``cells``: DataFrame with int64 columns ``segment`` (index into ``book.segments``),
        ``periods`` (boundaries observed, >= 1), ``churned`` (0/1), ``entry`` (boundaries survived
        before the window, conditioned on), ``csm`` (0/1), ``declining`` (survived boundaries in
        the window that were declining), ``last_declining`` (0/1: the churn boundary was
        declining), ``count``; ``has_coverage``, ``has_trend`` (bool); ``onboarding``: per
        segment ``failed`` (same-month churns) and ``entered`` (accounts that started inside the
        window), float64 arrays.
    """
    life = observed_lifetimes(book)
    periods = life["periods"].to_numpy(dtype=np.int64)
    churned = life["churned"].to_numpy(dtype=bool)
    entry = life["entry"].to_numpy(dtype=np.int64)
    segment = segment_index(life["segment"], book.segments)
    n_seg = len(book.segments)
    # Failed onboarding: a separate event for accounts seen from their start.
    entered = entry == 0
    entered &= book.accounts["start_month"].to_numpy(np.int64) >= book.window_start
    failed = entered & churned & (periods == 0)
    onboarding = {
        "failed": np.bincount(segment[failed], minlength=n_seg).astype(np.float64),
        "entered": np.bincount(segment[entered], minlength=n_seg).astype(np.float64),
    }
    # An account that started in the as_of month has no boundary yet; a failed onboarding is not
    # an sBG lifetime.
    keep = periods >= 1
    has_coverage = bool(use_coverage and "csm_covered" in book.accounts.columns)
    csm = (
        book.accounts["csm_covered"].to_numpy(dtype=bool)
        if has_coverage
        else np.zeros(len(periods), dtype=bool)
    )
    has_trend = bool(use_usage_trend and len(book.usage) > 0)
    declining = np.zeros(len(periods), dtype=np.int64)
    last_declining = np.zeros(len(periods), dtype=np.int64)
    if has_trend:
        declining, last_declining = _declining_boundaries(
            book, periods, churned, entry, decline_threshold
        )
        has_trend = bool(declining.any() or last_declining.any())
    frame = pd.DataFrame(
        {
            "segment": segment,
            "periods": periods,
            "churned": churned.astype(np.int64),
            "entry": entry,
            "csm": csm.astype(np.int64),
            "declining": declining,
            "last_declining": last_declining,
        }
    )[keep]
    cells = frame.groupby(list(frame.columns), sort=True).size().rename("count").reset_index()
    return {
        "cells": cells.astype(np.int64),
        "has_coverage": has_coverage,
        "has_trend": has_trend,
        "onboarding": onboarding,
    }


def declining_at(book: Book, threshold: float) -> tuple[np.ndarray, int]:
    """``decline[i, c]``: the boundary into month ``first + c`` is declining for account ``i``.

    The definition is in the module docstring (quarter on quarter, lagged one month, zeros
    counted).  Returns the (n_accounts, width) boolean array in ``book.accounts`` order and
    ``first``, the month number of column 0 (the first usage month).
    """
    accounts = book.accounts
    ids = accounts["account_id"].to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    usage = book.usage
    first = int(usage["month"].min())
    width = int(book.as_of - first + 2)
    u = np.zeros((len(ids), width + 1))
    rows = position.loc[usage["account_id"].to_numpy()].to_numpy()
    cols = usage["month"].to_numpy(np.int64) - first
    u[rows, cols] = np.maximum(usage["usage"].to_numpy(), 0.0)
    # Quarter sums ending at column c: q[c] = u[c-2] + u[c-1] + u[c].
    csum = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(u, axis=1)], axis=1)
    start = accounts["start_month"].to_numpy(np.int64) - first
    decline = np.zeros((len(ids), width), dtype=bool)
    b = np.arange(7, width)
    q1 = csum[:, b - 1] - csum[:, b - 4]  # u[b-4] + u[b-3] + u[b-2]
    q0 = csum[:, b - 4] - csum[:, b - 7]  # u[b-7] + u[b-6] + u[b-5]
    covered = (b - 7)[None, :] >= np.maximum(start, 0)[:, None]
    decline[:, b] = covered & (q0 > 0) & (q1 < np.exp(threshold) * q0)
    return decline, first


def _declining_boundaries(
    book: Book, periods: np.ndarray, churned: np.ndarray, entry: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per account: survived in-window boundaries that were declining (:func:`declining_at`), and
    whether the churn boundary was."""
    accounts = book.accounts
    decline_at, first = declining_at(book, threshold)
    n, width = decline_at.shape
    cumulative = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(decline_at, axis=1)], axis=1)
    start = accounts["start_month"].to_numpy(np.int64) - first
    survived = periods - churned.astype(np.int64)  # boundaries start+1 .. start+survived
    lo = np.clip(start + entry + 1, 0, width)
    hi = np.clip(start + survived + 1, 0, width)
    row = np.arange(n)
    declining = np.maximum(cumulative[row, hi] - cumulative[row, lo], 0)
    churn_col = start + periods
    valid = churned & (churn_col >= 0) & (churn_col < width)
    last = np.zeros(n, dtype=np.int64)
    last[valid] = decline_at[row[valid], churn_col[valid]]
    return declining.astype(np.int64), last


def lgamma_ratio(x, a):
    """``gammaln(x + a) - gammaln(x)`` for ``x > 0``, ``a >= 0``, stable for large ``x``.

    For ``x >= 10`` the Stirling series is rearranged so nothing of size ``x log x`` cancels:
    ``(x - 1/2) log1p(a / x) + a log(x + a) - a + (1/12)(1/(x+a) - 1/x) - (1/360)(1/(x+a)^3 -
    1/x^3)`` (truncation error < 1e-9 there); below, the direct difference is exact enough.
    """
    big = x >= 10.0
    xs = pt.switch(big, x, 10.0)  # keep the untaken branch finite (and its gradient)
    xa = xs + a
    stirling = (
        (xs - 0.5) * pt.log1p(a / xs)
        + a * pt.log(xa)
        - a
        + (1.0 / xa - 1.0 / xs) / 12.0
        - (1.0 / xa**3 - 1.0 / xs**3) / 360.0
    )
    xd = pt.switch(big, 1.0, x)
    direct = pt.gammaln(xd + a) - pt.gammaln(xd)
    return pt.switch(big, stirling, direct)


def sbg_log_likelihood(alpha, beta, cells: pd.DataFrame, csm_hr=None, decline_hr=None):
    """Total log likelihood of churn cells under the (covariate-extended) sBG.

    Parameters
    ----------
    alpha, beta : tensor, shape (n_segments,)
        Beta heterogeneity of the monthly churn probability per segment.
    cells : pandas.DataFrame
        From :func:`churn_cells`.
    csm_hr, decline_hr : tensor scalar, optional
        Hazard ratios; ``None`` leaves that covariate out.

    Returns
    -------
    tensor scalar
    """
    seg = cells["segment"].to_numpy()
    periods = cells["periods"].to_numpy()
    churned = cells["churned"].to_numpy().astype(bool)
    count = cells["count"].to_numpy().astype(np.float64)
    max_t = int(periods.max())
    steps = np.arange(max_t, dtype=np.float64)
    total = (alpha + beta)[:, None] + steps[None, :]  # (S, max_t)
    log_surv = pt.concatenate(
        [pt.zeros((alpha.shape[0], 1)), pt.cumsum(pt.log1p(-alpha[:, None] / total), axis=1)],
        axis=1,
    )  # (S, max_t + 1): log S(t)
    log_churn = log_surv[seg, periods - 1] + pt.log(
        alpha[seg] / (alpha[seg] + beta[seg] + periods - 1.0)
    )
    entry = cells["entry"].to_numpy() if "entry" in cells.columns else np.zeros_like(periods)
    # Left truncation: condition on surviving the boundaries before the window.
    exact = pt.switch(churned, log_churn, log_surv[seg, periods]) - log_surv[seg, entry]
    if csm_hr is not None or decline_hr is not None:
        plain = (
            (cells["csm"].to_numpy() == 0)
            & (cells["declining"].to_numpy() == 0)
            & (cells["last_declining"].to_numpy() == 0)
        )
        exact = pt.switch(
            plain, exact, _covariate_log_likelihood(alpha, beta, cells, csm_hr, decline_hr)
        )
    return pt.sum(count * exact)


def _covariate_log_likelihood(alpha, beta, cells, csm_hr, decline_hr):
    """Per-cell log likelihood with hazard ratios, to first order in theta (see module doc)."""
    seg = cells["segment"].to_numpy()
    churned = cells["churned"].to_numpy().astype(np.float64)
    survived = cells["periods"].to_numpy() - churned
    declining = cells["declining"].to_numpy().astype(np.float64)
    last_decl = cells["last_declining"].to_numpy().astype(np.float64)
    csm = cells["csm"].to_numpy().astype(np.float64)
    c = 1.0 if csm_hr is None else 1.0 + csm * (csm_hr - 1.0)
    h = 1.0 if decline_hr is None else decline_hr
    entry = (
        cells["entry"].to_numpy().astype(np.float64)
        if "entry" in cells.columns
        else np.zeros(len(cells))
    )
    # (1 - c theta)^n ~ (1 - theta)^(c n): survival over "effective" base-hazard boundaries
    exposure = c * (survived - declining + h * declining)
    a, b = alpha[seg], beta[seg]
    # log B(a, b + e) - log B(a, b) = [lgamma(b) - lgamma(a + b)] - [lgamma(b + e) - lgamma(a +
    # b + e)]: grouped by shift a (small) rather than by shift e, so nothing of size e log e
    # cancels.  Grouped by e, the two ~e log e terms cancel in float64 once e passes ~1e15 (a
    # hazard ratio ~1e18): the likelihood went flat and its value jumped there, a spurious
    # corner where a NUTS chain got stuck with step size ~1e-7 (issue 22).
    log_surv = lgamma_ratio(b, a) - lgamma_ratio(b + exposure, a)
    # log B(a + 1, b + e) - log B(a, b) = log S(e) + log(a / (a + b + e))
    log_churn = log_surv + pt.log(a / (a + b + exposure)) + pt.log(c) + last_decl * pt.log(h)
    # Left truncation: the pre-window boundaries carry the CSM ratio, no decline (no usage there).
    pre = c * entry
    log_entry = lgamma_ratio(b, a) - lgamma_ratio(b + pre, a)
    return pt.switch(churned > 0, log_churn, log_surv) - log_entry
