"""Expansion: use-case arrivals (rate per segment, raised by SE engagement) and use-case size.

Arrivals
--------
New use cases (those starting after the account's start month; ``uc0`` is the initial one) arrive
``Poisson(use_case_rate_s * se_use_case_ratio^se)`` per active month after the start month.  Counts
and exposure months are summed per (segment, SE flag): the likelihood is exact and tiny.

*Exposure* runs over the months the use-case table covers: from ``max(start + 1, cover)`` to
churn or ``as_of``, where ``cover`` is the later of the observation window's start and the first
month in the use-case table.  For an account that started before ``cover``, a first recorded use
case starting at ``cover`` is not a new arrival (it is what the account already ran when the table
begins); see :func:`simengine.fitting.panel.new_use_cases`.

*The SE flag must not be endogenous.*  "Any of its use cases is ``se_supported``" is not: an
account with more use cases has more chances to be flagged, so the flag follows the outcome it is
meant to explain (a ratio of ~2 on a book with no effect at all).  The flag used is
``accounts.se_engaged`` (an account attribute) when present, else the ``se_supported`` flag of the
account's **first recorded** use case, which is set before any of the arrivals it is compared
with; without either there is no ratio.

Size and ramp
-------------
An account's first new use case, starting in month ``a``, moves log usage by
``log(1 + m h(u)) - log(1 + m h(u-1))`` in month ``a + u`` on top of the usual drift, season and
onboarding terms, with ``h(u) = 1 - exp(-(u + 1) / use_case_ramp_months_s)`` and plateau size
``m ~ LogNormal(use_case_size_mu_s, use_case_size_sigma_s)`` relative to the account's base usage.
The changes in months ``a .. a + settle_months - 1`` (cut short at the next use case, churn or
``as_of``) have that likelihood with the noise of the usage model and ``m`` integrated
out by 10-point Gauss-Hermite quadrature.  Only first use cases are used: for later ones the jump is
relative to ``1 + E`` of earlier use cases, which is latent; sizes are independent of order so this
loses data, not accuracy.  The account effect ``b_i`` is left in the noise (its share of a window's
variance is ``W tau^2 / sigma^2``, ~5% at the defaults).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simengine.data import Book
from simengine.fitting._lazy import pm, pt
from simengine.fitting.base import BookModel, SharedParameters, segment_index
from simengine.fitting.panel import new_use_cases, usage_panel, use_case_cover

__all__ = ["ExpansionModel", "arrival_counts", "first_use_case_windows"]

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
    """

    name = "expansion"

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        return {"settle_months": 12, "max_accounts": 0, "fit_sizes": True}

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:
        if book.use_cases is None:  # resolve_models refuses this first, with exit code 2
            raise ValueError("fit.models includes 'expansion' but the book has no use_cases table")
        data = {"arrivals": arrival_counts(book)}
        data["windows"] = None
        if self.model_config["fit_sizes"] and len(book.usage):
            panel = usage_panel(
                book, self.model_config["settle_months"], self.model_config["max_accounts"], seed
            )
            windows = first_use_case_windows(panel, self.model_config["settle_months"])
            data["windows"] = windows if len(windows["segment"]) else None
        return data

    def add_to_model(self, params: SharedParameters, data: dict[str, Any]) -> None:
        model = params.model
        arrivals = data["arrivals"]
        rate = params.get("use_case_rate")[arrivals["segment"].to_numpy()]
        if arrivals["se"].any():
            ratio = params.get("se_use_case_ratio")
            rate = rate * pt.switch(arrivals["se"].to_numpy().astype(bool), ratio, 1.0)
        mean = rate * arrivals["exposure"].to_numpy().astype(np.float64)
        counts = arrivals["count"].to_numpy().astype(np.float64)
        # Poisson log likelihood of summed counts; the count! term does not depend on parameters.
        with model:
            pm.Potential("use_case_arrival_loglik", pt.sum(counts * pt.log(mean) - mean))
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
        int64 columns ``segment`` (index into ``book.segments``), ``se`` (0/1), ``count``,
        ``exposure`` (active months after the start month that the use-case table covers, up to
        ``as_of``).
    """
    accounts = book.accounts
    cover = use_case_cover(book)
    start = accounts["start_month"].to_numpy(np.int64)
    end = accounts["churn_month"].fillna(book.as_of + 1).to_numpy(dtype=np.int64)
    end = np.minimum(end, book.as_of + 1)
    exposure = np.maximum(end - np.maximum(start + 1, cover), 0)
    count = (
        new_use_cases(book)
        .groupby("account_id")
        .size()
        .reindex(accounts["account_id"], fill_value=0)
        .to_numpy(np.int64)
    )
    ordered = book.use_cases.sort_values(
        ["account_id", "start_month", "use_case_id"], kind="stable"
    )
    rank = ordered.groupby("account_id").cumcount().to_numpy()
    if "se_engaged" in accounts.columns:
        se = accounts["se_engaged"].to_numpy(dtype=bool)
    else:
        first_flag = ordered.loc[rank == 0].set_index("account_id")["se_supported"]
        se = first_flag.reindex(accounts["account_id"], fill_value=False).to_numpy(dtype=bool)
    frame = pd.DataFrame(
        {
            "segment": segment_index(accounts["segment"], book.segments),
            "se": se.astype(np.int64),
            "count": count,
            "exposure": exposure,
        }
    )
    return frame.groupby(["segment", "se"], as_index=False)[["count", "exposure"]].sum()


def first_use_case_windows(panel, settle_months: int) -> dict[str, np.ndarray]:
    """Log-usage changes in the months after each account's first new use case.

    Returns
    -------
    dict of numpy.ndarray
        ``segment`` (n_w,); ``change``, ``tenure``, ``month`` (n_w, W) with ``W = settle_months``;
        ``lag`` (W,) = 0..W-1; ``mask`` (n_w, W) bool: the change is observed and inside the window.
    """
    y = panel.log_usage
    n, width = y.shape
    has = (panel.first_case >= 1) & (panel.first_case < width)
    rows = np.flatnonzero(has)
    a = panel.first_case[rows]
    lag = np.arange(settle_months)
    cols = a[:, None] + lag[None, :]  # month a + u
    stop = np.where(panel.second_case[rows] > a, panel.second_case[rows], width)
    inside = cols < np.minimum(stop, width)[:, None]
    safe = np.minimum(cols, width - 1)
    change = y[rows[:, None], safe] - y[rows[:, None], safe - 1]
    mask = inside & np.isfinite(change)
    keep = mask.any(axis=1)
    change = np.where(mask, change, 0.0)
    tenure = cols - panel.start[rows][:, None]
    return {
        "segment": panel.segment[rows][keep],
        "change": change[keep],
        "tenure": np.maximum(tenure[keep], 1),
        "month": (panel.first_month + cols)[keep],
        "lag": lag,
        "mask": mask[keep],
    }


def _size_loglik(params: SharedParameters, w: dict[str, np.ndarray]):
    """Log likelihood of the first-use-case windows, size integrated out by quadrature.

    The jump of a use case depends on its window only through (segment, node, lag), so it is
    computed on that small (S, K, W) table.  With normal noise the window's log density at node
    ``k`` needs ``sum m x^2``, ``sum m x J_k`` and ``sum m J_k^2`` (``x`` = change minus the usage
    terms, ``m`` = mask): two small matrix products per segment instead of transcendental
    functions over every (window, node, lag).
    """
    seg = w["segment"]
    scale, nu = params.usage_noise()
    n_seg = len(params.model.coords["segment"])
    size_mu = params.get("use_case_size_mu")
    size_sigma = params.get("use_case_size_sigma")
    ramp = params.get("use_case_ramp_months")
    log_size = size_mu[:, None] + np.sqrt(2.0) * size_sigma[:, None] * _HERMITE_X[None, :]
    size = pt.exp(log_size)[:, :, None]  # (S, K, 1)
    lag = w["lag"].astype(np.float64)
    done = 1.0 - pt.exp(-(lag[None, :] + 1.0) / ramp[:, None])  # (S, W)
    done_before = 1.0 - pt.exp(-lag[None, :] / ramp[:, None])
    jump = pt.log1p(size * done[:, None, :]) - pt.log1p(size * done_before[:, None, :])  # (S,K,W)
    log_ramp = params.log_ramp_table(int(w["tenure"].max()))
    seg2 = np.broadcast_to(seg[:, None], w["month"].shape)
    base = (
        params.get("usage_drift")[seg][:, None]
        + params.log_season(w["month"])
        - params.log_season(w["month"] - 1)
        + log_ramp[seg2, w["tenure"]]
        - log_ramp[seg2, w["tenure"] - 1]
    )
    mask = w["mask"].astype(np.float64)
    resid = w["change"] - base  # (n_w, W) before the jump
    log_weight = np.log(_HERMITE_W / np.sqrt(np.pi))
    if nu is not None:
        noise = pm.StudentT.dist(nu=nu, mu=0.0, sigma=scale[seg][:, None, None])
        logp = pm.logp(noise, resid[:, None, :] - jump[seg])
        logp = pt.sum(logp * mask[:, None, :], axis=2)  # (n_w, K)
        return pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))
    total = 0.0
    for s in range(n_seg):
        rows = np.flatnonzero(seg == s)
        if not len(rows):
            continue
        m = mask[rows]
        x = resid[rows] * m
        sum_sq = pt.sum(x * x, axis=1)[:, None]
        cross = pt.dot(x, jump[s].T)  # (n_s, K)
        jump_sq = pt.dot(m, (jump[s] ** 2).T)
        var = scale[s] ** 2
        logp = -0.5 * (sum_sq - 2.0 * cross + jump_sq) / var - m.sum(axis=1)[:, None] * (
            pt.log(scale[s]) + 0.5 * np.log(2.0 * np.pi)
        )
        total = total + pt.sum(pt.logsumexp(logp + log_weight[None, :], axis=1))
    return total
