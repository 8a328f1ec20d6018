"""Does the per-account churn probability rank and add up?  Scored on a book's forward year.

For a book written by ``../shared/books/eu_saas_book.py`` (which keeps each account's 2026 fate in
``truth_accounts_2026.csv``), fit it (or take ``--posterior``), run 12 months forward and print,
per segment: accounts, churned, ``sum(p_churn_12m)`` against the churned count, and the
within-segment AUC of ``p_churn_12m`` (the chance a churner is ranked above a survivor).

Two things to know when reading the figures:

- the book's ``churned_2026`` counts a churn decision in each of 13 months (December 2025's to
  December 2026's: the last one's churn month is January 2027) while ``p_churn_12m`` covers 12
  boundaries (churn months January-December 2026), so the expected ``sum / churned`` is ~12/13;
- ``--oracle FILE`` (an ``oracle.csv`` with ``account_id, p12, p13``: each account's churn
  probability under the book's own generating process, its true parameters and the account's
  true state, by Monte Carlo) adds the AUC that process itself reaches: the ceiling any forecast
  can reach on that book.

Run ``python benchmarks/bench_churn_rank.py BOOK_DIR [--posterior P] [--run-dir D]
[--draws 500] [--fit-draws 300] [--seed 1]``; ``--accounts CSV`` scores an existing
``accounts_forecast.csv`` without fitting or running.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata


def auc(score: np.ndarray, outcome: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half); NaN without both classes."""
    outcome = np.asarray(outcome, dtype=bool)
    n1 = int(outcome.sum())
    n0 = outcome.size - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[outcome].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def score(accounts: pd.DataFrame, truth: pd.DataFrame, oracle: pd.DataFrame | None = None):
    """Per-segment table: accounts, churned, sum of p, ratio, AUC of p_churn_12m (and 3m)."""
    table = truth.merge(accounts, on=["account_id", "segment"], how="inner")
    if oracle is not None:
        table = table.merge(oracle[["account_id", "p13"]], on="account_id", how="left")
    rows = []
    for segment, g in [*table.groupby("segment"), ("all", table)]:
        y = g["churned_2026"].to_numpy(bool)
        row = {
            "segment": segment,
            "accounts": len(g),
            "churned": int(y.sum()),
            "sum_p12": float(g["p_churn_12m"].sum()),
            "sum_p12_over_churned": float(g["p_churn_12m"].sum() / max(y.sum(), 1)),
            "auc_p12": auc(g["p_churn_12m"].to_numpy(), y) if segment != "all" else np.nan,
            "auc_p3": auc(g["p_churn_3m"].to_numpy(), y) if segment != "all" else np.nan,
        }
        if oracle is not None and segment != "all":
            row["auc_oracle"] = auc(g["p13"].to_numpy(), y)
        rows.append(row)
    return pd.DataFrame(rows)


def forecast(book: Path, posterior: str | None, run_dir: Path, args) -> pd.DataFrame:
    """Fit (unless ``posterior``) and run 12 months; the accounts table."""
    import simengine
    from simengine.accounts_forecast import accounts_frame
    from simengine.fitting import save_posterior

    data = [
        f"data.accounts={book / 'accounts.csv'}",
        f"data.usage={book / 'usage.csv'}",
        f"data.use_cases={book / 'use_cases.csv'}",
        "data.currency=EUR",
        f"seed={args.seed}",
    ]
    if posterior is None:
        tree = simengine.fit(
            [*data, f"fit.draws={args.fit_draws}", f"fit.tune={args.fit_draws}", "fit.chains=2"]
        )
        posterior = str(save_posterior(tree, run_dir / "posterior.nc"))
        print(f"posterior: {posterior}")
    ds = simengine.simulate(
        [*data, f"fit.posterior={posterior}", "fit.allow_bad=true", f"sim.draws={args.draws}",
         "sim.horizon_months=12", "sim.progress=false"]
    )  # fmt: skip
    return accounts_frame(ds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", type=Path)
    parser.add_argument("--posterior")
    parser.add_argument("--accounts", type=Path, help="score this accounts_forecast.csv")
    parser.add_argument("--oracle", type=Path)
    parser.add_argument("--run-dir", type=Path)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--fit-draws", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    truth = pd.read_csv(args.book / "truth_accounts_2026.csv")
    if args.accounts is not None:
        accounts = pd.read_csv(args.accounts)
    else:
        run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="churn_rank_"))
        run_dir.mkdir(parents=True, exist_ok=True)
        accounts = forecast(args.book, args.posterior, run_dir, args)
        accounts.to_csv(run_dir / "accounts_forecast.csv", index=False)
    oracle = pd.read_csv(args.oracle) if args.oracle else None
    with pd.option_context("display.width", 160, "display.precision", 3):
        print(score(accounts, truth, oracle).to_string(index=False))


if __name__ == "__main__":
    main()
