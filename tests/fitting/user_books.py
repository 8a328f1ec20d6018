"""Generated books the defaults do not describe, for the recovery tests (issue 8).

One book holds every feature a user's export brings that the embedded default book does not: its
own segment names and prices, Student-t usage steps, a December peak, zero and near-zero months,
a survivors-only export where about a third of the accounts predate the window, use cases flagged
``se_supported`` at random with no SE effect, churn months one past the last usage month, and
failed onboardings.
"""

from __future__ import annotations

import numpy as np
from scipy.special import betaln

from simengine.data import DEFAULT_TRUTH, generate_book
from simengine.data.synth import SyntheticBook
from simengine.data.synth_truth import SynthOptions

#: December +15%, January -2%, the other months -1.3% each: sums to zero.
DECEMBER_PEAK = tuple([-0.02] + [-0.013] * 10 + [0.15])

USER_TRUTH = DEFAULT_TRUTH.__class__(
    **(
        DEFAULT_TRUTH.to_dict()
        | {
            "usage_drift": [0.012, 0.008, 0.004],
            "usage_volatility": [0.07, 0.06, 0.05],
            # mean monthly churn 3.0% / 1.5% / 0.8%; concentration 33 / 80 / 125
            "churn_alpha": [1.0, 1.2, 1.0],
            "churn_beta": [32.0, 78.8, 124.0],
            "unit_price": [2.5, 1.6, 1.1],
            "initial_log_usage_mu": [5.0, 7.0, 9.0],
            "se_use_case_ratio": 1.0,  # SE support has no effect on adoption
        }
    ),
    segments=("starter", "growth", "scale"),
)

USER_OPTIONS = SynthOptions(
    segment_shares=(0.5, 0.3, 0.2),
    noise_nu=5.0,
    season_profile=DECEMBER_PEAK,
    zero_month_prob=0.03,
    near_zero_share=0.2,
    near_zero_level=0.001,
    pre_window_months=18,
    se_flags_random=True,
    churn_after_last=True,
    onboarding_failure=0.03,
)


def user_book(n_accounts: int = 3000, seed: int = 808) -> SyntheticBook:
    """The user-shaped book: 36 exported months to 2026-09, 18 more simulated before them."""
    return generate_book(
        n_accounts=n_accounts,
        history_months=36,
        as_of="2026-09",
        seed=seed,
        truth=USER_TRUTH,
        options=USER_OPTIONS,
    )


def survival(alpha, beta, months: int):
    """sBG survival through ``months`` boundaries, ``B(alpha, beta + t) / B(alpha, beta)``."""
    return np.exp(betaln(alpha, beta + months) - betaln(alpha, beta))
