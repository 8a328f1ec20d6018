"""Throughput and memory of the Monte Carlo core against a NumPy reference and a floor kernel.

Run ``python benchmarks/bench_core.py`` (``make bench``); ``--quick`` shrinks every size.  One run
prints, for three sizes (accounts x months x draws) at 1 and 2 numba threads:

- account-months per second (existing accounts x months x draws / seconds) of the core kernel,
  the floor kernel and the NumPy reference, and the ratios core/reference and core/floor;
- compile time of the core (first call in this process vs a second call);
- peak memory of the core at each size and at 10,000 x 60 x 2,000, each in its own subprocess
  (tracemalloc peak of Python allocations, and the growth of the process's maxrss).

The *floor* draws, for every account and month, one standard normal from the kernel's own usage
stream (``stream_key`` + ``purpose_key`` + the inlined ziggurat) and sums them: the cheapest loop
that still pays for the random numbers the model needs.  The *numpy floor* does the same with
``numpy.random.Generator.standard_normal`` inside numba (one Generator per thread): the yardstick
of issue 11.  ``--e2e DRAWS`` adds ``simengine.simulate()`` of the default book end to end (go-to-
market and cohort tracking on) and the kernel inside it, against the numpy floor for the same
account-months, in wall and in CPU time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import fields

import _repo  # noqa: F401  (the repository root on sys.path: the tests' oracles)
import numba
import numpy as np
from numba import prange

from simengine.bookstats import ChurnRules
from simengine.config import ModelConfig, SegmentAssumptions
from simengine.kernels import layout as L
from simengine.kernels._jit import jit
from simengine.kernels.account import simulate_draws
from simengine.kernels.rng import PURPOSE_USAGE, next_normal, purpose_key, stream_key
from tests.kernels.oracle import simulate_draws_reference

SIZES = [(2_000, 36, 500), (10_000, 60, 200), (2_000, 120, 500)]
QUICK_SIZES = [(500, 24, 64), (2_000, 36, 32), (500, 72, 64)]
MEMORY_SIZE, QUICK_MEMORY_SIZE = (10_000, 60, 2_000), (2_000, 60, 200)
REFERENCE_BUDGET = 60.0  # seconds: the reference runs only where it is expected to take less
SEED = np.uint64(20261122)


@jit(parallel=True)
def floor_kernel(seed, draw_start, n_accounts, horizon, out):
    """``out[j]``: sum over accounts and months of the usage-stream normals of draw j."""
    for j in prange(out.shape[0]):
        total = 0.0
        for i in range(n_accounts):
            state = purpose_key(stream_key(seed, draw_start + j, i, 0), PURPOSE_USAGE)
            for _ in range(horizon):
                state, eps = next_normal(state)
                total += eps
        out[j] = total


@numba.njit(parallel=True, nogil=True)
def numpy_floor_kernel(generators, n_accounts, horizon, out):
    """``out[j]``: the same sum, each normal from ``numpy.random.Generator.standard_normal``.

    numba compiles numpy's own Generator sampler (its 256-layer ziggurat on PCG64); one Generator
    per thread (a tuple), each serving every ``len(generators)``-th draw: the "numpy floor".
    """
    n_gen = len(generators)
    for c in prange(n_gen):
        g = generators[c]
        for j in range(c, out.shape[0], n_gen):
            total = 0.0
            for _ in range(n_accounts * horizon):
                total += g.standard_normal()
            out[j] = total


def build_inputs(n_accounts, horizon, draws, seed=1):
    """``(book, params, capacity)`` at the config defaults: 3 segments, ~5 new logos a month per
    segment, commits on ~30% of accounts, a little seasonality, and capacity mode: a CSM team that
    covers 0.4 x the book and SE support for 0.3 x the book, so coverage binds and moves with each
    draw's simulated active accounts (as in ``market.new_logos=capacity``)."""
    rng = np.random.default_rng(seed)
    n_seg = 3
    defaults = {f.name: getattr(SegmentAssumptions(), f.name) for f in fields(SegmentAssumptions)}
    model = {f.name: getattr(ModelConfig(), f.name) for f in fields(ModelConfig)}
    values = defaults | {k: v for k, v in model.items() if k != "segments"}
    values |= {
        "unit_price": 1.0,
        "season_cos": 0.05,
        "csm_hazard_ratio": 0.7,
        "se_use_case_ratio": 1.5,
        "commit_share": 0.3,
        "unhealthy_share": 0.1,
        # What a fit hands the kernel (issue 9): the decline hazard, the zero-month hurdle and
        # failed onboarding all active, so the benchmark pays for them.
        "usage_decline_hazard_ratio": 1.5,
        "zero_month_prob": 0.02,
        "onboarding_failure": 0.02,
        "usage_tail_nu": 0.0,  # normal usage steps (the default book's fit finds no heavy tails)
        "decline_threshold": ChurnRules().decline_threshold,
        "anniversary_hazard_ratio": 1.5,
    }
    values |= dict(zip(L.SEASON_PARAMS, L.harmonic_season(0.05, 0.0), strict=True))
    seg_params = np.empty((draws, n_seg, len(L.SEGMENT_PARAMS)))
    for i, name in enumerate(L.SEGMENT_PARAMS):
        seg_params[..., i] = values[name]
    seg_params[..., L.P_INIT_MU] += np.arange(n_seg)  # SMB, mid-market, enterprise
    seg_params[..., L.P_DRIFT] *= rng.uniform(0.8, 1.2, (draws, n_seg))  # posterior spread
    month_values = L.MONTH_DEFAULTS | {
        "new_logo_rate": 5.0,
        "csm_coverage": 1.0,  # capacity binds
        "se_coverage": 1.0,
        "unhealthy_share": 0.1,
        "use_case_unhealthy_covered": 0.05,
        "use_case_unhealthy_uncovered": 0.2,
    }
    month_params = np.empty((draws, n_seg, horizon, len(L.MONTH_PARAMS)))
    for i, name in enumerate(L.MONTH_PARAMS):
        month_params[..., i] = month_values[name]

    segment = rng.integers(0, n_seg, n_accounts)
    tenure = rng.integers(1, 60, n_accounts)
    log_usage = rng.normal(8.0 + segment, 1.0)
    hist = np.exp(log_usage[:, None]) * rng.uniform(0.8, 1.2, (n_accounts, L.RING_MONTHS))
    hist[np.arange(L.RING_MONTHS)[::-1][None, :] > tenure[:, None]] = 0.0
    commit = np.where(rng.uniform(size=n_accounts) < 0.3, 11.0 * np.exp(log_usage), 0.0)
    term_position = rng.integers(0, 12, n_accounts)
    consumed = term_position * np.exp(log_usage) * (commit > 0)
    book = L.empty_accounts(n_accounts)._replace(
        segment=segment, tenure=tenure, log_usage=log_usage, hist_usage=hist, commit=commit,
        term_position=term_position, consumed=consumed, data_from=-np.minimum(tenure, 36) - 1,
        csm_covered=(rng.uniform(size=n_accounts) < 0.4).astype(float),
        change_count=np.minimum(tenure, 36).astype(float),
        change_sum=np.minimum(tenure, 36) * rng.normal(0.01, 0.01, n_accounts),
        contract_from=-tenure - 1, anniversaries=(tenure // 12).astype(float),
    )  # fmt: skip
    capacity = L.Capacity(
        np.full((draws, horizon), 0.4 * n_accounts), np.full((draws, horizon), 0.3 * n_accounts)
    )
    return book, L.Params(seg_params, month_params), capacity


def run_core(fn, book, params, capacity, cohort_months=0):
    draws, n_seg, horizon = params.month_params.shape[:3]
    outputs = L.Outputs(
        np.zeros((draws, horizon, n_seg, len(L.OUTPUTS))),
        np.zeros((draws, horizon, cohort_months)),
        np.zeros((draws, horizon, len(L.COVERAGE))),
        np.zeros(draws),
    )
    t0 = time.perf_counter()
    fn(SEED, 0, book, params, capacity, 0, outputs)
    return time.perf_counter() - t0, outputs.out


def run_floor(n_accounts, horizon, draws):
    out = np.zeros(draws)
    t0 = time.perf_counter()
    floor_kernel(SEED, 0, n_accounts, horizon, out)
    return time.perf_counter() - t0


def run_numpy_floor(n_accounts, horizon, draws, threads):
    out = np.zeros(draws)
    generators = tuple(
        np.random.default_rng(s) for s in np.random.SeedSequence(int(SEED)).spawn(threads)
    )
    t0 = time.perf_counter()
    numpy_floor_kernel(generators, n_accounts, horizon, out)
    return time.perf_counter() - t0


def best_of(repeat, fn, *args):
    return min(fn(*args) for _ in range(repeat))


def compile_times():
    """Seconds of the first call (compile or cache load) and of a second call, on a tiny problem."""
    inputs = build_inputs(10, 3, 2)
    first, _ = run_core(simulate_draws, *inputs)
    second, _ = run_core(simulate_draws, *inputs)
    floor_first = run_floor(10, 3, 2)
    run_numpy_floor(10, 3, 2, 2)
    return first, second, floor_first


def default_book_kernel_inputs(draws: int, *overrides: str) -> tuple[tuple, dict]:
    """The kernel's arguments ``(args, kwargs)`` for the default book, as ``simulate()`` builds
    them (``draws`` draws, progress off, then ``overrides``); the kernel runs once to hand them
    over."""
    from simengine.api import compose_run, simulate_config
    from simengine.engine import run_kernel

    captured = {}

    def kernel(*args, **kwargs):
        captured["args"], captured["kwargs"] = args, kwargs
        return run_kernel(*args, **kwargs)

    cfg, scenario = compose_run(["sim.progress=false", f"sim.draws={draws}", *overrides])
    simulate_config(cfg, scenario=scenario, kernel=kernel)
    return captured["args"], captured["kwargs"]


def end_to_end(draws: int, threads: int, repeat: int) -> None:
    """``simengine.simulate()`` of the default book (go-to-market and cohort tracking at their
    defaults: on), the kernel alone within it, and the numpy floor for the same account-months."""
    from simengine.api import simulate
    from simengine.engine import run_kernel

    numba.set_num_threads(threads)
    overrides = ["sim.progress=false", f"sim.draws={draws}", f"sim.threads={threads}"]
    simulate(["sim.progress=false", "sim.draws=8"])  # imports, kernel cache load, cached book
    run_numpy_floor(10, 3, 2, threads)  # compile
    kernel_s = []

    def timed_kernel(*args, **kwargs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_kernel(*args, **kwargs)
        kernel_s.append((time.perf_counter() - t0, time.process_time() - c0))
        return result

    from simengine.api import compose_run, simulate_config

    best = None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        cfg, scenario = compose_run(overrides)
        ds = simulate_config(cfg, scenario=scenario, kernel=timed_kernel)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu, kernel_s[-1])
    wall, cpu, (kern, kern_cpu) = best
    months = ds.attrs["account_months"]
    accounts = ds.attrs["existing_accounts"]
    horizon = ds.sizes["month"]
    # The floor draws the same number of normals: account-months / months per "account".
    n_floor = max(1, round(months / horizon / draws))
    np_s, np_cpu = min(
        _wall_and_cpu(run_numpy_floor, n_floor, horizon, draws, threads) for _ in range(repeat)
    )
    floor_rate = n_floor * horizon * draws / np_s / 1e6
    floor_cpu_rate = n_floor * horizon * draws / np_cpu / 1e6
    rate, kernel_rate = months / wall / 1e6, months / kern / 1e6
    print(
        f"end to end, default book ({accounts:,} accounts at as_of), {draws:,} draws x {horizon} "
        f"months, {threads} thread(s), cohort_months={ds.sizes.get('months_since_start', 0)}: "
        f"{months / 1e6:.1f} M account-months\n"
        f"  simulate(): {wall:.2f} s wall ({cpu:.2f} s CPU) = {rate:.1f} M/s; kernel alone "
        f"{kern:.2f} s = {kernel_rate:.1f} M/s; numpy-Generator floor {floor_rate:.1f} M/s\n"
        f"  simulate()/floor {rate / floor_rate:.3f}x, kernel/floor {kernel_rate / floor_rate:.3f}x"
        f"\n  per CPU-second (all threads; robust to a loaded machine): simulate() "
        f"{months / cpu / 1e6:.1f} M, kernel {months / kern_cpu / 1e6:.1f} M, floor "
        f"{floor_cpu_rate:.1f} M: simulate()/floor {months / cpu / 1e6 / floor_cpu_rate:.3f}x, "
        f"kernel/floor {months / kern_cpu / 1e6 / floor_cpu_rate:.3f}x"
    )


def _wall_and_cpu(fn, *args):
    c0 = time.process_time()
    wall = fn(*args)
    return wall, time.process_time() - c0


def memory_child(n_accounts, horizon, draws, threads):
    """Run the core once in this (fresh) process; print its memory as JSON."""
    numba.set_num_threads(threads)
    warm = build_inputs(10, 3, 2)
    run_core(simulate_draws, *warm)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    inputs = build_inputs(n_accounts, horizon, draws)
    seconds, out = run_core(simulate_draws, *inputs)
    _, peak = tracemalloc.get_traced_memory()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "traced_peak_mib": peak / 2**20,
                "maxrss_mib": rss1 / 1024,
                "maxrss_growth_mib": (rss1 - rss0) / 1024,
                "out_mib": out.nbytes / 2**20,
                "seconds": seconds,
            }
        )
    )


