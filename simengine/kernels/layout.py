"""Names and positions of the flat arrays the kernels read and write.

The kernels see only NumPy arrays; these tuples say which slot of the last axis holds what.  The
``P_*``, ``M_*`` and ``V_*`` integers are module globals, which numba freezes as compile-time constants.
"""

from __future__ import annotations

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
    "season_cos",
    "season_sin",
    "csm_hazard_ratio",
    "se_use_case_ratio",
    "unhealthy_plateau",
    "unhealthy_decay",
    "unhealthy_hazard_ratio",
    "commit_share",
    "commit_months",
    "renewal_ratio",
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
    P_SEASON_COS,
    P_SEASON_SIN,
    P_CSM_HR,
    P_SE_RATIO,
    P_UNHEALTHY_PLATEAU,
    P_UNHEALTHY_DECAY,
    P_UNHEALTHY_HR,
    P_COMMIT_SHARE,
    P_COMMIT_MONTHS,
    P_RENEWAL_RATIO,
) = range(len(SEGMENT_PARAMS))

#: Per-draw, per-month, per-segment drivers (what the go-to-market model sets):
#: ``month_params[draw, segment, month, M_*]`` (segment before month so one account reads a
#: contiguous block).
MONTH_PARAMS: tuple[str, ...] = (
    "new_logo_rate",  # Poisson mean of new logos in the month
    "csm_coverage",  # share of accounts a CSM covers
    "se_coverage",  # share of accounts an SE / adoption specialist supports
    "unhealthy_share",  # chance a new logo or new use case starts unhealthy
    "hazard_multiplier",  # multiplier on every churn hazard (other go-to-market effects)
    "use_case_multiplier",  # multiplier on every use-case rate
    "drift_shift",  # added to the monthly log-usage drift (adjust.usage_growth)
    "price_multiplier",  # multiplier on the unit price (adjust.price)
    "new_logo_multiplier",  # multiplier on the month's new-logo Poisson mean (adjust.new_logos)
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
) = range(len(MONTH_PARAMS))

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
) = range(len(OUTPUTS))

#: Months of trailing history per existing account the kernel needs for NRR/GRR.
HISTORY_MONTHS = 12
