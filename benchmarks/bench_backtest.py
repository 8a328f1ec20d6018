"""Issue 10's targets: backtests on generated books the defaults do not describe, and memory.

Run ``python benchmarks/bench_backtest.py`` (``--quick`` shrinks every size).  For each book (36
months, 12 held out) it writes the book to CSV, runs :func:`simengine.backtest.run_backtest` on
it (a NUTS fit of the first 24 months, the engine's forecast of the installed base, the three
baselines) and prints one row:

- total: ``coverage80`` (target [0.75, 0.85]), ``bias_pct`` (|.| <= 3), ``crps_pct`` (< 3 and below
  every baseline), the best baseline's ``crps_pct``;
- per account: share of installed-base accounts whose revenue over the 12 held-out months lies in
  their ``revenue_next12`` P10-P90 (target 0.75-0.85); the sum of ``p_churn_12m`` against the
  number that churned (target within 15%).

Below each book: the P50 bias, coverage80 and last-month 80% width of the total and of each
segment, and how often the forecast's *own* paths, scored as if they were the actuals, meet the
coverage and bias targets (one 12-month path is a small, correlated sample: even a forecast that
is calibrated by construction lands in [0.75, 0.85] on a minority of books).

Fits use the config's default sampling (``fit.draws``/``fit.tune``, 2 chains: the settings that
pass the convergence gate); ``--fit-draws N`` shortens them.  ``--out DIR`` keeps the books and run
folders, ``--reuse-fits DIR`` simulates from the posteriors of an earlier ``--out`` (same books,
checked by data hash), ``--seeds`` picks books.

``--memory`` measures the per-account forecast at 20,000 accounts x 2,000 draws (36 months) in a
subprocess: tracemalloc peak and maxrss growth of ``run_kernel`` with the accumulator, against
the same run without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from simengine.data.synth import generate_book
from simengine.data.synth_truth import DEFAULT_TRUTH, SynthOptions

_DEC_PEAK = tuple(np.array([0.0] * 11 + [0.25]) - 0.25 / 12)  # a December peak (+25%), mean 0


def settings() -> list[tuple[str, object, SynthOptions | None]]:
    """``(label, truth, options)``: the default truth plus four settings it does not hold."""
    renamed = dataclasses.replace(
        DEFAULT_TRUTH,
        segments=("self_serve", "team", "strategic"),
        unit_price=[0.05, 0.12, 0.3],
        initial_log_usage_mu=[8.5, 10.0, 11.5],
        churn_beta=[30.0, 70.0, 150.0],
    )
    return [
        ("default truth", DEFAULT_TRUTH, None),
        ("segments self_serve/team/strategic, prices 0.05-0.3, shares .55/.3/.15", renamed,
         SynthOptions(segment_shares=(0.55, 0.30, 0.15))),
        ("heavy tails: Student-t usage steps, nu = 3", DEFAULT_TRUTH, SynthOptions(noise_nu=3.0)),
        ("seasonal peak: +25% in December (12-month profile)", DEFAULT_TRUTH,
         SynthOptions(season_profile=_DEC_PEAK)),
        ("survivors-only export: 24 months before the window, churn after last", DEFAULT_TRUTH,
         SynthOptions(pre_window_months=24, churn_after_last=True)),
    ]  # fmt: skip


def book(seed: int, setting: int, n_accounts: int):
    """``(seed, label, SyntheticBook)`` of one setting of :func:`settings` with this seed."""
    label, truth, options = settings()[setting]
    kwargs = {} if options is None else {"options": options}
    return seed, label, generate_book(n_accounts, 36, "2026-10", seed, truth=truth, **kwargs)


def books(n_accounts: int):
    """The five target books: seeds 101, 202, ..., 505, one per setting."""
    return [book(101 * (k + 1), k, n_accounts) for k in range(len(settings()))]


def write_book(book, folder: Path) -> list[str]:
    """The book as CSV files (the package's own writer); the ``data.*`` overrides that read them."""
    from simengine.data.writer import write_book as write

    return [f"data.{table}={path}" for table, path in write(book, folder).items()]


def one_book(seed: int, label: str, synthetic, args, root: Path) -> dict:
    from simengine.api import load_config
    from simengine.backtest import run_backtest

    data = write_book(synthetic.book, root / f"book{seed}")
    fit = ["fit.allow_bad=true"]
    if args.fit_draws:
        fit += [f"fit.draws={args.fit_draws}", f"fit.tune={args.fit_draws}"]
    if args.reuse_fits is not None:
        # A posterior fitted earlier on the same cut book (same seed, same accounts): the run
        # checks its data hash, so a posterior of another book is refused, not used.
        fit.append(f"fit.posterior={args.reuse_fits / f'run{seed}' / 'posterior.nc'}")
    cfg = load_config([
        *data, f"seed={seed}", f"sim.draws={args.draws}", "sim.progress=false", *fit,
        "backtest.holdout_months=12",
    ])  # fmt: skip
    t0 = time.perf_counter()
    result = run_backtest(cfg, root / f"run{seed}")
    seconds = time.perf_counter() - t0
    scores = result.scores.set_index("method")
    acc = result.accounts
    sim = scores.loc["simengine"]
    baselines = scores.drop(index="simengine")
    return {
        "seed": seed,
        "book": label,
        "accounts": len(acc),
        "coverage80": sim["coverage80"],
        "bias_pct": sim["bias_pct"],
        "crps_pct": sim["crps_pct"],
        "best_baseline": baselines["crps_pct"].idxmin(),
        "baseline_crps": baselines["crps_pct"].min(),
        "ets_crps": scores.loc["ets", "crps_pct"],
        "acct_cov80": float(acc["covered80"].mean()),
        "sum_p_churn": float(acc["p_churn_12m"].sum()),
        "churned": int(acc["churned_12m"].sum()),
        "gate": result.forecast.attrs.get("posterior_gate", "pass"),
        "series": series_summary(result.table),
        **own_paths(result.forecast),
        **held_out_total(result),
        "seconds": seconds,
    }


def own_paths(forecast) -> dict:
    """How the targets fare on the forecast's *own* paths (a perfectly calibrated world).

    Each simulated path of the total is scored against the forecast's quantiles as if it were
    the actual: the share of paths whose 12-month ``coverage80`` lands in [0.75, 0.85], is 1.0,
    and whose ``|bias|`` is within 3%.  One path of 12 correlated months is a small sample: this
    says how often a forecast that is right by construction meets each target on one book.
    """
    paths = forecast["revenue"].sum("segment").transpose("draw", "month").to_numpy()
    q10, q50, q90 = np.quantile(paths, [0.1, 0.5, 0.9], axis=0)
    cov = ((paths >= q10) & (paths <= q90)).mean(axis=1)
    bias = 100.0 * (q50.sum() / paths.sum(axis=1) - 1.0)
    return {
        "own_cov_ok": float(((cov >= 0.75) & (cov <= 0.85)).mean()),
        "own_cov_one": float((cov == 1.0).mean()),
        "own_bias_ok": float((np.abs(bias) <= 3.0).mean()),
        "own_cov80_mean": float(cov.mean()),
    }


def held_out_total(result) -> dict:
    """The held-out year as one number: where its actual total falls in the forecast's.

    ``pit`` is the share of simulated 12-month totals below the actual one (uniform on [0, 1]
    over books when the forecast is calibrated); ``inside80`` whether the actual lies in their
    P10-P90; ``coverage50/90`` the monthly coverages of the total at those levels.
    """
    total = result.table[result.table["series"] == "total"]
    actual = total["actual"].to_numpy()
    paths = result.forecast["revenue"].sum("segment").transpose("draw", "month").to_numpy()
    sums = paths.sum(axis=1)
    q10, q90 = np.quantile(sums, [0.1, 0.9])
    return {
        "pit": float((sums < actual.sum()).mean()),
        "inside80": bool(q10 <= actual.sum() <= q90),
        "coverage50": float(((actual >= total["p25"]) & (actual <= total["p75"])).mean()),
        "coverage90": float(((actual >= total["p05"]) & (actual <= total["p95"])).mean()),
    }


def calibration(rows: list[dict]) -> None:
    """Pooled calibration over many books: one book's 12 months are one correlated sample, so a
    coverage target is checked on the pool (mean coverage and the PIT of the held-out total)."""
    from scipy import stats

    cov = np.array([r["coverage80"] for r in rows])
    pit = np.array([r["pit"] for r in rows])
    inside = np.array([r["inside80"] for r in rows])
    bias = np.array([r["bias_pct"] for r in rows])
    n = len(rows)
    print(
        f"\npooled over {n} books (settings cycled, seeds {rows[0]['seed']}..{rows[-1]['seed']}):"
    )
    for name, key in (
        ("coverage50", "coverage50"),
        ("coverage80", "coverage80"),
        ("coverage90", "coverage90"),
    ):
        v = np.array([r[key] for r in rows])
        print(
            f"  monthly {name}: mean {v.mean():.3f} (SE over books {v.std(ddof=1) / np.sqrt(n):.3f})"
        )
    own = np.array([r["own_cov80_mean"] for r in rows])
    print(f"  own paths' mean coverage80 (a calibrated forecast's expectation): {own.mean():.3f}")
    print(
        f"  books with coverage80 in [0.75, 0.85]: {((cov >= 0.75) & (cov <= 0.85)).mean():.2f}"
        f" (own paths predict {np.mean([r['own_cov_ok'] for r in rows]):.2f});"
        f" coverage80 = 1: {(cov == 1).mean():.2f}"
        f" (own paths {np.mean([r['own_cov_one'] for r in rows]):.2f})"
    )
    print(
        f"  held-out year inside its 80% interval: {inside.mean():.2f} of books"
        f" (binomial 90% band for 0.8 at n={n}: "
        f"{stats.binom.ppf(0.05, n, 0.8) / n:.2f}-{stats.binom.ppf(0.95, n, 0.8) / n:.2f})"
    )
    ks = stats.kstest(pit, "uniform")
    print(
        f"  PIT of the held-out year: mean {pit.mean():.2f}, KS vs uniform p = {ks.pvalue:.2f};"
        f" deciles {np.histogram(pit, bins=5, range=(0, 1))[0].tolist()} (5 bins)"
    )
    print(
        f"  bias%: mean {bias.mean():+.2f}, median {np.median(bias):+.2f}, "
        f"|bias| <= 3% on {(np.abs(bias) <= 3).mean():.2f} of books"
        f" (own paths {np.mean([r['own_bias_ok'] for r in rows]):.2f})"
    )
    for k, (label, _, _) in enumerate(settings()):
        sub = [r for r in rows if r["setting"] == k]
        if sub:
            print(
                f"  {label[:40]:<40} n={len(sub):>2} cov80 {np.mean([r['coverage80'] for r in sub]):.2f}"
                f" pit {np.mean([r['pit'] for r in sub]):.2f}"
                f" bias {np.mean([r['bias_pct'] for r in sub]):+.1f}%"
                f" churn ratio {sum(r['sum_p_churn'] for r in sub) / max(sum(r['churned'] for r in sub), 1):.2f}"
            )


def series_summary(table) -> str:
    """Per series (total, each segment): P50 bias over the held-out months and the width of the
    80% interval in the last month, both in % (where a miss comes from: bias or width)."""
    parts = []
    for name, g in table.groupby("series", sort=False):
        bias = 100.0 * (g["p50"].sum() / g["actual"].sum() - 1.0)
        last = g.iloc[-1]
        width = 100.0 * (last["p90"] - last["p10"]) / last["p50"]
        inside = ((g["actual"] >= g["p10"]) & (g["actual"] <= g["p90"])).mean()
        parts.append(f"{name} bias {bias:+.1f}% cov80 {inside:.2f} w80[last] {width:.0f}%")
    return "; ".join(parts)


def print_table(rows: list[dict]) -> None:
    head = (f"{'seed':>5} {'acc':>5} {'cov80':>6} {'bias%':>7} {'crps%':>6} {'base crps%':>11} "
            f"{'ets%':>6} {'acct cov80':>10} {'sum p12':>8} {'churned':>7} {'ratio':>6}  book")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = r["sum_p_churn"] / max(r["churned"], 1)
        print(f"{r['seed']:>5} {r['accounts']:>5} {r['coverage80']:>6.2f} {r['bias_pct']:>+7.2f} "
              f"{r['crps_pct']:>6.2f} {r['baseline_crps']:>6.2f} {r['best_baseline'][:4]:>4} "
              f"{r['ets_crps']:>6.2f} {r['acct_cov80']:>10.2f} {r['sum_p_churn']:>8.1f} "
              f"{r['churned']:>7d} {ratio:>6.2f}  {r['book']}")  # fmt: skip
    print(
        "\ntargets: cov80 in [0.75, 0.85]; |bias%| <= 3; crps% < 3 and below every baseline; "
        "acct cov80 in [0.75, 0.85]; sum p12 / churned in [0.85, 1.15]"
    )
    for r in rows:
        misses = []
        if not 0.75 <= r["coverage80"] <= 0.85:
            misses.append("coverage80")
        if abs(r["bias_pct"]) > 3:
            misses.append("bias")
        if not (r["crps_pct"] < 3 and r["crps_pct"] < r["baseline_crps"]):
            misses.append("crps")
        if not 0.75 <= r["acct_cov80"] <= 0.85:
            misses.append("account coverage")
        if not 0.85 <= r["sum_p_churn"] / max(r["churned"], 1) <= 1.15:
            misses.append("churn count")
        print(f"  seed {r['seed']}: {'all met' if not misses else 'missed: ' + ', '.join(misses)}"
              f"  (gate: {r['gate']}; {r['seconds']:.0f} s)")  # fmt: skip
        print(f"      {r['series']}")
        print(f"      own paths: cov80 in [0.75, 0.85] {r['own_cov_ok']:.2f}, cov80 = 1 "
              f"{r['own_cov_one']:.2f}, |bias| <= 3% {r['own_bias_ok']:.2f}")  # fmt: skip


def memory_child(n_accounts: int, draws: int, horizon: int, with_accounts: int) -> None:
    """Run the kernel once at this size; print peak memory as JSON (run in a subprocess)."""
    from simengine.accounts_forecast import AccountAccumulator
    from simengine.engine import run_kernel
    from simengine.kernels import layout as L

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' book helpers
    from tests.kernels._book import make_book, make_params

    book = make_book(n_accounts, 3)
    from simengine.engine import BookState

    state = BookState(book, np.zeros((12, 3)), np.zeros((12, 3, 3)))
    seg, mon = make_params(draws, horizon, 3, month={"new_logo_rate": 0.0})
    run_kernel(state, L.Params(seg[:2], mon[:2]), seed=1, month_of_year0=0, progress=False)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    revenue_last = state.hist_usage[:, -1] * state.price
    acc = AccountAccumulator(revenue_last, draws) if with_accounts else None
    t0 = time.perf_counter()
    run_kernel(state, L.Params(seg, mon), seed=1, month_of_year0=0, progress=False,
               account_sink=acc.add if acc is not None else None)  # fmt: skip
    seconds = time.perf_counter() - t0
    if acc is not None:
        acc.quantiles([0.1, 0.5, 0.9])
    _, peak = tracemalloc.get_traced_memory()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mb": peak / 2**20, "maxrss_growth_mb": (rss1 - rss0) / 1024,
                      "accumulator_mb": acc.nbytes / 2**20 if acc else 0.0,
                      "exact": bool(acc.exact) if acc else None, "seconds": seconds}))  # fmt: skip


