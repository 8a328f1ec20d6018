"""Churn: discrete-time shifted-beta-geometric (sBG) lifetimes, per segment, right-censored.

Account ``i`` of segment ``s`` churns at each month boundary after its start with probability
``theta_i * c_i * h_it`` where ``theta_i ~ Beta(churn_alpha_s, churn_beta_s)``, ``c_i`` is
``csm_hazard_ratio`` for CSM-covered accounts (else 1) and ``h_it`` is
``usage_decline_hazard_ratio`` at boundaries where log usage fell by more than
``decline_threshold`` over the three months before (else 1), times
``anniversary_hazard_ratio_s`` at the account's contract anniversaries (else 1).  Observed periods follow the data
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
as cheap as the exact form (a 121-point quadrature over theta is 300x slower to sample and
prone to divergences).  The Beta-function ratios are evaluated with
:func:`lgamma_ratio`, stable for large arguments: the plain ``gammaln(b + e) - gammaln(b)``
loses all precision at ``b ~ 1e11`` (``gammaln`` ~ 3e12, float64 keeps ~1e-3 of it), which made
the log density noisy out there and let a chain wander off to ``churn_beta`` ~ 4e11 and stay.

**Left truncation.**  An account that started before the observation window
(``book.window_start``) and was still a customer in it is in the table *because* it survived
``entry`` boundaries: its likelihood is conditioned on that, ``S(t) / S(entry)`` for a censored
account and ``P(T = t) / S(entry)`` for a churn (exact for the sBG; ``S`` of the effective
exposure with covariates).  Dropping the division biases mean churn down on survivors-only
exports, because the long tenures of the survivors are low-theta accounts.  The window depends on
the export's shape (:attr:`~simengine.data.Book.export_shape`): a full export (accounts that churned
before the first usage month are listed, without usage rows) is seen from its first start month and
truncates nobody; conditioning its survivors as well would count the pre-window months twice (the
survivors conditioned on them, the early churners as complete lifetimes) and bias churn up.

**Failed onboarding.**  ``churn_month == start_month`` (never a customer past the start month) is
a separate event with probability ``onboarding_failure_s`` per account that starts inside the
window; the others enter the sBG.  The simulation applies it to new logos.

**Parameterisation.**  ``churn_alpha = m * kappa``, ``churn_beta = (1 - m) * kappa`` with
``logit m`` hierarchical with a learned segment scale and ``log kappa`` per segment (priors in
:data:`simengine.fitting.base.PRIORS`): the posterior of ``kappa`` follows the data where they
inform it and its prior where they do not, instead of a ridge to infinity in (alpha, beta).

**Contract anniversaries.**  A boundary 12, 24, ... months after the account's contract start
(``contract_start_month``, else ``start_month``: :mod:`simengine.bookstats.churn_rules`) carries
the per-segment ``anniversary_hazard_ratio``; where annual renewals do not drive churn it comes
out near 1.  With both covariates a survived boundary adds ``h_d^d h_a^a`` to the effective
exposure, counted from the four kinds of boundaries (neither, declining, anniversary, both).
Anniversaries before the window are known from the dates alone, so the left-truncation term
carries them too.

**Usage-decline covariate.**  Which boundaries are declining is
:func:`simengine.bookstats.declining_at` (the rule and its parameters live in
:mod:`simengine.bookstats.churn_rules`, the one definition the simulation reads too); the fit
records the parameters it used in the posterior's attrs (:meth:`ChurnModel.rules`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simengine.bookstats import ChurnRules, anniversary_anchor, declining_at, is_anniversary
from simengine.bookstats.panel import segment_index
from simengine.data import Book, observed_lifetimes
from simengine.fitting._lazy import pm, pt
from simengine.fitting.base import BookModel, SharedParameters

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
    use_anniversary : bool, default True
        Estimate ``anniversary_hazard_ratio`` per segment (when the book has anniversaries).
    decline_threshold : float, default ``ChurnRules().decline_threshold``
        Log ratio of the two quarters below which a boundary counts as "declining"
        (:class:`simengine.bookstats.ChurnRules`).
    """

    name = "churn"

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        return {
            "use_coverage": True,
            "use_usage_trend": True,
            "use_anniversary": True,
            "decline_threshold": ChurnRules().decline_threshold,
        }

    @classmethod
    def rules(cls, model_config: dict[str, Any] | None = None) -> ChurnRules:
        """The rule parameters a fit with ``model_config`` (overrides of the defaults) uses: what
        the posterior records, so the simulation applies the same rules."""
        config = cls.default_model_config() | dict(model_config or {})
        return ChurnRules(decline_threshold=float(config["decline_threshold"]))

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:
        return churn_cells(
            book,
            use_coverage=self.model_config["use_coverage"],
            use_usage_trend=self.model_config["use_usage_trend"],
            decline_threshold=self.model_config["decline_threshold"],
            use_anniversary=self.model_config["use_anniversary"],
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
        anniversary_hr = params.get("anniversary_hazard_ratio") if data["has_anniversary"] else None
        loglik = sbg_log_likelihood(alpha, beta, cells, csm_hr, decline_hr, anniversary_hr)
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
    decline_threshold: float | None = None,
    use_anniversary: bool = True,
) -> dict[str, Any]:
    """Aggregate observed lifetimes to counts of identical likelihood cells.

    Parameters
    ----------
    book : Book
    use_coverage, use_usage_trend : bool
        Whether to carry the CSM flag / count declining-usage boundaries (each only if the book has
        the column / usage rows).
    decline_threshold : float, optional
        See :class:`ChurnModel`; default ``ChurnRules().decline_threshold``.
    use_anniversary : bool
        Whether to count contract-anniversary boundaries.

    Returns
    -------
    dict
        ``cells``: DataFrame with int64 columns ``segment`` (index into ``book.segments``),
        ``periods`` (boundaries observed, >= 1), ``churned`` (0/1), ``entry`` (boundaries survived
        before the window, conditioned on), ``csm`` (0/1), ``declining`` (survived boundaries in
        the window that were declining), ``last_declining`` (0/1: the churn boundary was
        declining), ``anniversary`` / ``last_anniversary`` (the same for contract anniversaries),
        ``both`` (survived in-window boundaries that were declining and an anniversary),
        ``entry_anniversary`` (anniversaries among the ``entry`` boundaries), ``count``;
        ``has_coverage``, ``has_trend``, ``has_anniversary`` (bool); ``onboarding``: per
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
    if decline_threshold is None:
        decline_threshold = ChurnRules().decline_threshold
    both = np.zeros(len(periods), dtype=np.int64)
    if has_trend:
        decline_at, first = declining_at(book, decline_threshold)
        declining, last_declining = _window_counts(decline_at, first, book, periods, churned, entry)
        has_trend = bool(declining.any() or last_declining.any())
    anniversary, last_anniversary, entry_anniversary = _anniversary_boundaries(
        book, periods, churned, entry
    )
    has_anniversary = bool(use_anniversary and (anniversary.any() or last_anniversary.any()))
    if not has_anniversary:
        anniversary[:] = last_anniversary[:] = entry_anniversary[:] = 0
    elif has_trend:
        anchor = anniversary_anchor(book.accounts)
        month = first + np.arange(decline_at.shape[1])
        both_at = decline_at & is_anniversary(month[None, :], anchor[:, None])
        both, _ = _window_counts(both_at, first, book, periods, churned, entry)
    frame = pd.DataFrame(
        {
            "segment": segment,
            "periods": periods,
            "churned": churned.astype(np.int64),
            "entry": entry,
            "csm": csm.astype(np.int64),
            "declining": declining,
            "last_declining": last_declining,
            "anniversary": anniversary,
            "last_anniversary": last_anniversary,
            "entry_anniversary": entry_anniversary,
            "both": both,
        }
    )[keep]
    cells = frame.groupby(list(frame.columns), sort=True).size().rename("count").reset_index()
    return {
        "cells": cells.astype(np.int64),
        "has_coverage": has_coverage,
        "has_trend": has_trend,
        "has_anniversary": has_anniversary,
        "onboarding": onboarding,
    }


def _window_counts(
    flags: np.ndarray,
    first: int,
    book: Book,
    periods: np.ndarray,
    churned: np.ndarray,
    entry: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per account: survived in-window boundaries flagged in ``flags`` (n_accounts, width; column
    ``c`` the boundary into month ``first + c``, :func:`declining_at`'s layout), and whether the
    churn boundary was flagged."""
    n, width = flags.shape
    cumulative = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(flags, axis=1)], axis=1)
    start = book.accounts["start_month"].to_numpy(np.int64) - first
    survived = periods - churned.astype(np.int64)  # boundaries start+1 .. start+survived
    lo = np.clip(start + entry + 1, 0, width)
    hi = np.clip(start + survived + 1, 0, width)
    row = np.arange(n)
    counted = np.maximum(cumulative[row, hi] - cumulative[row, lo], 0)
    churn_col = start + periods
    valid = churned & (churn_col >= 0) & (churn_col < width)
    last = np.zeros(n, dtype=np.int64)
    last[valid] = flags[row[valid], churn_col[valid]]
    return counted.astype(np.int64), last


