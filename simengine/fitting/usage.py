"""Usage: log-usage growth with segment drift, account effects, robust volatility, seasonality and
the onboarding ramp.

What is fitted, and from which data
-----------------------------------
* **Month-on-month changes** ``d = log U[t] - log U[t-1]`` of every account-month after the start
  month, except months within ``settle_months`` after a new use case started ("ramping": the
  expansion model reads those).  Given the use-case term is flat, the generative model says
  exactly ``d = usage_drift_s + b_i + Δ log season_s(t) + Δ log ramp(k) + sigma_s eps``,
  ``b_i ~ N(0, account_sd_s)``.  By default ``eps`` is normal and ``b_i`` is integrated out
  exactly from per-account sums (no latent variable per account), and the likelihood is computed
  from sufficient statistics (:func:`~simengine.bookstats.changes.change_statistics`) summed
  once more into quadratic forms in each segment's drift, season and onboarding table
  (:func:`~simengine.bookstats.changes.change_quadratic_forms`).  Nothing runs per account,
  cell or account-month while sampling, so a gradient's cost does not grow with the book.
  With ``robust=True`` the noise is Student-t (scale ``usage_noise_scale_s``, ``usage_tail_nu``
  degrees of freedom; a few wild months bend the estimates far less) with a non-centred latent
  ``b_i``; ``usage_volatility`` is then the noise SD, and the kernel draws the normal mixture
  closest to t(``usage_tail_nu``) (:func:`simengine.bookstats.tails.mixture_from_student_t`)
  scaled to it.  The onboarding ramp enters through ``Δ log ramp(k) = ramp_increment_s[k]`` at
  tenures 1 .. 12 and 0 after (:meth:`SharedParameters.log_ramp_table`): a monotone curve with a free step per month of the
  first year (month 1 vs 3 vs 6, the day-30/90/180 checkpoints), so a logistic or exponential
  onboarding alike is the ramp's, and the drift is what accounts past their first year do.
* **First-month level**: ``log U[start] - log season - log ramp(0)``
  ``~ Normal(initial_log_usage_mu_s,
  initial_log_usage_sd_s)`` for accounts whose start month is in the data.

Zero and near-zero months (the hurdle)
--------------------------------------
Usage is two-part: each active month is *skipped* (no usage, usage 0, or a dip far below both
neighbouring months; rule and reasons in :mod:`simengine.bookstats.panel`) with probability
``zero_month_prob_s`` (binomial likelihood from per-segment counts), and otherwise shows the
log-level process above.  Skipped months leave the changes around them out, so the drift and
volatility are those of the level, and the simulation draws a skipped month with
``zero_month_prob`` on top of a level that carries on.  Skipped months are observation noise
rather than Student-t steps: the marginal normal likelihood stays exact and fast, and with
heavy-tailed (e.g. Student-t) steps its ``usage_volatility`` is still a consistent estimate of the
step SD.

Heavy tails (``tails``, default ``auto``)
-----------------------------------------
The SD is not the whole step law: a heavy-tailed step of the same SD is smaller most months and
far larger in a few, so per-account intervals and the months an account spends in a fall differ.
When a likelihood-ratio test (:func:`heavy_tails`, Student-t against normal, size 5e-4) finds the
clean changes heavy-tailed, the fit records a two-component normal scale mixture fitted by
maximum likelihood to the same standardised residuals (:func:`tail_residuals`): the wide
component's weight ``usage_tail_weight`` and SD ratio ``usage_tail_ratio`` (constants of the
posterior, see :func:`_tail_shape`); the simulation draws mixture steps with SD
``usage_volatility``.  Not the Student-t itself: ``E[exp(step)]`` of a t is infinite, so a long
walk over millions of account-months owns the mean (:mod:`simengine.bookstats.tails` says why the
mixture).  A test rather than always fitting the tail: a book with normal changes keeps the same
model, cost and posterior.  A test rather than the sample kurtosis: at ``nu <= 4`` the kurtosis
has infinite variance (book 303 of the backtest, t(3) steps: LR 283; the four normal books:
LR <= 1.9).

Seasonality
-----------
``season`` is a monthly profile per segment, 12 log effects summing to zero (``DESIGN.md``: a
single harmonic cannot hold a December peak), partially pooled over segments
(:meth:`~simengine.fitting.base.SharedParameters.season`): segments of one book may dip in
different months; ``season_cos``/``season_sin`` are each segment's first harmonic.

Known bias
----------
A new use case's ramp is not over after ``settle_months`` (default 12 = 4 ramp time constants of
3 months): the remaining ``exp(-4) ~ 2%`` of its log jump (~0.004 for a 25% use case) leaks into the
clean changes of later months, raising ``usage_drift`` by roughly ``rate x 0.004`` per month
(~0.0001 at 0.03 use cases a month), a few % of a typical drift.  Raising ``settle_months`` trades
this bias for data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simengine.bookstats.changes import (
    SETTLE_MONTHS,
    UsageRules,
    change_quadratic_forms,
    change_statistics,
    usage_changes,
)
from simengine.bookstats.panel import usage_panel
from simengine.bookstats.shapes import RAMP_FIT_MONTHS
from simengine.bookstats.tails import TAIL_PARAMETERS, fit_scale_mixture
from simengine.data import Book
from simengine.fitting._lazy import pm, pt
from simengine.fitting.base import BookModel, SharedParameters

__all__ = ["UsageModel", "heavy_tails", "tail_residuals"]

#: Changes at tenure >= this enter the tail-shape fit: the onboarding ramp's remaining log step is
#: then ``< exp(-4)`` of its start at the prior's 3-month ramp (~0.005, a tenth of a step SD).
TAIL_MIN_TENURE = 12
#: Likelihood-ratio threshold of :func:`heavy_tails`: ``2 (ll_t - ll_normal)``.  Normal is nu =
#: infinity, on the boundary, so the null law is ``0.5 chi2_0 + 0.5 chi2_1`` and 10.83 (chi2_1's
#: 0.999 quantile) is a test of size 5e-4: books with normal changes keep the plain model.
TAIL_LR_CRITICAL = 10.83


class UsageModel(BookModel):
    """Hierarchical log-usage growth model on month-on-month changes.

    Model config
    ------------
    settle_months : int, default 12
        Months after a new use case starts that are left out of the changes.
    max_accounts : int, default 0
        Fit on a random sample of this many accounts (0 = all): cost grows with account-months.
    robust : bool, default False
        Student-t noise with a latent effect per account (robust to outlying months, ~10x slower
        and account_sd mixes slowly).  Default: normal noise with the account effects integrated
        out exactly from per-account sums, so no latent variable per account.
    tails : {"auto", "normal", "mixture"}, default "auto"
        With normal noise: whether to estimate the tail shape (``usage_tail_weight``,
        ``usage_tail_ratio``) the simulation's steps take (:func:`tail_residuals`,
        :func:`heavy_tails`).  ``auto``: only where a likelihood ratio test finds the clean
        changes heavy-tailed, so a book with normal changes keeps the same model and the same
        posterior; ``mixture`` (``student_t`` is the same): always.
    """

    name = "usage"

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        return {
            "settle_months": SETTLE_MONTHS,
            "max_accounts": 0,
            "robust": False,
            "tails": "auto",
        }

    @classmethod
    def rules(cls, model_config: dict[str, Any] | None = None) -> UsageRules:
        """The change rule a fit with ``model_config`` (overrides of the defaults) uses: what the
        posterior records, so the simulation's set-up reads each account's changes the same way."""
        config = cls.default_model_config() | dict(model_config or {})
        return UsageRules(settle_months=int(config["settle_months"]))

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:
        panel = usage_panel(
            book, self.model_config["settle_months"], self.model_config["max_accounts"], seed
        )
        data = usage_changes(panel)
        data["stats"] = change_statistics(data)
        data["forms"] = change_quadratic_forms(data["stats"], len(book.segments))
        data["tail_law"] = _tail_law(data, self.model_config)
        n_seg = len(book.segments)
        data["zero_months"] = {
            "skipped": np.bincount(
                panel.segment, weights=panel.skipped.sum(axis=1), minlength=n_seg
            ),
            "active": np.bincount(panel.segment, weights=panel.active.sum(axis=1), minlength=n_seg),
        }
        return data

    def add_to_model(self, params: SharedParameters, data: dict[str, Any]) -> None:
        model = params.model
        robust = self.model_config["robust"]
        params.robust = robust
        scale, nu = params.usage_noise()
        drift = params.get("usage_drift")
        account_sd = params.get("account_sd")
        seg = data["segment"]
        acc = data["account"]
        if robust:
            expected = (
                drift[seg]
                + params.log_season(data["month"], seg)
                - params.log_season(data["month"] - 1, seg)
                + params.log_ramp(data["tenure"], seg)
                - params.log_ramp(data["tenure"] - 1, seg)
            )
            model.add_coord("usage_account", np.arange(data["n_accounts"]))
            with model:
                account_z = pm.Normal("usage_account_z", 0.0, 1.0, dims="usage_account")
            effect = (account_sd[data["account_segment"]] * account_z)[acc]
            changes = pm.logp(
                pm.StudentT.dist(nu=nu, mu=expected + effect, sigma=scale[seg]), data["change"]
            ).sum()
        else:
            changes = _marginal_normal_loglik(params, data["forms"], scale, account_sd)
        if data["tail_law"] is not None:
            _tail_shape(params, data["tail_law"])
        initial = _initial_level_loglik(params, data["stats"])
        # The hurdle: each active month is skipped (zero / near zero) with zero_month_prob_s.
        zero = params.get("zero_month_prob")
        counts = data["zero_months"]
        hurdle = pt.sum(
            counts["skipped"] * pt.log(zero)
            + (counts["active"] - counts["skipped"]) * pt.log1p(-zero)
        )
        with model:
            pm.Potential("usage_change_loglik", changes)
            pm.Potential("usage_initial_loglik", initial)
            pm.Potential("zero_month_loglik", hurdle)

    def observed_summary(self, data: dict[str, Any], segments: tuple[str, ...]) -> dict:
        n = len(segments)
        seg = data["segment"]
        return {
            "usage_changes": ("segment", np.bincount(seg, minlength=n)),
            "usage_change_mean": (
                "segment",
                np.bincount(seg, weights=data["change"], minlength=n)
                / np.maximum(np.bincount(seg, minlength=n), 1),
            ),
            "usage_new_accounts": ("segment", np.bincount(data["init_segment"], minlength=n)),
            "usage_active_months": ("segment", data["zero_months"]["active"]),
            "usage_skipped_months": ("segment", data["zero_months"]["skipped"]),
        }


def _marginal_normal_loglik(params: SharedParameters, forms: dict, sigma, tau):
    """Log likelihood of changes with ``b_i ~ N(0, tau_s)`` integrated out exactly.

    An account's ``n`` residuals ``r = d - e`` are ``N(0, sigma^2 I + tau^2 J)``; the density needs
    only ``(n, S1 = sum r, S2 = sum r^2)`` per account:
    ``-0.5 [S2 / sigma^2 - tau^2 S1^2 / (sigma^2 (sigma^2 + n tau^2)) + (n - 1) log sigma^2
    + log(sigma^2 + n tau^2) + n log 2 pi]``.  Every expected change and every account's expected
    sum of changes is linear in the segment's parameter vector ``theta_s`` (drift, season,
    ``log ramp(0..K)``), so ``sum S2`` over a segment and ``sum S1^2`` over the accounts of a
    segment with ``n`` changes (one weight) are quadratic forms in ``theta_s`` whose matrices are
    summed once in NumPy (:func:`~simengine.bookstats.changes.change_quadratic_forms`): nothing
    runs per account, cell or account-month while sampling.
    """
    # theta's order is change_quadratic_forms': drift, season (12), log ramp(0..K).  Variables are
    # created in the order of the per-account form (ramp, season, drift): the sampler's parameter
    # vector, hence a seeded fit, keeps its layout.
    log_ramp = params.log_ramp_table(RAMP_FIT_MONTHS)  # (S, K + 1)
    season = params.season()  # (S, 12)
    drift = params.get("usage_drift")
    theta = pt.concatenate([drift[:, None], season, log_ramp], axis=1)
    delta = theta - forms["reference"]  # (S, P)
    var = sigma**2
    within = forms["within"]
    quad = (
        within["sum_sq"]
        - 2.0 * pt.sum(delta * within["cross"], axis=1)
        + pt.sum(delta[:, :, None] * within["gram"] * delta[:, None, :], axis=(1, 2))
    )
    groups = forms["groups"]
    g = groups["segment"]
    n = groups["count"]
    dg = delta[g]  # (groups, P)
    s1_sq = (
        groups["sum_sq"]
        - 2.0 * pt.sum(dg * groups["cross"], axis=1)
        + pt.sum(dg[:, :, None] * groups["gram"] * dg[:, None, :], axis=(1, 2))
    )
    var_g = var[g]
    between = (tau**2)[g]
    total = var_g + n * between
    shared = pt.sum(between * s1_sq / (total * var_g))
    logdet = pt.sum(groups["accounts"] * ((n - 1.0) * pt.log(var_g) + pt.log(total)))
    n_changes = float(within["count"].sum())
    return -0.5 * (pt.sum(quad / var) - shared + logdet + n_changes * np.log(2.0 * np.pi))


def _initial_level_loglik(params: SharedParameters, stats: dict):
    """``log U[start] - log season - log ramp(0) ~ N(mu_s, sd_s)`` from (segment, month of year)
    sums: the mean is one (segment, month of year) table, so no gathers."""
    init = stats["init_cells"]
    n_seg = len(params.model.coords["segment"])
    at = (init["segment"], init["moy"])
    count, level_sum, level_sq = (np.zeros((n_seg, 12)) for _ in range(3))
    np.add.at(count, at, init["count"])
    np.add.at(level_sum, at, init["sum"])
    np.add.at(level_sq, at, init["sum_sq"])
    mean = (
        params.get("initial_log_usage_mu")[:, None]
        + params.season()
        + params.log_ramp_table(0)[:, 0][:, None]
    )  # (S, 12)
    sd = params.get("initial_log_usage_sd")[:, None]
    quad = level_sq - 2.0 * mean * level_sum + count * mean**2
    return -0.5 * pt.sum(quad / sd**2 + count * (2.0 * pt.log(sd) + np.log(2.0 * np.pi)))


def tail_residuals(data: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Clean changes at tenure >= :data:`TAIL_MIN_TENURE` less their (segment, month) mean.

    The drift and the season are one value per (segment, month) and the ramp is over there, so
    what is left is the step noise plus the small account effect (``account_sd`` ~0.004 next to
    steps of 0.05-0.08).  Cells with a single change carry no residual and are left out.

    Returns
    -------
    residual, segment : numpy.ndarray
    """
    keep = data["tenure"] >= TAIL_MIN_TENURE
    seg = data["segment"][keep]
    change = data["change"][keep]
    key = seg.astype(np.int64) * 100_000 + data["month"][keep]
    _, cell = np.unique(key, return_inverse=True)
    cell = cell.ravel()
    count = np.bincount(cell)
    mean = np.bincount(cell, weights=change) / count
    used = count[cell] >= 2
    # Scale by sqrt(n / (n - 1)): a residual from its cell's own mean has that much less spread.
    shrink = np.sqrt(count[cell] / np.maximum(count[cell] - 1.0, 1.0))
    return ((change - mean[cell]) * shrink)[used], seg[used]


