"""Cost of a draw's account initialisation: the block functions against the scalar ones.

Run ``python benchmarks/bench_init.py`` (``--accounts``, ``--draws``).  Prints nanoseconds of CPU
time per account, one thread, for the book accounts (:func:`simengine.kernels.init.init_book_block`
per segment against the oracle ``tests.kernels.setup_oracle.init_existing`` account by account) and for new
logos (:func:`~simengine.kernels.init_logos.init_logo_block` per segment over all start months against
``init_new_logo``), on a synthetic book of 3 segments (:func:`inputs`:
tenures up to 5 years, two ramp terms per account, a third of them with a use case in flight)
with 20 logos per segment and month.  Issue 11 asked for >= 2x on both.
"""

from __future__ import annotations

import argparse
import math
import time

import _repo  # noqa: F401  (the repository root on sys.path: the tests' oracles)
import numpy as np

from simengine.bookstats import ChurnRules
from simengine.kernels import layout as L
from simengine.kernels import state as S
from simengine.kernels._jit import jit
from simengine.kernels.init import BookSegment, book_template, init_book_block
from simengine.kernels.init_logos import LogoRun, init_logo_block
from simengine.kernels.rng import draw_key
from simengine.kernels.state import Storage
from tests.kernels import setup_oracle as O

SEED = np.uint64(20261122)
SEGMENT = {
    "usage_drift": 0.007, "usage_volatility": 0.06, "account_sd": 0.004, "churn_alpha": 0.6,
    "churn_beta": 40.0, "use_case_rate": 0.05, "use_case_size_mu": -1.4,
    "use_case_size_sigma": 0.5, "use_case_ramp_months": 3.0, "ramp_start": 0.3,
    "ramp_months": 3.0, "initial_log_usage_mu": 8.0, "initial_log_usage_sd": 1.0,
    "unit_price": 1.0, "csm_hazard_ratio": 0.7, "se_use_case_ratio": 1.5,
    "unhealthy_plateau": 0.6, "unhealthy_decay": 0.02, "unhealthy_hazard_ratio": 1.5,
    "commit_share": 0.3, "commit_months": 10.0, "renewal_ratio": 0.9,
    "usage_decline_hazard_ratio": 1.5, "zero_month_prob": 0.02, "onboarding_failure": 0.03,
    "decline_threshold": ChurnRules().decline_threshold,
    "anniversary_hazard_ratio": 1.5,
}  # fmt: skip


def inputs(n_accounts, horizon, draws, seed=1):
    """``(book, seg_params, month_params)``: 3 segments, alpha jittered around 0.6 by draw (so
    about half the segment-draws take the gamma's boost path, as fitted books do)."""
    rng = np.random.default_rng(seed)
    n_seg = 3
    values = dict.fromkeys(L.SEGMENT_PARAMS, 0.0) | SEGMENT
    seg_params = np.empty((draws, n_seg, len(L.SEGMENT_PARAMS)))
    for i, name in enumerate(L.SEGMENT_PARAMS):
        seg_params[..., i] = values[name]
    seg_params[..., L.P_CHURN_ALPHA] *= rng.uniform(0.5, 2.0, (draws, n_seg))
    month_params = np.empty((draws, n_seg, horizon, len(L.MONTH_PARAMS)))
    for i, name in enumerate(L.MONTH_PARAMS):
        month_params[..., i] = L.MONTH_DEFAULTS.get(name, 1.0)  # rates unused: counts are given
    tenure = rng.integers(0, 60, n_accounts)
    log_usage = rng.normal(8.0, 1.0, n_accounts)
    age = np.full((n_accounts, L.IN_FLIGHT), -1, dtype=np.int64)
    age[::3, 0] = rng.integers(0, 12, len(age[::3]))
    book = L.empty_accounts(n_accounts, ramp_width=2)._replace(
        segment=rng.integers(0, n_seg, n_accounts), tenure=tenure, log_usage=log_usage,
        hist_usage=np.exp(log_usage[:, None]) * rng.uniform(0.8, 1.2, (n_accounts, 24)),
        csm_covered=rng.integers(-1, 2, n_accounts).astype(float),
        change_count=np.minimum(tenure, 36).astype(float),
        change_sum=np.minimum(tenure, 36) * rng.normal(0.01, 0.01, n_accounts),
        season_coef=rng.integers(-1, 2, (n_accounts, 12)).astype(float),
        ramp_tenure=np.stack([tenure, np.maximum(tenure - 36, 0)], axis=1),
        ramp_coef=np.where(tenure[:, None] > 0, np.array([[1.0, -1.0]]), 0.0),
        use_case_age=age,
    )  # fmt: skip
    return book, seg_params, month_params


