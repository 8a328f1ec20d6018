"""What a synthetic book is drawn from: the true parameters and the generator's options.

:class:`SynthTruth` holds the model's parameters by the names of the posterior variables
(:data:`DEFAULT_TRUTH` is the embedded book's); :class:`SynthOptions` switches on features of a
user's book the default book does not have.  :func:`simengine.data.synth.generate_book` draws a
book from both.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

__all__ = ["DEFAULT_TRUTH", "PER_SEGMENT", "SEGMENT_SHARES", "SynthOptions", "SynthTruth"]

#: Segment mix of the synthetic book, in ``DEFAULT_TRUTH.segments`` order: a typical pyramid of few
#: large and many small customers.
SEGMENT_SHARES = (0.10, 0.30, 0.60)

PER_SEGMENT = (
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
        for name in PER_SEGMENT:
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (n,):
                raise ValueError(
                    f"SynthTruth.{name}: expected {n} values (one per segment), "
                    f"got shape {value.shape}"
                )
            value.setflags(write=False)  # shared by every book drawn from it
            object.__setattr__(self, name, value)
        for f in fields(self):
            if f.name != "segments" and f.name not in PER_SEGMENT:
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