def heavy_tails(residual: np.ndarray, segment: np.ndarray) -> dict[str, float]:
    """Likelihood-ratio test of Student-t against normal changes (per-segment scales).

    Each segment's residuals are standardised by their robust scale (1.4826 MAD); a Student-t with
    one ``nu`` and one scale factor, and a normal with one SD, are fitted to them by maximum
    likelihood.  The sample kurtosis is reported, not tested: at ``nu <= 4`` (the tails that
    matter) its variance is infinite and one month decides it.

    Returns
    -------
    dict
        ``heavy`` (``lr > TAIL_LR_CRITICAL``), ``lr`` (``2 (ll_t - ll_normal)``), ``nu`` (the ML
        degrees of freedom), ``excess_kurtosis``, ``n``, ``z`` (the standardised residuals).
    """
    from scipy import optimize, stats

    z = np.empty_like(residual)
    for s in np.unique(segment):
        r = residual[segment == s]
        mad = 1.4826 * np.median(np.abs(r - np.median(r)))
        z[segment == s] = r / (mad if mad > 0 else (r.std() or 1.0))
    n = z.size
    if n < 50:  # too few to tell tails apart: keep the plain model
        return {
            "heavy": False, "lr": 0.0, "nu": np.inf, "excess_kurtosis": np.nan, "n": n, "z": z,
        }  # fmt: skip
    ll_normal = float(stats.norm.logpdf(z, scale=z.std()).sum())

    def negative(theta):
        return -float(stats.t.logpdf(z, df=2.0 + np.exp(theta[0]), scale=np.exp(theta[1])).sum())

    best = optimize.minimize(negative, x0=[np.log(8.0), 0.0], method="Nelder-Mead")
    lr = max(2.0 * (-best.fun - ll_normal), 0.0)
    return {
        "heavy": bool(lr > TAIL_LR_CRITICAL),
        "lr": float(lr),
        "nu": float(2.0 + np.exp(best.x[0])),
        "excess_kurtosis": float(stats.kurtosis(z)),
        "n": n,
        "z": z,
    }