@jit
def _constants(sp):
    log_season = math.log(math.exp(sp[L.P_SEASON0 + 11]))
    mean_size = math.exp(sp[L.P_UC_SIZE_MU] + 0.5 * sp[L.P_UC_SIZE_SIGMA] ** 2)
    return log_season, mean_size, math.exp(-1.0 / sp[L.P_UC_RAMP])


@jit
def book_blocks(tmpl, seg_params, draws, st, it, rs, ring, uring):
    for d in range(draws):
        lo = 0
        for s in range(seg_params.shape[1]):
            log_season, mean_size, q = _constants(seg_params[d, s])
            lo = init_book_block(tmpl, s, lo, draw_key(SEED, d), seg_params[d, s],
                                 BookSegment(log_season, mean_size, q),
                                 Storage(st, it, rs, ring, uring))  # fmt: skip


@jit
def book_scalar(acc, covered_share, seg_params, draws, st, it, rs, ring, uring):
    for d in range(draws):
        for i in range(acc.segment.shape[0]):
            sp = seg_params[d, acc.segment[i]]
            log_season, mean_size, q = _constants(sp)
            O.init_existing(st[:, i], rs[:, i], it[:, i], ring[:, i], uring[:, i], SEED, d, i,
                            acc, sp, covered_share, log_season, mean_size, q)  # fmt: skip


@jit
def logo_blocks(seg_params, month_params, counts, draws, st, it, rs, ring, uring, out):
    for d in range(draws):
        lo = 0
        for s in range(seg_params.shape[1]):
            sp = seg_params[d, s]
            run = LogoRun(s, 0, counts.shape[0], counts[:, s], S.mean_first_year_ramp(sp))
            lo = init_logo_block(lo, draw_key(SEED, d), run, sp, month_params[d, s], out,
                                 Storage(st, it, rs, ring, uring))  # fmt: skip


@jit
def logo_scalar(seg_params, month_params, counts, draws, st, it, rs, ring, uring, out):
    for d in range(draws):
        i = 0
        for t in range(counts.shape[0]):
            for s in range(seg_params.shape[1]):
                sp = seg_params[d, s]
                for k in range(counts[t, s]):
                    O.init_new_logo(st[:, i], rs[:, i], it[:, i], ring[:, i], uring[:, i], SEED,
                                    d, t, s, k, sp, month_params[d, s, t],
                                    S.mean_first_year_ramp(sp), out)  # fmt: skip
                    i += 1


def _arrays(n):
    return (
        np.zeros((S.F_COUNT, n)),
        np.zeros((S.J_COUNT, n), dtype=np.int64),
        np.zeros((3, n), dtype=np.uint64),
        np.zeros((L.RING_MONTHS, n)),
        np.zeros((8, n)),
    )


def _ns_per_account(fn, args, draws, per_draw, repeat=3):
    fn(*args(1))  # compile (or load from the cache)
    best = math.inf
    for _ in range(repeat):
        c0 = time.process_time()
        fn(*args(draws))
        best = min(best, time.process_time() - c0)
    return best / draws / per_draw * 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--draws", type=int, default=200)
    a = parser.parse_args(argv)
    horizon = 36
    book, sp, mp = inputs(a.accounts, horizon, a.draws)
    tmpl = book_template(book, sp.shape[1])
    counts = np.full((horizon, sp.shape[1]), 20, dtype=np.int64)
    n_logos = int(counts.sum())
    out = np.zeros((horizon, sp.shape[1], len(L.OUTPUTS)))
    book_arrays, logo_arrays = _arrays(a.accounts), _arrays(n_logos)
    rows = [
        ("book accounts", a.accounts,
         _ns_per_account(book_blocks, lambda d: (tmpl, sp, d, *book_arrays), a.draws, a.accounts),
         _ns_per_account(book_scalar, lambda d: (book, tmpl.covered_share, sp, d, *book_arrays),
                         a.draws, a.accounts)),
        ("new logos", n_logos,
         _ns_per_account(logo_blocks, lambda d: (sp, mp, counts, d, *logo_arrays, out), a.draws,
                         n_logos),
         _ns_per_account(logo_scalar, lambda d: (sp, mp, counts, d, *logo_arrays, out), a.draws,
                         n_logos)),
    ]  # fmt: skip
    print(f"{'':14s} {'per draw':>9s} {'block ns':>9s} {'scalar ns':>10s} {'speed-up':>9s}")
    for name, n, block, scalar in rows:
        print(f"{name:14s} {n:9d} {block:9.1f} {scalar:10.1f} {scalar / block:8.2f}x")


if __name__ == "__main__":
    main()
