"""The block initialisation (kernels.init) against the one-account-at-a-time oracle
(tests/kernels/setup_oracle.py): same streams, same integers, the same floats up to the vectorised logs and exps."""

from __future__ import annotations

import numpy as np
import pytest

from simengine.kernels import layout as L
from simengine.kernels import rng
from simengine.kernels import state as S
from simengine.kernels.init import BookSegment, book_template, init_book_block
from simengine.kernels.init_logos import LogoRun, init_logo_block
from simengine.kernels.state import Storage

from . import setup_oracle as O
from ._book import make_book, make_params

# Fields the block functions compute with vlog / vlog1p / vexp instead of libm: a few ulp each
# (tests/kernels/test_vlog.py, test_vexp.py), so 1e-12 relative is ~5000 ulp of slack for the
# few operations that follow them, and a wrong formula is off by far more.
APPROX_BOOK = (S.F_X, S.F_THRESHOLD, S.F_UC_GAP, S.F_CHURN_RATE)
APPROX_LOGO = (S.F_THRESHOLD, S.F_UC_GAP, S.F_CHURN_RATE, S.F_COMMIT)
RTOL = 1e-12
SEED = np.uint64(77)

CASES = {
    "default": {},
    # alpha < 1: the alpha gamma's U**(1/a) boost (vectorised); beta < 1: the beta gamma's (the
    # scalar pow) for logos and for book accounts of tenure 0; no skipped months.
    "boosts": {"churn_alpha": 0.3, "churn_beta": 0.6, "zero_month_prob": 0.0},
    # Every month skipped; many failed onboardings and commits.
    "extremes": {"zero_month_prob": 1.0, "onboarding_failure": 0.5, "commit_share": 0.6},
    # A rare skip (a long geometric gap) and a drift with no account spread (tau = 0).
    "rare": {"zero_month_prob": 1e-5, "account_sd": 0.0},
}


def _fresh(n):
    """Arrays of ``n`` positions filled with values no init writes, to catch a slot left out."""
    return (
        np.full((S.F_COUNT, n), np.nan),
        np.full((S.J_COUNT, n), -7, dtype=np.int64),
        np.full((3, n), 12345, dtype=np.uint64),
        np.full((L.RING_MONTHS, n), np.nan),
        np.full((8, n), np.nan),
    )


def _dkey(draw):
    """The draw's key, as the kernel derives it."""
    return np.uint64(rng.draw_key(SEED, draw))  # numba hands a uint64 back as a Python int


def _segment_constants(sp, month_of_year0):
    season = np.exp(sp[L.P_SEASON0 : L.P_SEASON0 + 12])
    log_season = np.log(season[(month_of_year0 + 11) % 12])
    mean_size = np.exp(sp[L.P_UC_SIZE_MU] + 0.5 * sp[L.P_UC_SIZE_SIGMA] ** 2)
    q = np.exp(-1.0 / sp[L.P_UC_RAMP])
    return log_season, mean_size, q


def _compare(block, scalar, approx):
    st, it, rs, ring, uring = block
    f, ist, r, ring_s, uring_s = scalar
    for k in range(S.F_COUNT):
        if k in approx:
            np.testing.assert_allclose(st[k], f[k], rtol=RTOL, atol=1e-300, err_msg=f"field {k}")
        else:
            np.testing.assert_array_equal(st[k], f[k], err_msg=f"field {k}")
    np.testing.assert_array_equal(it[: S.I_COUNT], ist)
    np.testing.assert_array_equal(rs, r)
    np.testing.assert_array_equal(ring, ring_s)
    np.testing.assert_array_equal(uring, uring_s)


@pytest.mark.parametrize("case", sorted(CASES))
def test_book_block_matches_init_existing(case):
    book = make_book(90, 3, seed=4)
    seg_params, _ = make_params(4, 6, 3, seed=5, segment=CASES[case])
    n_seg = seg_params.shape[1]
    tmpl = book_template(book, n_seg)
    rows = [np.flatnonzero(book.segment == s) for s in range(n_seg)]
    for draw in range(seg_params.shape[0]):
        for s in range(n_seg):
            sp = seg_params[draw, s]
            log_season, mean_size, q = _segment_constants(sp, 3)
            n = rows[s].size
            lo = 5  # a block that does not start at position 0
            block = _fresh(lo + n + 3)
            seg = BookSegment(log_season, mean_size, q)
            end = init_book_block(tmpl, s, lo, _dkey(draw), sp, seg, Storage(*block))
            assert end == lo + n
            st, it, rs, ring, uring = block
            assert np.isnan(st[:, :lo]).all() and np.isnan(st[:, end:]).all()  # nothing outside
            np.testing.assert_array_equal(it[S.J_ROW, lo:end], rows[s])
            assert (it[S.J_EXIST, lo:end] == 1).all() and (it[S.J_ALIVE, lo:end] == 1).all()
            scalar = (
                np.empty((S.F_COUNT, n)),
                np.empty((S.I_COUNT, n), dtype=np.int64),
                np.empty((3, n), dtype=np.uint64),
                np.empty((L.RING_MONTHS, n)),
                np.empty((8, n)),
            )
            for k, i in enumerate(rows[s]):
                O.init_existing(
                    scalar[0][:, k], scalar[2][:, k], scalar[1][:, k], scalar[3][:, k],
                    scalar[4][:, k], SEED, draw, i, book, sp, tmpl.covered_share, log_season,
                    mean_size, q,
                )  # fmt: skip
            view = tuple(a[:, lo:end] for a in block)
            _compare(view, scalar, APPROX_BOOK)


