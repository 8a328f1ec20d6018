"""Usage: log-usage growth with segment drift, account effects, robust volatility, seasonality and
the onboarding ramp.

What is fitted, and from which data
-----------------------------------
* **Month-on-month changes** ``d = log U[t] - log U[t-1]`` of every account-month after the start
  month, except months within ``settle_months`` after a new use case started ("ramping": the
  expansion model reads those).  Given the use-case term is flat, the generative model says
  exactly ``d = usage_drift_s + b_i + Δ log season(t) + Δ log ramp(k) + sigma_s eps``,
  ``b_i ~ N(0, account_sd_s)``.  By default ``eps`` is normal and ``b_i`` is integrated out
  exactly from per-account sums (no latent variable per account).  With ``robust=True`` the noise
  is Student-t (scale ``usage_noise_scale_s``, ``usage_tail_nu`` degrees of freedom; a few wild
  months bend the estimates far less) with a non-centred latent ``b_i``; ``usage_volatility`` is
  then the noise SD the kernel's normal steps use.  The onboarding ramp enters through
  ``Δ log ramp(k)`` at tenures 1, 2, ...: the shape of early-tenure growth (month 1 vs
  3 vs 6, the day-30/90/180 checkpoints) identifies ``ramp_start``
  and ``ramp_months`` separately from the drift.
* **First-month level**: ``log U[start] - log season - log ramp_start``
  ``~ Normal(initial_log_usage_mu_s,
  initial_log_usage_sd_s)`` for accounts whose start month is in the data.

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
import pymc as pm
import pytensor.tensor as pt

from simengine.data import Book
from simengine.fitting.base import BookModel, SharedParameters
from simengine.fitting.panel import usage_panel

__all__ = ["UsageModel", "usage_changes"]


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
    """

    name = "usage"

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        return {"settle_months": 12, "max_accounts": 0, "robust": False}

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:
        panel = usage_panel(
            book, self.model_config["settle_months"], self.model_config["max_accounts"], seed
        )
        return usage_changes(panel)

    def add_to_model(self, params: SharedParameters, data: dict[str, Any]) -> None:
        model = params.model
        robust = self.model_config["robust"]
        params.robust = robust
        scale, nu = params.usage_noise()
        drift = params.get("usage_drift")
        account_sd = params.get("account_sd")
        seg = data["segment"]
        acc = data["account"]
        expected = (
            drift[seg]
            + params.log_season(data["month"])
            - params.log_season(data["month"] - 1)
            + params.log_ramp(data["tenure"], seg)
            - params.log_ramp(data["tenure"] - 1, seg)
        )
        if robust:
            model.add_coord("usage_account", np.arange(data["n_accounts"]))
            with model:
                account_z = pm.Normal("usage_account_z", 0.0, 1.0, dims="usage_account")
            effect = (account_sd[data["account_segment"]] * account_z)[acc]
            changes = pm.logp(
                pm.StudentT.dist(nu=nu, mu=expected + effect, sigma=scale[seg]), data["change"]
            ).sum()
        else:
            changes = _marginal_normal_loglik(
                data["change"] - expected, acc, data["account_segment"], scale, account_sd
            )
        init_seg = data["init_segment"]
        level = (
            data["init_log_usage"]
            - params.log_season(data["init_month"])
            - pt.log(params.get("ramp_start")[init_seg])
        )
        initial = pm.logp(
            pm.Normal.dist(
                params.get("initial_log_usage_mu")[init_seg],
                params.get("initial_log_usage_sd")[init_seg],
            ),
            level,
        )
        with model:
            pm.Potential("usage_change_loglik", changes)
            pm.Potential("usage_initial_loglik", initial.sum())

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
        }


def _marginal_normal_loglik(resid, account, account_segment, sigma, tau):
    """Log likelihood of changes with ``b_i ~ N(0, tau_s)`` integrated out exactly.

    An account's ``n`` residuals are ``N(0, sigma^2 I + tau^2 J)``; with ``S1 = sum r`` and
    ``S2 = sum r^2`` the density needs only ``(n, S1, S2)`` per account.
    """
    n_acc = len(account_segment)
    count = np.bincount(account, minlength=n_acc).astype(np.float64)
    s1 = pt.inc_subtensor(pt.zeros(n_acc)[account], resid)
    s2 = pt.inc_subtensor(pt.zeros(n_acc)[account], resid**2)
    var = sigma[account_segment] ** 2
    between = tau[account_segment] ** 2
    total = var + count * between
    quad = (s2 - between * s1**2 / total) / var
    logdet = (count - 1.0) * pt.log(var) + pt.log(total)
    return -0.5 * pt.sum(quad + logdet + count * np.log(2.0 * np.pi))


def usage_changes(panel) -> dict[str, Any]:
    """Clean month-on-month changes and first-month levels from a :class:`UsagePanel`.

    Returns
    -------
    dict of numpy.ndarray
        Changes (one entry each): ``change``, ``segment``, ``account`` (index into the accounts
        that have changes), ``tenure`` (k >= 1), ``month``; ``account_segment`` (per account),
        ``n_accounts``; first-month levels: ``init_log_usage``, ``init_segment``, ``init_month``.
    """
    y = panel.log_usage
    n, width = y.shape
    cols = np.arange(width)[None, :]
    tenure = cols - panel.start[:, None]
    ok = np.zeros_like(y, dtype=bool)
    ok[:, 1:] = np.isfinite(y[:, 1:]) & np.isfinite(y[:, :-1])
    ok &= (tenure >= 1) & ~panel.ramping
    rows, cs = np.nonzero(ok)
    used, account = np.unique(rows, return_inverse=True)
    change = y[rows, cs] - y[rows, cs - 1]
    starts_inside = (panel.start >= 0) & (panel.start < width)
    init_rows = np.flatnonzero(starts_inside)
    init_y = y[init_rows, panel.start[init_rows]]
    keep = np.isfinite(init_y)
    return {
        "change": change,
        "segment": panel.segment[rows],
        "account": account.astype(np.int64),
        "tenure": tenure[rows, cs].astype(np.int64),
        "month": panel.first_month + cs.astype(np.int64),
        "account_segment": panel.segment[used],
        "n_accounts": len(used),
        "init_log_usage": init_y[keep],
        "init_segment": panel.segment[init_rows[keep]],
        "init_month": panel.first_month + panel.start[init_rows[keep]],
    }