def memory(size, threads):
    cmd = [sys.executable, __file__, "--memory-child", *map(str, size), str(threads)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--threads", default="1,2", help="numba thread counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per cell (best kept)")
    parser.add_argument("--memory-child", nargs=4, type=int, help=argparse.SUPPRESS)
    parser.add_argument(
        "--e2e", type=int, default=1000, metavar="DRAWS",
        help="draws of the end-to-end simulate() run (0: skip it)",
    )  # fmt: skip
    parser.add_argument("--only-e2e", action="store_true", help="run only the end-to-end section")
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    sizes, memory_size = (QUICK_SIZES, QUICK_MEMORY_SIZE) if args.quick else (SIZES, MEMORY_SIZE)
    threads = [min(int(t), numba.config.NUMBA_NUM_THREADS) for t in args.threads.split(",")]
    if args.only_e2e:
        for t in threads:
            end_to_end(args.e2e, t, args.repeat)
        return

    first, second, floor_first = compile_times()
    print(
        f"compile: core first call {first:.2f} s (compile or cache load), second call "
        f"{second * 1e3:.1f} ms; floor first call {floor_first:.2f} s"
    )
    print(
        f"numba {numba.__version__}, numpy {np.__version__}, {numba.config.NUMBA_NUM_THREADS} "
        "cores; throughput in millions of account-months/s: core and reference count the account-\n"
        "months they simulated (book and new logos, `active` x nominal); the floor does exactly "
        "accounts x months x draws.  Cohort tracking (sim.cohort_months) is off here."
    )
    header = (
        f"{'accounts x months x draws':>26} {'thr':>3} {'core':>7} {'floor':>7} {'np':>7} "
        f"{'ref':>7} {'core/ref':>8} {'core/floor':>10} {'core/np':>7} {'active':>7}"
    )
    print(header)
    print("-" * len(header))
    for n_accounts, horizon, draws in sizes:
        nominal = n_accounts * horizon * draws / 1e6
        inputs = build_inputs(n_accounts, horizon, draws)
        # The reference is single-threaded NumPy: timed once per size, shown on every row.
        probe_draws = max(1, draws // 50)
        probe = build_inputs(n_accounts, horizon, probe_draws)
        expected = run_core(simulate_draws_reference, *probe)[0] * draws / probe_draws
        ref_rate = None
        if expected < REFERENCE_BUDGET:
            ref_s, ref_out = run_core(simulate_draws_reference, *inputs)
            ref_rate = ref_out[..., L.V_ACTIVE].sum() / 1e6 / ref_s
        for t in threads:
            numba.set_num_threads(t)
            core_s, out = min(
                (run_core(simulate_draws, *inputs) for _ in range(args.repeat)), key=lambda r: r[0]
            )
            floor_s = best_of(args.repeat, run_floor, n_accounts, horizon, draws)
            np_s = best_of(args.repeat, run_numpy_floor, n_accounts, horizon, draws, t)
            active = out[..., L.V_ACTIVE].sum() / 1e6 / nominal  # simulated / nominal
            core_rate, floor_rate = nominal * active / core_s, nominal / floor_s
            np_rate = nominal / np_s
            ref_cols = (
                f"{ref_rate:7.2f} {core_rate / ref_rate:8.1f}"
                if ref_rate
                else f"{'skip':>7} {'-':>8}"
            )
            print(
                f"{f'{n_accounts:,} x {horizon} x {draws:,}':>26} {t:>3} {core_rate:7.1f} "
                f"{floor_rate:7.1f} {np_rate:7.1f} {ref_cols} {core_rate / floor_rate:10.2f} "
                f"{core_rate / np_rate:7.2f} {active:7.2f}"
            )

    if args.e2e:
        print()
        for t in threads:
            end_to_end(args.e2e, t, args.repeat)

    print("\npeak memory of the core (own subprocess, max threads)")
    print(
        f"{'accounts x months x draws':>26} {'traced MiB':>10} {'maxrss MiB':>10} "
        f"{'growth MiB':>10} {'out MiB':>8} {'seconds':>8}"
    )
    for size in [*sizes, memory_size]:
        m = memory(size, max(threads))
        print(
            f"{f'{size[0]:,} x {size[1]} x {size[2]:,}':>26} {m['traced_peak_mib']:10.1f} "
            f"{m['maxrss_mib']:10.1f} {m['maxrss_growth_mib']:10.1f} {m['out_mib']:8.1f} "
            f"{m['seconds']:8.1f}"
        )


if __name__ == "__main__":
    main()
