"""The per-account record (``Outputs.accounts``): kernel against reference, and by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws

from . import oracle as ref
from ._book import make_book, make_params, zeros_out
from .oracle import simulate_draws_reference


def run_record(fn, seed, seg_params, month_params, book, *, capacity=None, month_of_year0=3):
    """Call ``fn`` with a per-account record on; return ``(out, accounts)``."""
    draws, n_seg, horizon = month_params.shape[:3]
    outputs = zeros_out(draws, horizon, n_seg, 6)._replace(
        accounts=np.zeros((draws, book.segment.size, len(L.ACCOUNT_OUTPUTS)))
    )
    if capacity is None:
        capacity = L.unlimited_capacity(draws, horizon)
    else:
        capacity = L.Capacity(
            *(np.ascontiguousarray(np.broadcast_to(np.asarray(c, float), (draws, horizon)))
              for c in capacity)
        )  # fmt: skip
    fn(np.uint64(seed), 2, book, L.Params(seg_params, month_params), capacity, month_of_year0,
       outputs)  # fmt: skip
    return outputs.out, outputs.accounts


# name: (accounts, horizon, draws, segment and month overrides, capacity or None)
CASES = {
    # Commits that renew short, use cases, churn rising through the year, zero months, decline.
    "commits_churn_use_cases": (
        40,
        18,
        8,
        {"commit_share": 1.0, "renewal_ratio": 0.6, "use_case_rate": 0.4, "season_cos": 0.3,
         "zero_month_prob": 0.1, "churn_beta": 8.0},
        {"hazard_multiplier": np.linspace(0.5, 4.0, 18), "csm_coverage": 0.9,
         "price_multiplier": np.r_[np.ones(9), np.full(9, 1.1)], "drift_shift": 0.01},
        None,
    ),
    # Coverage from a binding team: the SE share moves use-case rates and their health.
    "capacity": (
        40,
        14,
        6,
        {"use_case_rate": 0.3, "churn_beta": 10.0},
        {"csm_coverage": 1.0, "se_coverage": 1.0},
        (np.linspace(35.0, 10.0, 14), 20.0),
    ),
    # A horizon shorter than the record's 12 months.
    "short_horizon": (40, 7, 8, {"use_case_rate": 0.3, "churn_beta": 6.0}, {}, None),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_account_record_matches_reference(case):
    n_accounts, horizon, draws, seg_over, month_over, cap = CASES[case]
    book = make_book(n_accounts)
    seg_params, month_params = make_params(draws, horizon, segment=seg_over, month=month_over)
    out_k, acc_k = run_record(simulate_draws, 17, seg_params, month_params, book, capacity=cap)
    out_r, acc_r = run_record(
        simulate_draws_reference, 17, seg_params, month_params, book, capacity=cap
    )
    # Counts are integers from the same random numbers and comparisons: exactly equal.
    for a in (L.A_CHURN_MONTH, L.A_USE_CASES_12M):
        np.testing.assert_array_equal(acc_k[..., a], acc_r[..., a], L.ACCOUNT_OUTPUTS[a])
    # Money is summed month by month in the same order on both sides, but NumPy's exp/log and
    # libm's may differ by an ulp: about one value in ten differs, by <= 2.2e-15 relative for
    # revenue.  Overage and leak are differences (consumed - commit), so cancellation scales that
    # by consumed / overage; on these seeds the worst is 5.2e-15, and 1e-12 leaves that room while
    # any month, term or account missed on one side is off by far more.  atol=0: an exact zero is
    # a sum of no terms (no commit, no overage) on both sides.
    for a in (L.A_REVENUE_12M, L.A_OVERAGE_12M, L.A_LEAK_12M):
        np.testing.assert_allclose(
            acc_k[..., a], acc_r[..., a], rtol=1e-12, atol=0, err_msg=L.ACCOUNT_OUTPUTS[a]
        )
    # The record sums to the monthly outputs of the book's accounts where they are the same thing.
    months = min(horizon, L.ACCOUNT_MONTHS)
    churned = (acc_k[..., L.A_CHURN_MONTH] > 0).sum(axis=1)
    assert np.all(churned <= out_k[:, :, :, L.V_CHURNED].sum(axis=(1, 2)))
    assert np.all(
        acc_k[..., L.A_USE_CASES_12M].sum(axis=1)
        <= out_k[:, :months, :, L.V_NEW_USE_CASES].sum(axis=(1, 2))
    )

    # The comparison exercises the paths it claims to.
    churn = acc_k[..., L.A_CHURN_MONTH]
    assert (churn > 0).any() and (churn == 0).any()
    if horizon > L.ACCOUNT_MONTHS:
        assert (churn > L.ACCOUNT_MONTHS).any()  # churn after the record's 12 months counts too
    assert acc_k[..., L.A_USE_CASES_12M].sum() > 0
    assert (acc_k[..., L.A_OVERAGE_12M] > 0).any() and (acc_k[..., L.A_LEAK_12M] > 0).any()
    # An account still there after the record's months skipped all of them with probability
    # zero_month_prob ** months <= 0.1 ** 7: its revenue is positive.
    stayed = (churn == 0) | (churn > months)
    assert (acc_k[..., L.A_REVENUE_12M][stayed] > 0).all()


def test_reference_record_does_not_depend_on_chunking(monkeypatch):
    book = make_book(30)
    seg_params, month_params = make_params(6, 13, segment={"use_case_rate": 0.3})
    whole = run_record(simulate_draws_reference, 5, seg_params, month_params, book)[1]
    monkeypatch.setattr(ref, "_LANES_PER_CHUNK", 100)  # about one draw per chunk
    chunked = run_record(simulate_draws_reference, 5, seg_params, month_params, book)[1]
    np.testing.assert_array_equal(whole, chunked)


def test_reference_without_record_leaves_the_default_untouched():
    book = make_book(20)
    seg_params, month_params = make_params(3, 12)
    outputs = zeros_out(3, 12, 3, 6)
    simulate_draws_reference(np.uint64(1), 0, book, L.Params(seg_params, month_params),
                             L.unlimited_capacity(3, 12), 3, outputs)  # fmt: skip
    assert outputs.accounts is L.NO_ACCOUNT_RECORD and outputs.accounts.shape == (1, 0, 5)


def _hand_path(book, sp, month_params, month_of_year0):
    """Revenue ``[account, t]`` of months 0..11 by the closed form of a noiseless account.

    With no volatility, no account effect, no churn, no new use cases and no zero months, the
    level grows by ``g + shift[t]`` a month from the ``x`` that backs out season, ramp and past
    use cases at ``as_of``; the ramp follows its table by tenure and the past use cases' ramp gap
    shrinks geometrically.
    """
    n = book.segment.size
    rev = np.zeros((n, 12))
    for i in range(n):
        p = sp[book.segment[i]]
        mp = month_params[book.segment[i]]
        season = np.exp(p[L.P_SEASON0 : L.P_SEASON0 + 12])
        table = np.r_[p[L.P_RAMP0 : L.P_RAMP0 + L.RAMP_TABLE_MONTHS], 0.0]  # log ramp(k)

        def ramp_at(k, table=table):
            return math.exp(table[min(k, L.RAMP_TABLE_MONTHS)])

        tail = 1.0 - ramp_at(book.tenure[i])
        mean_size = math.exp(p[L.P_UC_SIZE_MU] + 0.5 * p[L.P_UC_SIZE_SIGMA] ** 2)
        q = math.exp(-1.0 / p[L.P_UC_RAMP])
        ages = book.use_case_age[i][book.use_case_age[i] >= 0]
        size = mean_size * (book.use_cases_done[i] + ages.size)
        gap = mean_size * sum(q ** (a + 1) for a in ages)
        x0 = (
            book.log_usage[i]
            - math.log(season[(month_of_year0 + 11) % 12])
            - math.log(1.0 - tail)
            - math.log1p(size - gap)
        )
        for t in range(12):
            x = x0 + (t + 1) * p[L.P_DRIFT] + mp[: t + 1, L.M_DRIFT_SHIFT].sum()
            ramp = ramp_at(book.tenure[i] + t + 1)
            usage = math.exp(x) * season[(month_of_year0 + t) % 12] * ramp
            usage *= 1.0 + size - gap * q ** (t + 1)
            rev[i, t] = usage * book.price[i] * mp[t, L.M_PRICE_MULT]
    return rev


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_noiseless_record_equals_the_hand_sum(fn):
    book = make_book(24)
    quiet = {
        "usage_volatility": 0.0, "account_sd": 0.0, "churn_alpha": 1e-9, "churn_beta": 1e9,
        "use_case_rate": 0.0, "zero_month_prob": 0.0, "usage_decline_hazard_ratio": 1.0,
        "season_cos": 0.2, "season_sin": -0.1, "renewal_ratio": 0.8,
    }  # fmt: skip
    month = {"drift_shift": np.linspace(-0.01, 0.02, 14), "new_logo_rate": 0.0,
             "price_multiplier": np.r_[np.ones(5), np.full(9, 1.07)]}  # fmt: skip
    seg_params, month_params = make_params(3, 14, segment=quiet, month=month, jitter=0.0)
    rev = _hand_path(book, seg_params[0], month_params[0], 5)  # does not depend on commits
    # Commits both above and below a year's consumption, at several points of their terms.
    n = book.segment.size
    term_position = np.arange(n) % 12
    commit = np.where(
        np.arange(n) % 3 == 2, 0.0, rev.sum(axis=1) * np.where(np.arange(n) % 2, 1.3, 0.7)
    )
    consumed = np.where(commit > 0, term_position * rev[:, 0], 0.0)
    book = book._replace(commit=commit, term_position=term_position, consumed=consumed)
    acc = run_record(fn, 9, seg_params, month_params, book, month_of_year0=5)[1]
    # Drift added month by month vs (t + 1) x drift at once, exp of x ~ 8-10: a few ulps of the
    # level, ~1e-15 relative; 1e-11 leaves room and still catches any month or factor missed.
    for d in range(3):  # no randomness left: every draw is the same
        np.testing.assert_allclose(acc[d, :, L.A_REVENUE_12M], rev.sum(axis=1), rtol=1e-11)
        assert not acc[d, :, L.A_CHURN_MONTH].any() and not acc[d, :, L.A_USE_CASES_12M].any()
    # Commits by hand: the term ends in month 11 - k (k months already consumed) with leak
    # max(C - consumed), the part of the term's consumption beyond C is overage, and the renewal
    # commit renewal_ratio x consumption is then consumed by months 12 - k .. 11.
    leak, overage = np.zeros(book.segment.size), np.zeros(book.segment.size)
    for i in np.flatnonzero(book.commit > 0):
        end = 11 - book.term_position[i]
        consumed = book.consumed[i] + rev[i, : end + 1].sum()
        leak[i] = max(book.commit[i] - consumed, 0.0)
        overage[i] = max(consumed - max(book.commit[i], book.consumed[i]), 0.0)
        overage[i] += max(rev[i, end + 1 :].sum() - 0.8 * consumed, 0.0)
    assert (leak > 0).any() and (overage > 0).any()  # both sides of the rule are exercised
    np.testing.assert_allclose(acc[0, :, L.A_LEAK_12M], leak, rtol=1e-11, atol=1e-9)
    np.testing.assert_allclose(acc[0, :, L.A_OVERAGE_12M], overage, rtol=1e-11, atol=1e-9)
