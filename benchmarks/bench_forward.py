"""Forward accuracy on books written outside the project, pooled (issue 22, item 11).

``python benchmarks/bench_forward.py`` writes books with ``../shared/books/eu_saas_book.py`` (a
company's export the project did not generate; ``--generator`` points elsewhere, and the
unmodified copy in ``tests/data/`` is used when the shared folder is absent), then does what a
user does, through the command line, with the files exactly as written:

1. ``simengine fit`` on the export (to 2025-12);
2. ``simengine run fit.posterior=... sim.horizon_months=12``: the year ahead, new logos included;
3. scores against the book's ``truth_2026.csv`` (monthly revenue, installed base and new logos)
   and ``truth_accounts_2026.csv`` (each active account's 2026 revenue and whether it churned).

One row per book: the true 12-month total against the forecast's P10/P50/P90 and its error, the
PIT of the total, the monthly 80% coverage, the first month's P50 error, the installed base's and
the new logos' errors, and the per-account figures (80% coverage of ``revenue_next12``, the sum of
``p_churn_12m`` against the churned count, within-segment AUC of ``p_churn_12m``).  Below the
table, the pool: books whose true total is inside its 80% interval (target 7-10 of 10), median
``|P50 error|`` (target <= 3%), pooled monthly coverage80 (target [0.70, 0.90]) and median
first-month error (target within 3%).

One book's 12 months are one correlated path: the targets are judged on the pool.
``--backtest`` also runs ``simengine backtest`` (12 months held out of the same exports) and prints
its pooled calibration and whether simengine's CRPS beats the best baseline on each book.

``--keep DIR`` keeps the books and run folders; ``--rows FILE`` appends each book's row (JSON
lines) as it finishes, and with ``--seeds`` empty prints the tables of the rows in FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "books" / "eu_saas_book.py"
COPY = REPO / "tests" / "data" / "eu_saas_book.py"
SEEDS = (31, 41, 52, 63, 74, 85, 96, 107, 118, 129)


def generator(path: Path | None) -> Path:
    """The book generator: ``--generator``, the shared folder's, or the test suite's copy."""
    for candidate in (path, SHARED, COPY):
        if candidate is not None and Path(candidate).exists():
            return Path(candidate)
    raise SystemExit(f"no book generator: {SHARED} and {COPY} are both missing")


def simengine(*args: str, cwd: Path) -> float:
    """Run one ``simengine`` verb as a user does; its wall seconds.  Stops on failure."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "simengine", *args], cwd=cwd, capture_output=True, text=True
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise RuntimeError(f"simengine {args[0]} exited {proc.returncode}:\n{tail}")
    return time.perf_counter() - t0