@pytest.mark.parametrize("case", sorted(CASES))
def test_logo_block_matches_init_new_logo(case):
    horizon, n_seg = 7, 3
    seg_params, month_params = make_params(3, horizon, n_seg, seed=6, segment=CASES[case])
    rng = np.random.default_rng(8)
    for draw in range(seg_params.shape[0]):
        counts = rng.integers(0, 6, (horizon, n_seg))
        counts[2] = 0  # a month without logos
        out_block = np.zeros((horizon, n_seg, len(L.OUTPUTS)))
        out_scalar = np.zeros_like(out_block)
        for s in range(n_seg):
            sp, mp = seg_params[draw, s], month_params[draw, s]
            mean_ramp = S.mean_first_year_ramp(sp)
            n = int(counts[:, s].sum())
            block = _fresh(n + 2)
            lo = 2
            # Two runs (months 0..3 and 4..6), as a caller staging month by month would do.
            first = LogoRun(s, 0, 4, counts[:, s].copy(), mean_ramp)
            second = LogoRun(s, 4, horizon, counts[:, s].copy(), mean_ramp)
            mid = init_logo_block(lo, _dkey(draw), first, sp, mp, out_block, Storage(*block))
            end = init_logo_block(mid, _dkey(draw), second, sp, mp, out_block, Storage(*block))
            assert end == lo + n
            scalar = (
                np.empty((S.F_COUNT, n)),
                np.empty((S.I_COUNT, n), dtype=np.int64),
                np.empty((3, n), dtype=np.uint64),
                np.empty((L.RING_MONTHS, n)),
                np.empty((8, n)),
            )
            j = 0
            for t in range(horizon):
                for k in range(counts[t, s]):
                    O.init_new_logo(
                        scalar[0][:, j], scalar[2][:, j], scalar[1][:, j], scalar[3][:, j],
                        scalar[4][:, j], SEED, draw, t, s, k, sp, mp[t], mean_ramp, out_scalar,
                    )  # fmt: skip
                    j += 1
            assert (block[1][S.I_COUNT :] == -7).all()  # a logo's J_* are the caller's
            view = tuple(a[:, lo:end] for a in block)
            _compare(view, scalar, APPROX_LOGO)
        np.testing.assert_allclose(out_block, out_scalar, rtol=RTOL)
        assert (out_block[..., L.V_BOOKINGS] > 0).sum() == (counts > 0).sum()


def test_template_lays_out_the_book_by_segment():
    book = make_book(25, 3, seed=9)
    tmpl = book_template(book, 4)  # a segment without book accounts
    np.testing.assert_array_equal(tmpl.start, [0, 9, 17, 25, 25])
    np.testing.assert_array_equal(tmpl.row, np.argsort(book.segment, kind="stable"))
    np.testing.assert_array_equal(tmpl.ring, (book.hist_usage * book.price[:, None])[tmpl.row].T)
    block = _fresh(3)
    sp = make_params(1, 2, 4)[0][0, 3]
    assert (
        init_book_block(tmpl, 3, 1, _dkey(0), sp, BookSegment(0.0, 1.0, 0.5), Storage(*block)) == 1
    )
    assert np.isnan(block[0]).all()


def test_account_key_is_the_stream_key_of_purpose_0():
    for seed, draw in ((SEED, 0), (np.uint64(2**63 + 5), 123_456)):
        dk = np.uint64(rng.draw_key(seed, draw))  # numba hands a uint64 back as a Python int
        for account in (0, 1, 1532, rng.new_logo_account(35, 2, 17), (1 << 40) + (1 << 36)):
            assert rng.account_key(dk, account) == rng.stream_key(seed, draw, account, 0)
