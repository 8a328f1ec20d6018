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
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simengine.data.book import Book, canonical_table
from simengine.data.months import month_number

if TYPE_CHECKING:
    from simengine.config import SynthConfig

__all__ = [
    "DEFAULT_TRUTH",
    "SEGMENT_SHARES",
    "SynthOptions",
    "SyntheticBook",
    "SynthTruth",
    "default_book",
    "generate_book",
    "season_factor",
]

#: Segment mix of the synthetic book, in ``DEFAULT_TRUTH.segments`` order: a typical pyramid of few
#: large and many small customers.
SEGMENT_SHARES = (0.10, 0.30, 0.60)
#: Hazards are capped here so a large hazard ratio cannot make churn certain.
MAX_CHURN_HAZARD = 0.999
#: Annual commit in months of the account's first-plateau monthly revenue (config commit_months).
COMMIT_MONTHS = 10.0

_PER_SEGMENT = (
    "usage_drift", "usage_volatility", "account_sd", "churn_alpha", "churn_beta",
    "use_case_rate", "use_case_size_mu", "use_case_size_sigma", "use_case_ramp_months",
    "ramp_start", "ramp_months", "initial_log_usage_mu", "initial_log_usage_sd", "unit_price",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class SynthTruth:
    """The true parameters a synthetic book is drawn from.

    Names are those of the posterior variables and of ``SegmentAssumptions`` in the config.
    Per-segment fields are float64 arrays of shape (n_segments,) in ``segments`` order (lists are
    converted); the others are floats.  Use ``dataclasses.replace`` to vary one.
    """

    segments: tuple[str, ...]
    usage_drift: np.ndarray  # g_s, monthly drift of log usage
    usage_volatility: np.ndarray  # sigma_s, monthly SD of log usage
    account_sd: np.ndarray  # tau_s, SD of the per-account drift b_i
    churn_alpha: np.ndarray  # theta_i ~ Beta(churn_alpha, churn_beta)
    churn_beta: np.ndarray
    use_case_rate: np.ndarray  # lambda_s, new use cases per account-month
    use_case_size_mu: np.ndarray  # log plateau size of a use case relative to base usage
    use_case_size_sigma: np.ndarray
    use_case_ramp_months: np.ndarray  # time constant of a use case's ramp
    ramp_start: np.ndarray  # first-month usage as a share of plateau
    ramp_months: np.ndarray  # time constant of onboarding
    initial_log_usage_mu: np.ndarray  # plateau log usage of a new account
    initial_log_usage_sd: np.ndarray
    unit_price: np.ndarray  # currency per usage unit
    season_cos: float
    season_sin: float
    csm_hazard_ratio: float  # churn hazard multiplier for CSM-covered accounts
    se_use_case_ratio: float  # use-case rate multiplier for SE-engaged accounts
    csm_share: float  # P(account is CSM-covered)
    se_share: float  # P(account is SE-engaged)
    commit_share: float  # P(account signs an annual commit)

    def __post_init__(self) -> None:
        object.__setattr__(self, "segments", tuple(str(s) for s in self.segments))
        n = len(self.segments)
        for name in _PER_SEGMENT:
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (n,):
                raise ValueError(
                    f"SynthTruth.{name}: expected {n} values (one per segment), "
                    f"got shape {value.shape}"
                )
            value.setflags(write=False)  # shared by every book drawn from it
            object.__setattr__(self, name, value)
        for f in fields(self):
            if f.name != "segments" and f.name not in _PER_SEGMENT:
                object.__setattr__(self, f.name, float(getattr(self, f.name)))

    def to_dict(self) -> dict[str, float | np.ndarray]:
        """``{name: value}`` for every parameter (not ``segments``); arrays are copies."""
        return {
            f.name: (np.array(v) if isinstance(v := getattr(self, f.name), np.ndarray) else v)
            for f in fields(self)
            if f.name != "segments"
        }


# Values in (enterprise, mid_market, smb) order; sources in /work/shared/CALIBRATION.md and the
# seeds it cites.  Together they give a book NRR of roughly 110-125% (see tests/data/test_synth.py).
DEFAULT_TRUTH = SynthTruth(
    segments=("enterprise", "mid_market", "smb"),
    # ~11% / 9% / 6% organic growth a year per surviving account; NRR 110-130% typical
    # (CALIBRATION).
    usage_drift=[0.009, 0.007, 0.005],
    # Big accounts aggregate many workloads, so their month-on-month noise is smaller.
    usage_volatility=[0.05, 0.06, 0.08],
    # Account-level drift spread (~5%/yr SD): enough heterogeneity to fit, small next to the drift.
    account_sd=[0.004, 0.004, 0.004],
    # sBG with alpha = 1: mean monthly churn alpha/(alpha+beta) = 0.6% / 1.2% / 2.5%, i.e. logo
    # churn ~7% / 13% / 26% a year; revenue-weighted GRR in the 85-97% band (CALIBRATION).
    churn_alpha=[1.0, 1.0, 1.0],
    churn_beta=[165.7, 82.3, 39.0],
    # 0.48 / 0.36 / 0.24 new use cases a year; SEs drive adoption in larger accounts (seed 000).
    use_case_rate=[0.04, 0.03, 0.02],
    # A new use case adds ~25% of base usage (median), wide spread.
    use_case_size_mu=[np.log(0.25)] * 3,
    use_case_size_sigma=[0.5, 0.5, 0.5],
    # Use cases and new logos reach plateau within ~3 time constants: day 1/30/90 checkpoints
    # (seed 002) put most of onboarding inside the first quarter.
    use_case_ramp_months=[3.0, 3.0, 3.0],
    ramp_start=[0.3, 0.3, 0.3],
    ramp_months=[3.0, 3.0, 3.0],
    # Plateau usage e^10 / e^8 / e^6 units a month: each segment ~an order of magnitude apart.
    initial_log_usage_mu=[10.0, 8.0, 6.0],
    initial_log_usage_sd=[0.8, 0.9, 1.0],
    # Volume discount for larger accounts.
    unit_price=[0.8, 0.9, 1.0],
    # ~3% seasonal swing, peak around the turn of the year (budget flush), trough mid-year.
    season_cos=0.03,
    season_sin=-0.02,
    # CSM coverage cuts churn by 30%: higher-touch CS in consumption (seed 003); an assumption.
    csm_hazard_ratio=0.7,
    # SE engagement raises use-case adoption 60% (seed 000: SEs drive use-case adoption).
    se_use_case_ratio=1.6,
    # Post-sales coverage today, between the ~5% and ~40% of spend in seed 001.
    csm_share=0.4,
    se_share=0.35,
    # A minority of consumption customers sign an annual commit.
    commit_share=0.3,
)


@dataclass(frozen=True)
class SynthOptions:
    """Features of a generated book that the default book does not have (all off by default, so
    the default book stays byte-identical).  Each one draws from its own random stream.

    Attributes
    ----------
    segment_shares : tuple of float, optional
        Segment mix in ``truth.segments`` order (default :data:`SEGMENT_SHARES`; needed for
        another number of segments).
    noise_nu : float, optional
        Student-t usage steps with this many degrees of freedom (> 2), scaled so their SD is
        ``usage_volatility``; None: normal steps.
    season_profile : sequence of 12 float, or one such sequence per segment, optional
        Monthly log seasonal effects (January first, summing to zero), replacing the harmonic
        ``season_cos`` / ``season_sin`` (e.g. a December peak); one profile per segment (in
        ``truth.segments`` order) gives segments their own seasons.
    zero_month_prob : float
        Probability that an active account's month (after its start month) is skipped.
    near_zero_share : float
        Share of skipped months that bill a tiny amount (``near_zero_level`` of the account's
        level) instead of 0.
    near_zero_level : float
    pre_window_months : int
        Simulate this many months before the exported window and export survivors only: accounts
        that churned before the window are left out, usage before it is dropped, and a
        pre-window account's use-case record is its initial use case dated at the window start.
    full_export : bool
        With ``pre_window_months``: export a *full* accounts table instead, every account ever
        acquired, those that churned before the window included (no usage or use-case rows).
    se_flags_random : bool
        ``se_supported`` of every use case after the first drawn at random with ``se_share``
        (not copied from the account), and no ``se_engaged`` column: SE support with no link to
        the account's adoption (set ``se_use_case_ratio=1`` for a book with no SE effect).
    churn_after_last : bool
        Let accounts churn at the boundary after the last month: their ``churn_month`` is
        ``as_of + 1`` (the "first month without the customer" export convention).
    onboarding_failure : float
        Probability that a new account churns in its start month (``churn_month == start_month``,
        no usage).
    logistic_ramp : (float, float), optional
        ``(midpoint, width)`` months: the onboarding ramp is the logistic
        ``1 / (1 + exp(-(k - midpoint) / width))`` of tenure ``k`` (slow, then fast, then done),
        replacing ``1 - (1 - ramp_start) exp(-k / ramp_months)``; ``(2.5, 0.8)`` starts at 4% and
        is 99% done by month 6.
    """

    segment_shares: tuple[float, ...] | None = None
    noise_nu: float | None = None
    season_profile: tuple[float, ...] | tuple[tuple[float, ...], ...] | None = None
    zero_month_prob: float = 0.0
    near_zero_share: float = 0.0
    near_zero_level: float = 0.001
    pre_window_months: int = 0
    full_export: bool = False
    se_flags_random: bool = False
    churn_after_last: bool = False
    onboarding_failure: float = 0.0
    logistic_ramp: tuple[float, float] | None = None


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
    p = {name: getattr(truth, name)[segment] for name in _PER_SEGMENT}  # per-account values

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
