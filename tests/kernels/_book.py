"""Small books and parameter arrays for the kernel tests (plain NumPy, deterministic by seed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simengine.kernels import layout as L

#: Segment parameters near ``config.SegmentAssumptions`` defaults, with a little life in every
#: process (volatility, use cases, seasonality, unhealthy consumption, commits).
DEFAULT_SEGMENT = {
    "usage_drift": 0.007,
    "usage_volatility": 0.06,
    "account_sd": 0.004,
    "churn_alpha": 1.2,
    "churn_beta": 40.0,
    "use_case_rate": 0.05,
    "use_case_size_mu": -1.4,
    "use_case_size_sigma": 0.5,
    "use_case_ramp_months": 3.0,
    "ramp_start": 0.3,
    "ramp_months": 3.0,
    "initial_log_usage_mu": 8.0,
    "initial_log_usage_sd": 1.0,
    "unit_price": 1.0,
    "season_cos": 0.05,
    "season_sin": -0.03,
    "csm_hazard_ratio": 0.7,
    "se_use_case_ratio": 1.5,
    "unhealthy_plateau": 0.6,
    "unhealthy_decay": 0.02,
    "unhealthy_hazard_ratio": 1.5,
    "commit_share": 0.3,
    "commit_months": 10.0,
    "renewal_ratio": 0.9,
}
DEFAULT_MONTH = {
    "new_logo_rate": 5.0,
    "csm_coverage": 0.4,
    "se_coverage": 0.3,
    "unhealthy_share": 0.2,
    "hazard_multiplier": 1.0,
    "use_case_multiplier": 1.0,
    "drift_shift": 0.0,
    "price_multiplier": 1.0,
    "new_logo_multiplier": 1.0,
}


@dataclass
class Book:
    """Existing accounts in the kernel's flat layout."""

    segment: np.ndarray
    tenure: np.ndarray
    log_usage: np.ndarray
    hist_revenue: np.ndarray
    commit: np.ndarray
    term_position: np.ndarray
    consumed: np.ndarray

    def arrays(self) -> tuple[np.ndarray, ...]:
        return (
            self.segment,
            self.tenure,
            self.log_usage,
            self.hist_revenue,
            self.commit,
            self.term_position,
            self.consumed,
        )


def make_book(n_accounts: int = 40, n_segments: int = 3, seed: int = 1) -> Book:
    """A book with varied segments, tenure (young ones still ramping), history and commits."""
    rng = np.random.default_rng(seed)
    segment = np.arange(n_accounts) % n_segments
    tenure = rng.integers(0, 48, n_accounts)
    tenure[:4] = [0, 1, 2, 5][: min(4, n_accounts)]
    log_usage = rng.normal(8.0 + segment, 0.8)
    months_ago = np.arange(L.HISTORY_MONTHS)[::-1]  # history column j is as_of - (11 - j)
    hist = np.exp(log_usage[:, None] - 0.01 * months_ago) * rng.uniform(0.8, 1.2, (n_accounts, 12))
    hist[months_ago[None, :] > tenure[:, None]] = 0.0  # not a customer yet
    commit = np.where(rng.uniform(size=n_accounts) < 0.3, 11.0 * np.exp(log_usage), 0.0)
    term_position = rng.integers(0, 12, n_accounts)
    consumed = np.where(commit > 0, term_position * np.exp(log_usage), 0.0)
    return Book(
        segment.astype(np.int64),
        tenure.astype(np.int64),
        log_usage,
        hist,
        commit,
        term_position.astype(np.int64),
        consumed,
    )


def make_params(
    draws: int,
    horizon: int,
    n_segments: int = 3,
    seed: int = 2,
    *,
    segment: dict | None = None,
    month: dict | None = None,
    jitter: float = 0.1,
):
    """``(seg_params, month_params)``: defaults, overridden, jittered by draw, segment and month.

    Overrides may be scalars or arrays broadcasting to (draws, segments) for ``segment`` and to
    (draws, segments, horizon) for ``month``.  ``jitter`` scales a multiplicative noise on the
    rates and multipliers (0 keeps them exact).
    """
    rng = np.random.default_rng(seed)
    seg_values = DEFAULT_SEGMENT | (segment or {})
    seg_params = np.empty((draws, n_segments, len(L.SEGMENT_PARAMS)))
    for i, name in enumerate(L.SEGMENT_PARAMS):
        seg_params[..., i] = seg_values[name]
    month_values = DEFAULT_MONTH | (month or {})
    month_params = np.empty((draws, n_segments, horizon, len(L.MONTH_PARAMS)))
    for i, name in enumerate(L.MONTH_PARAMS):
        month_params[..., i] = month_values[name]
    if jitter:
        for name in ("usage_drift", "churn_alpha", "use_case_rate", "initial_log_usage_mu"):
            seg_params[..., L.SEGMENT_PARAMS.index(name)] *= rng.uniform(
                1 - jitter, 1 + jitter, (draws, n_segments)
            )
        for name in ("new_logo_rate", "hazard_multiplier", "use_case_multiplier", "csm_coverage"):
            month_params[..., L.MONTH_PARAMS.index(name)] *= rng.uniform(
                1 - jitter, 1 + jitter, (draws, n_segments, horizon)
            )
    return seg_params, month_params


def zeros_out(draws: int, horizon: int, n_segments: int, cohort_months: int):
    return (
        np.zeros((draws, horizon, n_segments, len(L.OUTPUTS))),
        np.zeros((draws, horizon, cohort_months)),
    )


def run(
    fn,
    seed,
    seg_params,
    month_params,
    book: Book,
    *,
    cohort_months=0,
    month_of_year0=3,
    draw_start=0,
):
    """Call the kernel or the reference ``fn``; return ``(out, cohort)``."""
    draws, n_seg, horizon = month_params.shape[:3]
    out, cohort = zeros_out(draws, horizon, n_seg, cohort_months)
    fn(
        np.uint64(seed),
        draw_start,
        seg_params,
        month_params,
        *book.arrays(),
        month_of_year0,
        out,
        cohort,
    )
    return out, cohort
