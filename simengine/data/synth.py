"""A synthetic book drawn from the model itself, with the true parameters kept.

:func:`generate_book` simulates account histories with exactly the monthly equations the simulation
kernel runs and the fit estimates (``DESIGN.md``, *The model*), and returns the book together with
the :class:`SynthTruth` it was drawn from.  That serves two purposes: an embedded default book, so
``simengine run`` works with no data (:func:`default_book`), and parameter-recovery tests for the
PyMC models, which compare posteriors with the truth by name.

The generative model, per account ``i`` of segment ``s``, in calendar month ``t`` at tenure
``k = t - start_i``::

    x[start] = initial_log_usage_mu_s + initial_log_usage_sd_s * z_i
    x[t+1]   = x[t] + usage_drift_s + b_i + usage_volatility_s * eps[t+1],  b_i ~ N(0, account_sd_s)
    U[t]     = exp(x[t]) * season(t) * ramp(k) * (1 + E[t])
    season(t) = exp(season_cos * cos(2 pi m / 12) + season_sin * sin(2 pi m / 12)),  m = t mod 12
    ramp(k)  = 1 - (1 - ramp_start_s) * exp(-k / ramp_months_s)
    E[t]     = sum over use cases j started at a_j <= t of
               m_j * (1 - exp(-(t - a_j + 1) / use_case_ramp_months_s)),  m_j ~ LogNormal(mu, sigma)

New use cases arrive ``Poisson(use_case_rate_s * (se_use_case_ratio if se_engaged))`` per active
month after the start month.  At each month boundary after the start an account churns with
probability ``theta_i * (csm_hazard_ratio if csm_covered)`` (capped below 1), ``theta_i ~
Beta(churn_alpha_s, churn_beta_s)``; ``churn_month`` is the first month without the customer.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simengine.data.book import Book, canonical_table
from simengine.data.months import month_number
from simengine.data.synth_truth import (
    DEFAULT_TRUTH,
    PER_SEGMENT,
    SEGMENT_SHARES,
    SynthOptions,
    SynthTruth,
)

if TYPE_CHECKING:
    from simengine.config import SynthConfig

__all__ = ["SyntheticBook", "default_book", "generate_book", "season_factor"]

#: Hazards are capped here so a large hazard ratio cannot make churn certain.
MAX_CHURN_HAZARD = 0.999
#: Annual commit in months of the account's first-plateau monthly revenue (config commit_months).
COMMIT_MONTHS = 10.0


@dataclass(frozen=True, eq=False)
class SyntheticBook:
    """A generated book, the truth it was drawn from, and the options it was generated with."""

    book: Book
    truth: SynthTruth
    options: SynthOptions = SynthOptions()


def season_factor(months: np.ndarray, season_cos: float, season_sin: float) -> np.ndarray:
    """Multiplicative seasonality of calendar months.

    Parameters
    ----------
    months : numpy.ndarray of int64, shape (...)
        Month numbers (January has ``months % 12 == 0``).
    season_cos, season_sin : float
        Fourier coefficients.

    Returns
    -------
    numpy.ndarray of float64, shape (...)
        ``exp(season_cos * cos(2 pi m / 12) + season_sin * sin(2 pi m / 12))``.
    """
    angle = 2.0 * np.pi * (np.asarray(months) % 12) / 12.0
    return np.exp(season_cos * np.cos(angle) + season_sin * np.sin(angle))


def _stream(seed: int, purpose: str) -> np.random.Generator:
    """A generator keyed by what it is for, so switching one feature off leaves the others' draws
    unchanged (crc32 of the name: stable across runs and Python versions)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]))


