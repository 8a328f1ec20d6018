"""Names and positions of the flat arrays the kernels read and write, and the groups they travel in.

The kernels see only NumPy arrays; these tuples say which slot of the last axis holds what.  The
``P_*``, ``M_*`` and ``V_*`` integers are module globals, which numba freezes as compile-time constants.

The kernel takes its arrays in four named tuples (numba types a ``typing.NamedTuple`` of arrays as a
heterogeneous tuple, attributes by name, no copy): :class:`Accounts` (the book at ``as_of``),
:class:`Params` (segment and month parameters per draw), :class:`Capacity` (coverable accounts per
draw and month, from the staffing model) and :class:`Outputs` (what the kernel fills).
:func:`simengine.engine.run_kernel` checks their shapes and allocates the outputs.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: The monthly seasonal profile: 12 log effects (``season`` of the usage fit, January first).
SEASON_PARAMS: tuple[str, ...] = tuple(f"season_{m}" for m in range(12))

#: Months of tenure the onboarding ramp's table covers: ``ramp_log_k`` is ``log ramp(k)`` for
#: ``k < RAMP_TABLE_MONTHS``; the ramp is 1 (the plateau) from then on.  The usage fit's ramp is 0
#: past its own months (12); a two-parameter ramp ``1 - (1 - ramp_start) exp(-k / ramp_months)``
#: (config assumptions, posteriors written before the table) is cut at 36 months, where its
#: remaining shortfall is below 1e-5 at ramp_months = 3 and 0.2% at 6.
RAMP_TABLE_MONTHS = 36
RAMP_PARAMS: tuple[str, ...] = tuple(f"ramp_log_{k}" for k in range(RAMP_TABLE_MONTHS))

#: Per-draw, per-segment parameters: ``seg_params[draw, segment, P_*]``.
SEGMENT_PARAMS: tuple[str, ...] = (
    "usage_drift",
    "usage_volatility",
    "account_sd",
    "churn_alpha",
    "churn_beta",
    "use_case_rate",
    "use_case_size_mu",
    "use_case_size_sigma",
    "use_case_ramp_months",
    "ramp_start",
    "ramp_months",
    "initial_log_usage_mu",
    "initial_log_usage_sd",
    "unit_price",
    "csm_hazard_ratio",
    "se_use_case_ratio",
    "unhealthy_plateau",
    "unhealthy_decay",
    "unhealthy_hazard_ratio",
    "commit_share",
    "commit_months",
    "renewal_ratio",
    "usage_decline_hazard_ratio",  # churn hazard ratio at a declining boundary (fitting/churn.py)
    "zero_month_prob",  # chance an active month shows no usage (the usage fit's hurdle)
    "onboarding_failure",  # chance a new logo churns at its first boundary (failed onboarding)
    "usage_tail_weight",  # usage steps: weight of the wide normal of the mixture; 0: normal steps
    "usage_tail_ratio",  # usage steps: SD of the wide normal over the narrow one's (>= 1)
    # The usage-decline rule's threshold, log quarter ratio (simengine.bookstats.ChurnRules, as the
    # churn fit recorded it): one value for every draw and segment.
    "decline_threshold",
    "anniversary_hazard_ratio",  # churn hazard ratio at a contract anniversary (fitting/churn.py)
    *SEASON_PARAMS,  # log seasonal effect of each month of year, January first (sum to zero)
    *RAMP_PARAMS,  # log of the onboarding ramp at tenure 0 .. RAMP_TABLE_MONTHS - 1 (<= 0)
)
(
    P_DRIFT,
    P_VOLATILITY,
    P_ACCOUNT_SD,
    P_CHURN_ALPHA,
    P_CHURN_BETA,
    P_UC_RATE,
    P_UC_SIZE_MU,
    P_UC_SIZE_SIGMA,
    P_UC_RAMP,
    P_RAMP_START,
    P_RAMP_MONTHS,
    P_INIT_MU,
    P_INIT_SD,
    P_PRICE,
    P_CSM_HR,
    P_SE_RATIO,
    P_UNHEALTHY_PLATEAU,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_COMMIT_SHARE,
    P_COMMIT_MONTHS,
    P_RENEWAL_RATIO,
    P_DECLINE_HR,
    P_ZERO_PROB,
    P_ONBOARDING_FAILURE,
    P_TAIL_WEIGHT,
    P_TAIL_RATIO,
    P_DECLINE_THRESHOLD,
    P_ANNIVERSARY_HR,
) = range(len(SEGMENT_PARAMS) - len(SEASON_PARAMS) - len(RAMP_PARAMS))
#: ``seg_params[..., P_SEASON0 + m]``: log seasonal effect of month of year ``m`` (January = 0).
P_SEASON0 = SEGMENT_PARAMS.index("season_0")
#: ``seg_params[..., P_RAMP0 + k]``: ``log ramp(k)`` at tenure ``k < RAMP_TABLE_MONTHS``.  The
#: kernel reads the ramp only here; ``ramp_start`` / ``ramp_months`` are what the table is built
#: from where no fitted table exists (:func:`exponential_ramp_table`).
P_RAMP0 = SEGMENT_PARAMS.index("ramp_log_0")

#: Per-draw, per-month, per-segment drivers (what the go-to-market model sets):
#: ``month_params[draw, segment, month, M_*]`` (segment before month so one account reads a
#: contiguous block).
#:
#: Coverage: an account is CSM-covered in month ``t`` when its own fixed uniform is below
#: ``min(csm_coverage, Capacity.csm[t] / active accounts at the start of t)`` (likewise SE).  In
#: ``market.new_logos=rate`` mode the capacity is ``+inf`` and ``csm_coverage``/``se_coverage`` are
#: the configured shares; in capacity mode they are 1 and the staffing capacity binds.
MONTH_PARAMS: tuple[str, ...] = (
    "new_logo_rate",  # Poisson mean of new logos in the month (before new_logo_multiplier)
    "csm_coverage",  # largest share of active accounts a CSM covers (rate mode: the share)
    "se_coverage",  # largest share of active accounts SE / adoption supports (rate mode: the share)
    "unhealthy_share",  # chance a new logo starting this month starts unhealthy
    "hazard_multiplier",  # multiplier on every churn hazard (scenario, other go-to-market effects)
    "use_case_multiplier",  # multiplier on every use-case rate
    "drift_shift",  # added to every account's monthly log-usage drift
    "price_multiplier",  # multiplies the unit price (existing accounts and new logos)
    "new_logo_multiplier",  # multiplies the month's new-logo Poisson mean (both modes)
    "use_case_unhealthy_covered",  # chance a new use case starts unhealthy, account SE-supported
    "use_case_unhealthy_uncovered",  # the same for an account without SE support that month
)
(
    M_NEW_LOGO_RATE,
    M_CSM_COVERAGE,
    M_SE_COVERAGE,
    M_UNHEALTHY_SHARE,
    M_HAZARD_MULT,
    M_USE_CASE_MULT,
    M_DRIFT_SHIFT,
    M_PRICE_MULT,
    M_NEW_LOGO_MULT,
    M_UC_UNHEALTHY_COVERED,
    M_UC_UNHEALTHY_UNCOVERED,
) = range(len(MONTH_PARAMS))

#: Neutral values of the month parameters a scenario may leave unset.
MONTH_DEFAULTS: dict[str, float] = {
    "hazard_multiplier": 1.0,
    "use_case_multiplier": 1.0,
    "drift_shift": 0.0,
    "price_multiplier": 1.0,
    "new_logo_multiplier": 1.0,
}

#: What the kernel aggregates per ``(draw, month, segment)``: ``out[draw, month, segment, V_*]``.
OUTPUTS: tuple[str, ...] = (
    "revenue",
    "usage",
    "active_accounts",
    "new_logos",
    "churned_accounts",
    "expansion_revenue",
    "retention_base",  # revenue 12 months earlier of the accounts active then
    "retained_revenue",  # revenue now of those same accounts
    "retained_revenue_capped",  # min(now, 12 months earlier): the GRR numerator
    "overage",
    "leak",
    "bookings",
    "churned_revenue",
    "new_logo_revenue",
    "new_use_cases",
    "existing_expansion_revenue",  # expansion_revenue of the accounts active at as_of only
    "ttm_base",  # revenue over months t-23..t-12 of the accounts that were customers in t-12
    "ttm_retained",  # revenue over months t-11..t of those same accounts (churned ones included)
    "ttm_retained_capped",  # the same, each account capped at its own base: the GRR numerator
    "zero_months",  # active account-months that showed no usage (the hurdle)
)
(
    V_REVENUE,
    V_USAGE,
    V_ACTIVE,
    V_NEW_LOGOS,
    V_CHURNED,
    V_EXPANSION_REVENUE,
    V_RETENTION_BASE,
    V_RETAINED,
    V_RETAINED_CAPPED,
    V_OVERAGE,
    V_LEAK,
    V_BOOKINGS,
    V_CHURNED_REVENUE,
    V_NEW_LOGO_REVENUE,
    V_NEW_USE_CASES,
    V_EXISTING_EXPANSION_REVENUE,
    V_TTM_BASE,
    V_TTM_RETAINED,
    V_TTM_RETAINED_CAPPED,
    V_ZERO_MONTHS,
) = range(len(OUTPUTS))

#: Per (draw, month) coverage shares the kernel computed from its own simulated book:
#: ``coverage[draw, month, C_*]`` = min(1, coverable accounts / active accounts at the start of the
#: month).  1 where the capacity is unlimited (rate mode).
COVERAGE: tuple[str, ...] = ("csm_coverage", "se_coverage")
C_CSM, C_SE = range(len(COVERAGE))

#: Months of the year-ago comparison (``nrr_monthly``) and of each trailing window of NRR/GRR.
HISTORY_MONTHS = 12
#: Months of usage history the kernel keeps per account (two trailing twelve-month windows).
RING_MONTHS = 2 * HISTORY_MONTHS
#: In-flight use cases per existing account carried into the simulation (older ones count as done).
IN_FLIGHT = 8
#: A use case older than this (months) at ``as_of`` has finished its ramp (``q**37 < 1e-5`` at the
#: prior's 3-month ramp).
IN_FLIGHT_MONTHS = 36


class Accounts(NamedTuple):
    """The accounts active at ``as_of``, one row each (see :func:`simengine.engine.book_state`).

    Attributes
    ----------
    segment, tenure, term_position : ndarray of int64, shape (accounts,)
        Segment index, month boundaries survived by ``as_of``, months into the current commit term.
    log_usage, commit, consumed, price : ndarray of float64, shape (accounts,)
        Log usage level at ``as_of``, annual commit (0: none), revenue consumed in the current
        term, and the account's own unit price.
    hist_usage : ndarray of float64, shape (accounts, RING_MONTHS)
        Usage in months ``as_of - 23 .. as_of`` (0 where not a customer or a skipped month).
    data_from : ndarray of int64, shape (accounts,)
        First month with usage data for the account (``max(start, first usage month)``), in
        horizon months (horizon month 0 = ``as_of + 1``; so negative): the decline rule needs it.
    csm_covered, se_engaged : ndarray of float64, shape (accounts,)
        Observed coverage flags at ``as_of``: 1, 0, or -1 where the book does not say.
    declining : ndarray of float64, shape (accounts,)
        Boundaries the account survived in the window that were declining (the churn fit's rule).
    change_count, change_sum : ndarray of float64, shape (accounts,)
        Number and sum of the account's clean log-usage changes (the usage fit's sufficient
        statistics, :func:`simengine.bookstats.changes.change_statistics`).
    season_coef : ndarray of float64, shape (accounts, 12)
        Net count of each month's seasonal effect in those changes.
    ramp_tenure, ramp_coef : ndarray, shape (accounts, width)
        Telescoped tenures (int64) and signed coefficients of ``log ramp`` in those changes.
    use_cases_done : ndarray of float64, shape (accounts,)
        Use cases (arrivals) that finished their ramp by ``as_of``.
    use_case_age : ndarray of int64, shape (accounts, IN_FLIGHT)
        Age at ``as_of`` (months since start) of each in-flight use case; -1 pads.
    contract_from : ndarray of int64, shape (accounts,)
        Month the account's contract anniversaries count from (``contract_start_month``, else
        ``start_month``; :mod:`simengine.bookstats.churn_rules`), in horizon months.
    anniversaries, declining_anniversaries : ndarray of float64, shape (accounts,)
        Anniversary boundaries the account survived since its start, and those of them in the
        window that were declining too (the churn fit's exposure terms).
    """

    segment: np.ndarray
    tenure: np.ndarray
    log_usage: np.ndarray
    hist_usage: np.ndarray
    commit: np.ndarray
    term_position: np.ndarray
    consumed: np.ndarray
    price: np.ndarray
    data_from: np.ndarray
    csm_covered: np.ndarray
    se_engaged: np.ndarray
    declining: np.ndarray
    change_count: np.ndarray
    change_sum: np.ndarray
    season_coef: np.ndarray
    ramp_tenure: np.ndarray
    ramp_coef: np.ndarray
    use_cases_done: np.ndarray
    use_case_age: np.ndarray
    contract_from: np.ndarray
    anniversaries: np.ndarray
    declining_anniversaries: np.ndarray


def empty_accounts(n: int = 0, ramp_width: int = 1) -> Accounts:
    """``n`` accounts with neutral history (no usage history, unknown flags, no changes)."""
    zi = np.zeros(n, dtype=np.int64)
    zf = np.zeros(n)
    return Accounts(
        segment=zi.copy(), tenure=zi.copy(), log_usage=zf.copy(),
        hist_usage=np.zeros((n, RING_MONTHS)), commit=zf.copy(), term_position=zi.copy(),
        consumed=zf.copy(), price=np.ones(n), data_from=zi.copy(), csm_covered=np.full(n, -1.0),
        se_engaged=np.full(n, -1.0), declining=zf.copy(), change_count=zf.copy(),
        change_sum=zf.copy(), season_coef=np.zeros((n, 12)),
        ramp_tenure=np.zeros((n, ramp_width), dtype=np.int64), ramp_coef=np.zeros((n, ramp_width)),
        use_cases_done=zf.copy(), use_case_age=np.full((n, IN_FLIGHT), -1, dtype=np.int64),
        contract_from=np.full(n, -1, dtype=np.int64), anniversaries=zf.copy(),
        declining_anniversaries=zf.copy(),
    )  # fmt: skip


class Params(NamedTuple):
    """``seg_params[draw, segment, P_*]`` and ``month_params[draw, segment, month, M_*]``."""

    seg_params: np.ndarray
    month_params: np.ndarray


class Capacity(NamedTuple):
    """Coverable accounts per ``[draw, month]`` (float64; ``inf``: no limit, the share applies).

    ``csm`` = ramped CSMs x accounts covered per CSM; ``se`` = ramped SEs x base-time share x
    accounts covered per SE + ramped adoption specialists x accounts covered.  Neither depends on
    the simulated book, so both are computed before the kernel runs.
    """

    csm: np.ndarray
    se: np.ndarray


#: What the kernel records per (draw, book account) over the first 12 forecast months (or the
#: horizon, if shorter): ``accounts[draw, account, A_*]``.  Only the accounts active at ``as_of``
#: (book rows), so memory is chunk draws x book accounts x len(ACCOUNT_OUTPUTS), reduced per chunk
#: by :mod:`simengine.accounts_forecast`.
ACCOUNT_OUTPUTS: tuple[str, ...] = (
    "revenue_12m",  # revenue in forecast months 0..11
    "churn_month",  # t + 1 when the account churns at the boundary into month t (< horizon); 0: never
    "overage_12m",  # overage billed in months 0..11
    "leak_12m",  # commit left unconsumed at a term end (or churn) in months 0..11
    "new_use_cases_12m",  # use cases started in months 0..11
)
A_REVENUE_12M, A_CHURN_MONTH, A_OVERAGE_12M, A_LEAK_12M, A_USE_CASES_12M = range(
    len(ACCOUNT_OUTPUTS)
)
#: Forecast months the per-account record covers.
ACCOUNT_MONTHS = 12
#: Months since a new logo's start whose revenue ``Outputs.later_revenue`` sums: ``LATER_FROM ..
#: LATER_TO - 1``, its years 2 to 5 (``expansion_multiple``'s numerator).
LATER_FROM, LATER_TO = 12, 60
#: ``Outputs.accounts`` when no per-account record is wanted: no account columns, nothing written.
NO_ACCOUNT_RECORD = np.zeros((1, 0, len(ACCOUNT_OUTPUTS)))


class Outputs(NamedTuple):
    """What the kernel fills (zeroed on entry).

    Attributes
    ----------
    out : ndarray, shape (draws, horizon, segments, len(OUTPUTS))
    cohort : ndarray, shape (draws, horizon or 0, cohort_months)
        New-logo revenue by start month and months since start (the cohort cells).  Its last
        dim sets how many months each new logo is followed from its start (past the horizon if
        need be; 0: none); with no rows (shape ``(draws, 0, cohort_months)``) the logos are
        followed as long but no cell is kept, for runs that write none (a sweep's jobs).
    coverage : ndarray, shape (draws, horizon, len(COVERAGE))
    later_revenue : ndarray, shape (draws,)
        Revenue of the forecast's new logos in months ``LATER_FROM .. LATER_TO - 1`` after their
        start (those of the cohort window, if shorter), summed over the logos: the numerator of
        ``expansion_multiple``, the same bits with or without the cohort cells.
    accounts : ndarray, shape (draws, book accounts, len(ACCOUNT_OUTPUTS))
        The per-account record (``A_*`` slots) of the accounts active at ``as_of``; the default,
        :data:`NO_ACCOUNT_RECORD` (no account columns), switches it off.
    """

    out: np.ndarray
    cohort: np.ndarray
    coverage: np.ndarray
    later_revenue: np.ndarray
    accounts: np.ndarray = NO_ACCOUNT_RECORD


def harmonic_season(season_cos, season_sin) -> np.ndarray:
    """The 12 log effects (January first) of a single harmonic: ``cos * cos(2 pi m / 12) +
    sin * sin(2 pi m / 12)``; shape ``(..., 12)`` for array arguments."""
    angle = 2.0 * np.pi * np.arange(12) / 12.0
    c = np.asarray(season_cos, dtype=float)[..., None]
    s = np.asarray(season_sin, dtype=float)[..., None]
    return c * np.cos(angle) + s * np.sin(angle)


def exponential_ramp_table(ramp_start, ramp_months) -> np.ndarray:
    """``log ramp(k)`` of ``ramp(k) = 1 - (1 - ramp_start) exp(-k / ramp_months)`` at
    ``k = 0 .. RAMP_TABLE_MONTHS - 1``; shape ``(..., RAMP_TABLE_MONTHS)`` for array arguments."""
    k = np.arange(RAMP_TABLE_MONTHS, dtype=np.float64)
    tail0 = 1.0 - np.asarray(ramp_start, dtype=float)[..., None]
    return np.log1p(-tail0 * np.exp(-k / np.asarray(ramp_months, dtype=float)[..., None]))


def unlimited_capacity(draws: int, horizon: int) -> Capacity:
    """Capacity that never binds: coverage shares are the month parameters (rate mode)."""
    return Capacity(np.full((draws, horizon), np.inf), np.full((draws, horizon), np.inf))