def memory(n_accounts: int, draws: int, horizon: int) -> None:
    print(f"\nmemory: {n_accounts:,} accounts x {draws:,} draws x {horizon} months (no new logos)")
    for flag, label in ((0, "kernel only"), (1, "with per-account forecast")):
        cmd = [sys.executable, __file__, "--memory-child", str(n_accounts), str(draws),
               str(horizon), str(flag)]  # fmt: skip
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
        )
        m = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {label:<28} tracemalloc peak {m['peak_mb']:7.1f} MB, maxrss growth "
              f"{m['maxrss_growth_mb']:7.1f} MB, accumulator {m['accumulator_mb']:6.1f} MB "
              f"(exact quantiles: {m['exact']}), {m['seconds']:.1f} s")  # fmt: skip
    full = n_accounts * draws * horizon * 8 / 2**20
    print(f"  (a draws x accounts x months float64 array would be {full:,.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller books, fewer draws")
    parser.add_argument("--memory", action="store_true", help="only the memory measurement")
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument(
        "--fit-draws", type=int, default=0, help="fit.draws = fit.tune (0: the config defaults)"
    )
    parser.add_argument("--seeds", type=int, nargs="*", help="only these books")
    parser.add_argument("--out", type=Path, help="keep the books and run folders here")
    parser.add_argument(
        "--reuse-fits", type=Path, help="an earlier --out folder: simulate from its posteriors"
    )
    parser.add_argument(
        "--calibration",
        type=int,
        default=0,
        help="N books, settings cycled, seeds 1000.. : pooled coverage and PIT (not the 5 targets)",
    )
    parser.add_argument(
        "--rows",
        type=Path,
        help="append each book's row to this JSON-lines file as it finishes; with no book to "
        "run (--calibration 0 and --seeds none), print the tables of the rows in it",
    )
    parser.add_argument("--memory-child", nargs=4, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    if args.quick:
        args.accounts, args.draws, args.fit_draws = 300, 200, 200
    if args.memory:
        memory(20_000, 2_000, 36)
        return
    if args.rows is not None and args.seeds == [] and not args.calibration:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line]
        print_table(rows)
        if len(rows) > 1:
            calibration(rows)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if args.out is None else args.out
        if args.calibration:
            chosen = [
                book(1000 + k, k % len(settings()), args.accounts) for k in range(args.calibration)
            ]
        else:
            chosen = books(args.accounts)
        for seed, label, synthetic in chosen:
            if args.seeds and seed not in args.seeds:
                continue
            rows.append(one_book(seed, label, synthetic, args, root))
            rows[-1]["setting"] = [lab for lab, _, _ in settings()].index(label)
            if args.rows is not None:
                with args.rows.open("a") as f:
                    f.write(json.dumps(rows[-1], default=float) + "\n")
            print(f"  done seed {seed} in {rows[-1]['seconds']:.0f} s", file=sys.stderr, flush=True)
    fit = (
        f"{args.fit_draws} tune + {args.fit_draws} draws"
        if args.fit_draws
        else "the default fit.tune + fit.draws"
    )
    print(
        f"\n{args.accounts} accounts per book, 36 months, 12 held out; fit NUTS, {fit}"
        f"{' (reused posteriors)' if args.reuse_fits else ''}; {args.draws} simulation draws\n"
    )
    print_table(rows)
    if args.calibration:
        calibration(rows)


if __name__ == "__main__":
    main()