def _account_ids(n: int) -> np.ndarray:
    # Zero-padded, so sorting by id keeps generation order.
    width = max(5, len(str(n)))
    return np.array([f"A{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def generate_book(
    n_accounts: int = 2000,
    history_months: int = 36,
    as_of: str | int = "2026-10",
    seed: int = 20261122,
    truth: SynthTruth | None = None,
    coverage: bool = True,
    commits: bool = True,
    use_cases: bool = True,
    options: SynthOptions | None = None,
) -> SyntheticBook:
    """Draw a synthetic book from the model (equations in the module docstring).

    Parameters
    ----------
    n_accounts : int
        Accounts ever acquired in the window; segments drawn with :data:`SEGMENT_SHARES`.
    history_months : int
        Length of the observed window, ending at ``as_of``; start months are uniform over it.
    as_of : str or int
        Last observed month (``YYYY-MM``, a date, or a month number).
    seed : int
        Same seed, same arguments: identical tables.
    truth : SynthTruth, optional
        Parameters to draw from; default :data:`DEFAULT_TRUTH`.
    coverage : bool
        Draw CSM coverage and SE engagement and apply their effects (columns ``csm_covered``,
        ``se_engaged``).  ``False``: nobody is covered, the columns are absent, and churn is a plain
        per-segment sBG.
    commits : bool
        Add ``commit_annual`` and ``contract_start_month``.
    use_cases : bool
        Let new use cases arrive and return the use-case table.  ``False``: usage has no expansion
        term (``E = 0``) and ``book.use_cases`` is None.
    options : SynthOptions, optional
        Features beyond the default book (other segment mixes, Student-t noise, a monthly
        seasonal profile, zero months, a survivors-only export, ...).

    Returns
    -------
    SyntheticBook
        ``.book`` (tables in the Book's fixed form) and ``.truth``.
    """
    truth = DEFAULT_TRUTH if truth is None else truth
    opt = SynthOptions() if options is None else options
    shares = SEGMENT_SHARES if opt.segment_shares is None else tuple(opt.segment_shares)
    if n_accounts < 1 or history_months < 1 or seed < 0:
        raise ValueError(
            f"need n_accounts >= 1, history_months >= 1, seed >= 0; got "
            f"{n_accounts}, {history_months}, {seed}"
        )
    if len(truth.segments) != len(shares):
        raise ValueError(
            f"truth has {len(truth.segments)} segments; the generator draws "
            f"{len(shares)} with shares {shares}"
        )
    last = int(as_of) if isinstance(as_of, int | np.integer) else month_number(as_of)
    n = int(n_accounts)
    window = int(history_months)
    # The simulated span: the exported window, plus the months before it of a survivors-only
    # export.
    horizon = window + int(opt.pre_window_months)
    calendar = last - horizon + 1 + np.arange(horizon, dtype=np.int64)  # (horizon,)
    grid = np.arange(horizon)[None, :]  # month index in the window, broadcast over accounts

    segment = _stream(seed, "segment").choice(len(shares), size=n, p=np.asarray(shares))
    start = _stream(seed, "start_month").integers(0, horizon, size=n)
    p = {name: getattr(truth, name)[segment] for name in PER_SEGMENT}  # per-account values

    effects = _stream(seed, "account_effects")
    account_drift = p["account_sd"] * effects.standard_normal(n)
    churn_theta = effects.beta(p["churn_alpha"], p["churn_beta"])
    initial_x = p["initial_log_usage_mu"] + p["initial_log_usage_sd"] * effects.standard_normal(n)
    flags = _stream(seed, "coverage").random((2, n))
    csm_covered = (flags[0] < truth.csm_share) & coverage
    se_engaged = (flags[1] < truth.se_share) & coverage

    # Churn at the boundary after window month j (start <= j < last window month).
    hazard = np.minimum(
        churn_theta * np.where(csm_covered, truth.csm_hazard_ratio, 1.0), MAX_CHURN_HAZARD
    )
    # The boundary after the last month is at risk only with churn_after_last (churn_month
    # as_of + 1, the export convention).
    at_risk = (grid >= start[:, None]) & (grid < horizon - (0 if opt.churn_after_last else 1))
    churns = at_risk & (_stream(seed, "churn").random((n, horizon)) < hazard[:, None])
    churned = churns.any(axis=1)
    end = np.where(churned, churns.argmax(axis=1) + 1, horizon)  # first window month not a customer
    if opt.onboarding_failure > 0:
        failed = _stream(seed, "onboarding").random(n) < opt.onboarding_failure
        churned = churned | failed
        end = np.where(failed, start, end)
    active = (grid >= start[:, None]) & (grid < end[:, None])

    # Log-usage random walk: cumulative sum of the monthly steps after the start month.
    if opt.noise_nu is None:
        noise = _stream(seed, "usage_noise").standard_normal((n, horizon))
    else:
        nu = float(opt.noise_nu)
        noise = _stream(seed, "usage_noise_t").standard_t(nu, (n, horizon))
        noise *= np.sqrt((nu - 2.0) / nu)  # unit SD, so usage_volatility stays the step SD
    steps = (p["usage_drift"] + account_drift)[:, None] + p["usage_volatility"][:, None] * noise
    log_usage = initial_x[:, None] + np.cumsum(np.where(grid > start[:, None], steps, 0.0), axis=1)

    # New use cases: Poisson counts per account-month after the start, sizes in row-major order.
    rate = p["use_case_rate"] * np.where(se_engaged, truth.se_use_case_ratio, 1.0)
    counts = _stream(seed, "use_case_count").poisson(rate[:, None], size=(n, horizon))
    counts = np.where(active & (grid > start[:, None]) & use_cases, counts, 0)
    case_cell = np.repeat(np.arange(n * horizon), counts.ravel())  # one entry per new use case
    case_account = case_cell // horizon
    sizes = np.exp(
        p["use_case_size_mu"][case_account]
        + p["use_case_size_sigma"][case_account]
        * _stream(seed, "use_case_size").standard_normal(len(case_cell))
    )
    new_size = np.bincount(case_cell, weights=sizes, minlength=n * horizon).reshape(n, horizon)

    # E[t] = S[t] - R[t]: S sums the plateaus started so far, R their unramped remainder, which
    # decays by exp(-1/ramp) a month (R[t] = exp(-1/r) * (R[t-1] + M[t])).
    decay = np.exp(-1.0 / p["use_case_ramp_months"])
    expansion = np.empty((n, horizon))
    started_total = np.zeros(n)
    unramped = np.zeros(n)
    for j in range(horizon):
        started_total += new_size[:, j]
        unramped = decay * (unramped + new_size[:, j])
        expansion[:, j] = started_total - unramped

    tenure = np.maximum(grid - start[:, None], 0)
    if opt.logistic_ramp is None:
        ramp = 1.0 - (1.0 - p["ramp_start"][:, None]) * np.exp(-tenure / p["ramp_months"][:, None])
    else:
        midpoint, width = (float(v) for v in opt.logistic_ramp)
        ramp = 1.0 / (1.0 + np.exp(-(tenure - midpoint) / width))
    if opt.season_profile is None:
        season = season_factor(calendar, truth.season_cos, truth.season_sin)[None, :]
    else:
        profile = np.asarray(opt.season_profile, dtype=np.float64)
        if profile.shape not in ((12,), (len(shares), 12)):
            raise ValueError(
                f"season_profile: 12 effects or one row of 12 per segment; got {profile.shape}"
            )
        if profile.ndim == 1:
            season = np.exp(profile[calendar % 12])[None, :]
        else:
            season = np.exp(profile[segment][:, calendar % 12])
    usage = np.exp(log_usage) * season * ramp * (1.0 + expansion)
    if opt.zero_month_prob > 0:
        # Skipped months: 0, or a tiny share of the level; the latent level carries on.
        draws = _stream(seed, "zero_months").random((2, n, horizon))
        skip = (draws[0] < opt.zero_month_prob) & (grid > start[:, None])
        tiny = draws[1] < opt.near_zero_share
        usage = np.where(skip, np.where(tiny, usage * opt.near_zero_level, 0.0), usage)

    ids = _account_ids(n)
    segment_names = np.array(truth.segments, dtype=object)[segment]
    first_month = calendar[0]
    window_col = horizon - window  # column of the exported window's first month
    if window_col:
        # Survivors-only export: what the window shows.
        active = active & (grid >= window_col)
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "segment": segment_names,
            "start_month": first_month + start,
            "churn_month": pd.arrays.IntegerArray(first_month + end, ~churned),
        }
    )
    if coverage:
        accounts["csm_covered"] = csm_covered
        if not opt.se_flags_random:
            accounts["se_engaged"] = se_engaged
    if commits:
        has_commit = _stream(seed, "commit").random(n) < truth.commit_share
        plateau_revenue = np.exp(initial_x) * p["unit_price"]
        accounts["commit_annual"] = np.where(
            has_commit, np.round(COMMIT_MONTHS * plateau_revenue), 0.0
        )
        accounts["contract_start_month"] = pd.arrays.IntegerArray(first_month + start, ~has_commit)

    # The accounts still customers in the window's first month, or later.
    in_window = ids[end > window_col]
    if window_col and not opt.full_export:
        accounts = accounts[end > window_col].reset_index(drop=True)
    failed_ids = ids[churned & (end == start)]
    row_account, row_month = np.nonzero(active)
    usage_rows = np.round(usage[row_account, row_month], 4)
    usage_table = pd.DataFrame(
        {
            "account_id": ids[row_account],
            "month": calendar[row_month],
            "usage": usage_rows,
            "revenue": np.round(usage_rows * p["unit_price"][row_account], 4),
        }
    )

    case_table = None
    if use_cases:
        # Ids count up per account in arrival order: uc0 is the initial use case.
        first_of_account = np.searchsorted(case_account, case_account, side="left")
        rank = np.arange(len(case_account)) - first_of_account + 1
        case_flags = se_engaged[case_account]
        if opt.se_flags_random:
            case_flags = _stream(seed, "se_flags").random(len(case_account)) < truth.se_share
        case_table = pd.DataFrame(
            {
                "account_id": np.concatenate([ids, ids[case_account]]),
                "use_case_id": np.concatenate(
                    [
                        np.full(n, "uc0", dtype=object),
                        np.char.add("uc", rank.astype(str)).astype(object),
                    ]
                ),
                "start_month": np.concatenate([first_month + start, calendar[case_cell % horizon]]),
                "se_supported": np.concatenate([se_engaged, case_flags]),
            }
        )
        if window_col:
            # A pre-window survivor's record is its initial use case, dated at the window start.
            window_first = first_month + window_col
            initial = case_table["use_case_id"].to_numpy() == "uc0"
            case_table.loc[initial, "start_month"] = np.maximum(
                case_table.loc[initial, "start_month"], window_first
            )
            case_start = case_table["start_month"].to_numpy()
            case_table = case_table[
                (case_start >= window_first) & (initial | (case_start > window_first))
            ]
        if opt.onboarding_failure > 0 or window_col:
            # Only accounts in the export, and no use case of a failed onboarding.
            case_table = case_table[
                case_table["account_id"].isin(in_window)
                & ~case_table["account_id"].isin(failed_ids)
            ]
        case_table = canonical_table(case_table, "use_cases")

    source = f"synthetic(seed={seed}, n_accounts={n}, history_months={window})"
    if opt != SynthOptions():
        source += f" with {opt}"
    book = Book(
        accounts=canonical_table(accounts, "accounts"),
        usage=canonical_table(usage_table, "usage"),
        use_cases=case_table,
        as_of=last,
        source={"accounts": source, "usage": source} | ({"use_cases": source} if use_cases else {}),
    )
    return SyntheticBook(book=book, truth=truth, options=opt)


def default_book(cfg: SynthConfig | None = None) -> Book:
    """The embedded default book (cached: treat its tables as read-only).

    Parameters
    ----------
    cfg : simengine.config.SynthConfig, optional
        ``n_accounts``, ``history_months``, ``as_of``, ``seed``; default 2000 accounts, 36 months
        to 2026-10, seed 20261122.

    Returns
    -------
    Book
    """
    if cfg is None:
        return _cached_book(2000, 36, "2026-10", 20261122)
    return _cached_book(int(cfg.n_accounts), int(cfg.history_months), str(cfg.as_of), int(cfg.seed))


@lru_cache(maxsize=8)
def _cached_book(n_accounts: int, history_months: int, as_of: str, seed: int) -> Book:
    return generate_book(n_accounts, history_months, as_of, seed).book