def auc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN without both classes."""
    from scipy.stats import rankdata

    pos = label.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def score_forward(run_dir: Path, book_dir: Path) -> dict:
    """Score one run's first 12 forecast months against the book's truth files."""
    import xarray as xr

    truth = pd.read_csv(book_dir / "truth_2026.csv")
    with xr.open_dataset(run_dir / "forecast.nc", engine="h5netcdf") as ds:
        months = [str(m)[:7] for m in ds["month"].values]
        keep = [months.index(m) for m in truth["month"]]
        total = ds["revenue"].sum("segment").transpose("draw", "month").values[:, keep]
        new = ds["new_logo_revenue"].sum("segment").transpose("draw", "month").values[:, keep]
    base = total - new
    actual = truth["total_revenue"].to_numpy(float)
    year = total.sum(axis=1)
    p10, p50, p90 = np.quantile(year, [0.1, 0.5, 0.9])
    q10, q50, q90 = np.quantile(total, [0.1, 0.5, 0.9], axis=0)
    row = {
        "truth": float(actual.sum()),
        "p10": float(p10),
        "p50": float(p50),
        "p90": float(p90),
        "error_pct": float(100 * (p50 / actual.sum() - 1)),
        "inside80": bool(p10 <= actual.sum() <= p90),
        "pit": float((year < actual.sum()).mean()),
        "coverage80": float(((actual >= q10) & (actual <= q90)).mean()),
        "first_month_pct": float(100 * (q50[0] / actual[0] - 1)),
        "base_error_pct": float(
            100 * (np.median(base.sum(axis=1)) / truth["installed_base_revenue"].sum() - 1)
        ),
        "new_error_pct": float(
            100 * (np.median(new.sum(axis=1)) / truth["new_logo_revenue"].sum() - 1)
        ),
        "max_over_p50": float(year.max() / p50),
    }
    # Per account: each account active at 2025-12 against its own 2026.
    acc = pd.read_csv(run_dir / "accounts_forecast.csv")
    true_acc = pd.read_csv(book_dir / "truth_accounts_2026.csv")
    joined = acc.merge(true_acc, on="account_id", suffixes=("", "_truth"))
    rev = joined["revenue_2026"].to_numpy(float)
    row["acct_cov80"] = float(
        ((rev >= joined["revenue_next12_p10"]) & (rev <= joined["revenue_next12_p90"])).mean()
    )
    row["sum_p_churn"] = float(joined["p_churn_12m"].sum())
    row["churned"] = int(joined["churned_2026"].sum())
    for seg, g in joined.groupby("segment"):
        row[f"auc_{seg}"] = auc(g["p_churn_12m"].to_numpy(), g["churned_2026"].to_numpy())
    return row


def score_backtest(run_dir: Path) -> dict:
    scores = pd.read_csv(run_dir / "backtest_scores.csv").set_index("method")
    sim = scores.loc["simengine"]
    baselines = scores.drop(index="simengine")
    return {
        "bt_coverage50": float(sim["coverage50"]),
        "bt_coverage80": float(sim["coverage80"]),
        "bt_coverage90": float(sim["coverage90"]),
        "bt_crps": float(sim["crps_pct"]),
        "bt_bias": float(sim["bias_pct"]),
        "bt_best_baseline": str(baselines["crps_pct"].idxmin()),
        "bt_baseline_crps": float(baselines["crps_pct"].min()),
    }


def one_book(seed: int, args, root: Path) -> dict:
    book_dir = root / f"book{seed}"
    subprocess.run(
        [sys.executable, str(args.generator), str(book_dir), str(seed), str(args.scale)],
        check=True,
        capture_output=True,
    )
    data = [f"data.{t}={book_dir / f'{t}.csv'}" for t in ("accounts", "usage", "use_cases")]
    fit_dir = root / f"fit{seed}"
    run_dir = root / f"run{seed}"
    fit = [f"fit.draws={args.fit_draws}", f"fit.tune={args.fit_draws}"] if args.fit_draws else []
    # Short fits (--fit-draws) are for trying the script: their ESS may miss the gate.
    allow = ["fit.allow_bad=true"] if args.fit_draws else []
    row = {"seed": seed}
    if args.backtest_only:
        bt_dir = root / f"backtest{seed}"
        row["backtest_s"] = simengine(
            "backtest", *data, *fit, *allow, "backtest.holdout_months=12",
            f"sim.draws={args.draws}", "sim.progress=false", f"seed={args.fit_seed}",
            f"hydra.run.dir={bt_dir}", cwd=root,
        )  # fmt: skip
        return row | score_backtest(bt_dir)
    row["fit_s"] = simengine(
        "fit", *data, *fit, f"seed={args.fit_seed}", f"hydra.run.dir={fit_dir}", cwd=root
    )
    row["run_s"] = simengine(
        "run",
        *data,
        f"fit.posterior={fit_dir / 'posterior.nc'}",
        *allow,
        "sim.horizon_months=12",
        f"sim.draws={args.draws}",
        "sim.progress=false",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        cwd=root,
    )
    row |= score_forward(run_dir, book_dir)
    if args.backtest:
        bt_dir = root / f"backtest{seed}"
        row["backtest_s"] = simengine(
            "backtest",
            *data,
            *fit,
            *allow,
            "backtest.holdout_months=12",
            f"sim.draws={args.draws}",
            "sim.progress=false",
            f"seed={args.fit_seed}",
            f"hydra.run.dir={bt_dir}",
            cwd=root,
        )
        row |= score_backtest(bt_dir)
    return row


def money(x: float) -> str:
    return f"{x / 1e6:,.2f}M"


def print_rows(rows: list[dict]) -> None:
    head = (
        f"{'seed':>5} {'truth':>9} {'P10':>9} {'P50':>9} {'P90':>9} {'err%':>6} {'in80':>5}"
        f" {'pit':>5} {'cov80':>5} {'m1%':>6} {'base%':>6} {'new%':>6} {'max/P50':>7}"
        f" {'acc80':>5} {'Σp12':>6} {'churn':>5} {'AUC ss/tm/en':>15}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        aucs = "/".join(
            f"{r.get(f'auc_{s}', float('nan')):.2f}" for s in ("self_serve", "team", "enterprise")
        )
        print(
            f"{r['seed']:>5} {money(r['truth']):>9} {money(r['p10']):>9} {money(r['p50']):>9}"
            f" {money(r['p90']):>9} {r['error_pct']:>+6.1f} {'yes' if r['inside80'] else 'NO':>5}"
            f" {r['pit']:>5.2f} {r['coverage80']:>5.2f} {r['first_month_pct']:>+6.1f}"
            f" {r['base_error_pct']:>+6.1f} {r['new_error_pct']:>+6.1f} {r['max_over_p50']:>7.2f}"
            f" {r['acct_cov80']:>5.2f} {r['sum_p_churn']:>6.0f} {r['churned']:>5d} {aucs:>15}"
        )
    n = len(rows)
    inside = sum(r["inside80"] for r in rows)
    err = np.array([r["error_pct"] for r in rows])
    cov = np.array([r["coverage80"] for r in rows])
    first = np.array([r["first_month_pct"] for r in rows])
    pit = np.array([r["pit"] for r in rows])
    print(f"\npooled over {n} books:")
    print(f"  true 12-month total inside its 80% interval: {inside} of {n}  (target 7-10 of 10)")
    print(f"  median |P50 error|: {np.median(np.abs(err)):.2f}%  (target <= 3%);"
          f" mean error {err.mean():+.2f}%")  # fmt: skip
    print(f"  pooled monthly coverage80: {cov.mean():.3f}  (target [0.70, 0.90])")
    print(f"  first-month P50 error: median {np.median(first):+.2f}%,"
          f" within 3% on {(np.abs(first) <= 3).sum()} of {n}")  # fmt: skip
    print(f"  PIT of the 12-month total: mean {pit.mean():.2f}; {np.sort(pit).round(2).tolist()}")
    ratio = sum(r["sum_p_churn"] for r in rows) / max(sum(r["churned"] for r in rows), 1)
    print(f"  Σ p_churn_12m / churned, pooled: {ratio:.2f}")
    for seg in ("self_serve", "team", "enterprise"):
        vals = [r[f"auc_{seg}"] for r in rows if np.isfinite(r.get(f"auc_{seg}", np.nan))]
        if vals:
            print(f"  churn AUC within {seg}: median {np.median(vals):.2f}")
    if "bt_crps" in rows[0]:
        print_backtest(rows)


def print_backtest(rows: list[dict]) -> None:
    """The backtests' pooled calibration and CRPS against the best baseline, book by book."""
    n = len(rows)
    if n:
        print("\nbacktest (12 months held out of each export):")
        for level in (50, 80, 90):
            v = np.array([r[f"bt_coverage{level}"] for r in rows])
            print(f"  pooled monthly coverage{level}: {v.mean():.3f}")
        wins = sum(r["bt_crps"] < r["bt_baseline_crps"] for r in rows)
        print(f"  CRPS below the best baseline on {wins} of {n} books (target >= 8 of 10)")
        for r in rows:
            print(
                f"    seed {r['seed']}: crps {r['bt_crps']:.2f}% bias {r['bt_bias']:+.2f}%"
                f" vs {r['bt_best_baseline']} {r['bt_baseline_crps']:.2f}%"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(SEEDS))
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--draws", type=int, default=1000, help="simulation draws")
    parser.add_argument(
        "--fit-draws", type=int, default=0, help="fit.draws = fit.tune (0: default)"
    )
    parser.add_argument("--fit-seed", type=int, default=1)
    parser.add_argument("--generator", type=Path, help="a book generator like eu_saas_book.py")
    parser.add_argument("--backtest", action="store_true", help="also the pooled backtest")
    parser.add_argument(
        "--backtest-only", action="store_true", help="only the backtest (its pooled table)"
    )
    parser.add_argument("--keep", type=Path, help="keep the books and run folders here")
    parser.add_argument("--rows", type=Path, help="append each book's row here (JSON lines)")
    args = parser.parse_args()
    if args.rows is not None and not args.seeds:
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line]
        print_rows(rows) if "truth" in rows[0] else print_backtest(rows)
        return
    args.generator = generator(args.generator)
    os.environ.setdefault("SIMENGINE_PROGRESS", "0")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) if args.keep is None else args.keep
        root.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            t0 = time.perf_counter()
            try:
                rows.append(one_book(seed, args, root))
            except RuntimeError as err:
                print(f"seed {seed}: {err}", file=sys.stderr, flush=True)
                continue
            if args.rows is not None:
                with args.rows.open("a") as f:
                    f.write(json.dumps(rows[-1]) + "\n")
            print(f"  seed {seed} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(
        f"\n{len(rows)} books of {args.generator.name} at scale {args.scale}; fit then 12 months"
        f" forward, {args.draws} draws\n"
    )
    if rows and args.backtest_only:
        print_backtest(rows)
    elif rows:
        print_rows(rows)


if __name__ == "__main__":
    main()
