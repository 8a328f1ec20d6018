"""Small books and parameter arrays for the kernel tests (plain NumPy, deterministic by seed)."""

from __future__ import annotations

import numpy as np

from simengine.bookstats import ChurnRules
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
    "usage_decline_hazard_ratio": 1.5,
    "zero_month_prob": 0.02,
    "onboarding_failure": 0.03,
    "usage_tail_weight": 0.0,
    "usage_tail_ratio": 1.0,
    "decline_threshold": ChurnRules().decline_threshold,
    "anniversary_hazard_ratio": 1.0,  # neutral: the closed forms assume no anniversaries
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
    "use_case_unhealthy_covered": 0.1,
    "use_case_unhealthy_uncovered": 0.3,
}


Book = L.Accounts  # existing accounts in the kernel's layout


def make_book(n_accounts: int = 40, n_segments: int = 3, seed: int = 1) -> Book:
    """A book with varied segments, tenure (young ones still ramping), history and commits."""
    rng = np.random.default_rng(seed)
    segment = np.arange(n_accounts) % n_segments
    tenure = rng.integers(0, 48, n_accounts)
    tenure[:4] = [0, 1, 2, 5][: min(4, n_accounts)]
    log_usage = rng.normal(8.0 + segment, 0.8)
    months_ago = np.arange(L.RING_MONTHS)[::-1]  # history column j is as_of - (23 - j)
    hist = np.exp(log_usage[:, None] - 0.01 * months_ago) * rng.uniform(
        0.8, 1.2, (n_accounts, L.RING_MONTHS)
    )
    hist[months_ago[None, :] > tenure[:, None]] = 0.0  # not a customer yet
    hist[rng.uniform(size=hist.shape) < 0.03] = 0.0  # a few skipped months
    hist[1, -6:] *= 0.5  # a declining account
    commit = np.where(rng.uniform(size=n_accounts) < 0.3, 11.0 * np.exp(log_usage), 0.0)
    term_position = rng.integers(0, 12, n_accounts)
    consumed = np.where(commit > 0, term_position * np.exp(log_usage), 0.0)
    price = rng.uniform(0.8, 1.25, n_accounts)  # each account its own price
    n_changes = np.minimum(tenure, 30).astype(float)
    season_coef = rng.integers(-1, 2, (n_accounts, 12)).astype(float)
    ramp_tenure = np.stack([tenure, np.maximum(tenure - n_changes, 0)], axis=1).astype(np.int64)
    ramp_coef = np.where(n_changes[:, None] > 0, np.array([[1.0, -1.0]]), 0.0)
    age = np.full((n_accounts, L.IN_FLIGHT), -1, dtype=np.int64)
    age[::3, 0] = rng.integers(0, 6, len(age[::3]))  # every third account has a use case ramping
    age[::6, 1] = 2
    flags = rng.integers(-1, 2, (2, n_accounts)).astype(float)  # covered, not, or unknown
    # Contract anniversaries count from the start, or for every third account from a contract
    # signed up to 11 months after it.
    contract_from = -tenure - 1 + np.where(np.arange(n_accounts) % 3 == 2, tenure % 12, 0)
    anniversaries = np.maximum((-1 - contract_from) // 12, 0).astype(float)
    declining = rng.integers(0, 3, n_accounts).astype(float) * (tenure > 8)
    return Book(
        segment=segment.astype(np.int64),
        tenure=tenure.astype(np.int64),
        log_usage=log_usage,
        hist_usage=hist,
        commit=commit,
        term_position=term_position.astype(np.int64),
        consumed=consumed,
        price=price,
        data_from=-np.minimum(tenure, 30).astype(np.int64) - 1,
        csm_covered=flags[0],
        se_engaged=flags[1],
        declining=declining,
        change_count=n_changes,
        change_sum=n_changes * rng.normal(0.007, 0.01, n_accounts),
        season_coef=season_coef,
        ramp_tenure=ramp_tenure,
        ramp_coef=ramp_coef,
        use_cases_done=rng.integers(0, 3, n_accounts).astype(float),
        use_case_age=age,
        contract_from=contract_from.astype(np.int64),
        anniversaries=anniversaries,
        declining_anniversaries=np.minimum(declining, anniversaries) * (tenure % 2),
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
    # season_cos / season_sin (a single harmonic) stand for the 12-effect profile unless the
    # overrides give season_0 .. season_11 themselves.
    profile = L.harmonic_season(
        np.broadcast_to(seg_values["season_cos"], (draws, n_segments)),
        np.broadcast_to(seg_values["season_sin"], (draws, n_segments)),
    )
    # ramp_start / ramp_months (the exponential approach) stand for the ramp's table unless the
    # overrides give ramp_log_0 .. themselves.
    ramp = L.exponential_ramp_table(
        np.broadcast_to(seg_values["ramp_start"], (draws, n_segments)),
        np.broadcast_to(seg_values["ramp_months"], (draws, n_segments)),
    )
    seg_params = np.empty((draws, n_segments, len(L.SEGMENT_PARAMS)))
    for i, name in enumerate(L.SEGMENT_PARAMS):
        if name in L.SEASON_PARAMS and name not in seg_values:
            seg_params[..., i] = profile[..., L.SEASON_PARAMS.index(name)]
        elif name in L.RAMP_PARAMS and name not in seg_values:
            seg_params[..., i] = ramp[..., L.RAMP_PARAMS.index(name)]
        else:
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


def zeros_out(
    draws: int, horizon: int, n_segments: int, cohort_months: int, cells: bool = True
) -> L.Outputs:
    """Zeroed kernel outputs; ``cells=False``: the cohort followed without cells (no rows)."""
    return L.Outputs(
        np.zeros((draws, horizon, n_segments, len(L.OUTPUTS))),
        np.zeros((draws, horizon if cells else 0, cohort_months)),
        np.zeros((draws, horizon, len(L.COVERAGE))),
        np.zeros(draws),
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
    capacity=None,
    full=False,
    cells=True,
):
    """Call the kernel or the reference ``fn``; return ``(out, cohort)`` (``full``: all outputs).

    ``capacity``: a :class:`layout.Capacity`, a ``(csm, se)`` pair of scalars or arrays
    broadcasting to (draws, horizon), or None (unlimited: the month parameters' shares apply).
    """
    draws, n_seg, horizon = month_params.shape[:3]
    outputs = zeros_out(draws, horizon, n_seg, cohort_months, cells)
    if capacity is None:
        capacity = L.unlimited_capacity(draws, horizon)
    elif not isinstance(capacity, L.Capacity):
        capacity = L.Capacity(
            *(np.ascontiguousarray(np.broadcast_to(np.asarray(c, float), (draws, horizon)))
              for c in capacity)
        )  # fmt: skip
    fn(
        np.uint64(seed),
        draw_start,
        book,
        L.Params(seg_params, month_params),
        capacity,
        month_of_year0,
        outputs,
    )
    return outputs if full else (outputs.out, outputs.cohort)