def _tail_law(data: dict[str, Any], model_config: dict[str, Any]) -> tuple[float, float] | None:
    """The step law's tail ``(usage_tail_weight, usage_tail_ratio)`` this fit records, or None
    (normal steps; a robust fit samples its own ``nu``, which the draws turn into a mixture).

    :func:`heavy_tails` decides (a calibrated test of size 5e-4 against normal changes); where it
    finds heavy tails, the two-component normal scale mixture of
    :mod:`simengine.bookstats.tails` is fitted by maximum likelihood to the same standardised
    residuals: a law whose ``E[exp(step)]`` is finite and whose body and tail are the data's.
    """
    tails = model_config.get("tails", "auto")
    if tails not in ("auto", "normal", "student_t", "mixture"):
        raise ValueError(f"usage model config 'tails' = {tails!r}: auto, normal or mixture")
    if model_config["robust"] or tails == "normal":
        return None  # the robust likelihood fits nu itself
    residual, segment = tail_residuals(data)
    test = heavy_tails(residual, segment)
    if (tails == "auto" and not test["heavy"]) or test["n"] < 50:
        return None  # too few residuals to tell: normal steps
    weight, ratio = fit_scale_mixture(test["z"])
    return (weight, ratio) if weight > 0.0 else None


def _tail_shape(params: SharedParameters, law: tuple[float, float]) -> None:
    """``usage_tail_weight`` and ``usage_tail_ratio`` at their maximum-likelihood values
    (:func:`_tail_law`), recorded as constants of the fit.

    The shape is a nuisance of the step law, separable from every other parameter (a likelihood
    of the standardised residuals with a scale of its own shares nothing with the rest), so fixing
    it at its maximum-likelihood value leaves the joint posterior exactly the normal model's.
    Sampling a tail shape inside the joint model instead gave NUTS a second geometry to adapt to
    (with a Student-t shape, a t(5) user book's fit failed its gate on ``account_sd``) for a
    parameter that barely moves a forecast's centre.  Its uncertainty is therefore not propagated.
    """
    with params.model:
        for name, value in zip(TAIL_PARAMETERS, law, strict=True):
            pm.Deterministic(name, pt.as_tensor_variable(np.float64(value)))