def _anniversary_boundaries(
    book: Book, periods: np.ndarray, churned: np.ndarray, entry: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per account: anniversaries among the survived in-window boundaries, whether the churn
    boundary was one, and anniversaries among the ``entry`` boundaries before the window."""
    anchor = anniversary_anchor(book.accounts)
    start = book.accounts["start_month"].to_numpy(np.int64)
    term = ChurnRules().anniversary_months

    def up_to(month):  # anniversaries at boundaries <= month (they fall at anchor + term k, k >= 1)
        return np.maximum((month - anchor) // term, 0)

    survived = periods - churned.astype(np.int64)
    window = up_to(start + survived) - up_to(start + entry)
    before = up_to(start + entry) - up_to(start)
    last = (churned & is_anniversary(start + periods, anchor, term)).astype(np.int64)
    return window.astype(np.int64), last, before.astype(np.int64)


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


def sbg_log_likelihood(
    alpha, beta, cells: pd.DataFrame, csm_hr=None, decline_hr=None, anniversary_hr=None
):
    """Total log likelihood of churn cells under the (covariate-extended) sBG.

    Parameters
    ----------
    alpha, beta : tensor, shape (n_segments,)
        Beta heterogeneity of the monthly churn probability per segment.
    cells : pandas.DataFrame
        From :func:`churn_cells`.
    csm_hr, decline_hr : tensor scalar, optional
        Hazard ratios; ``None`` leaves that covariate out.
    anniversary_hr : tensor, shape (n_segments,), optional
        Hazard ratio at a contract anniversary per segment; ``None`` leaves it out.

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
    if csm_hr is not None or decline_hr is not None or anniversary_hr is not None:
        plain = (cells["csm"].to_numpy() == 0) & (_column(cells, "declining") == 0)
        plain &= _column(cells, "last_declining") == 0
        if anniversary_hr is not None:
            for name in ("anniversary", "last_anniversary", "entry_anniversary"):
                plain &= _column(cells, name) == 0
        covariate = _covariate_log_likelihood(
            alpha, beta, cells, csm_hr, decline_hr, anniversary_hr
        )
        exact = pt.switch(plain, exact, covariate)
    return pt.sum(count * exact)


def _column(cells: pd.DataFrame, name: str) -> np.ndarray:
    """``cells[name]`` as float64, zeros where the cells do not carry that count."""
    if name in cells.columns:
        return cells[name].to_numpy().astype(np.float64)
    return np.zeros(len(cells))


def _covariate_log_likelihood(alpha, beta, cells, csm_hr, decline_hr, anniversary_hr=None):
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
    g = 1.0 if anniversary_hr is None else anniversary_hr[seg]
    anniv = _column(cells, "anniversary")
    both = _column(cells, "both")
    last_anniv = _column(cells, "last_anniversary")
    entry_anniv = _column(cells, "entry_anniversary")
    # (1 - c theta)^n ~ (1 - theta)^(c n): survival over "effective" base-hazard boundaries;
    # a boundary counts h^declining g^anniversary of them (the anniversaries before the window
    # too: survival from the start, divided below by survival to the window).
    exposure = c * (
        survived
        + (h - 1.0) * declining
        + (g - 1.0) * (anniv + entry_anniv)
        + (h - 1.0) * (g - 1.0) * both
    )
    a, b = alpha[seg], beta[seg]
    # log B(a, b + e) - log B(a, b) = [lgamma(b) - lgamma(a + b)] - [lgamma(b + e) - lgamma(a +
    # b + e)]: grouped by shift a (small) rather than by shift e, so nothing of size e log e
    # cancels.  Grouped by e, the two ~e log e terms cancel in float64 once e passes ~1e15 (a
    # hazard ratio ~1e18): the likelihood went flat and its value jumped there, a spurious
    # corner where a NUTS chain got stuck with step size ~1e-7.
    log_surv = lgamma_ratio(b, a) - lgamma_ratio(b + exposure, a)
    # log B(a + 1, b + e) - log B(a, b) = log S(e) + log(a / (a + b + e))
    log_churn = log_surv + pt.log(a / (a + b + exposure)) + pt.log(c) + last_decl * pt.log(h)
    if anniversary_hr is not None:
        log_churn = log_churn + last_anniv * pt.log(g)
    # Left truncation: the pre-window boundaries carry the CSM ratio and their anniversaries, no
    # decline (no usage there).
    pre = c * (entry + (g - 1.0) * entry_anniv)
    log_entry = lgamma_ratio(b, a) - lgamma_ratio(b + pre, a)
    return pt.switch(churned > 0, log_churn, log_surv) - log_entry
