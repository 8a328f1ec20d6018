"""Fit benchmark: compile vs sampling seconds of the full fit (usage, churn, expansion).

``python benchmarks/bench_fit.py`` fits synthetic books of 2,000 and 20,000 accounts x 36 months
with NUTS (nutpie, 2 chains on 2 cores, 1000 tune + 1000 draws) and with MAP and ADVI, and prints
timings and the MAP/ADVI estimates next to the NUTS posterior means.  ``--quick`` uses 2,000
accounts only and 300 + 300 draws.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from simengine.config import FitConfig
from simengine.data import generate_book
from simengine.fitting import diagnostics_table, fit_book

KEY = [
    "usage_drift",
    "usage_volatility",
    "ramp_start",
    "churn_alpha",
    "churn_beta",
    "csm_hazard_ratio",
    "use_case_rate",
    "use_case_size_mu",
]


def run(n_accounts: int, method: str, draws: int) -> tuple[dict, pd.DataFrame]:
    book = generate_book(n_accounts=n_accounts, seed=20261122).book
    cfg = FitConfig(method=method, draws=draws, tune=draws)
    t0 = time.perf_counter()
    tree = fit_book(book, cfg, seed=1, progress=False)
    total = time.perf_counter() - t0
    table = diagnostics_table(tree)
    row = {
        "accounts": n_accounts,
        "method": method,
        "compile_s": round(tree.attrs["compile_seconds"], 1),
        "sampling_s": round(tree.attrs["sampling_seconds"], 1),
        "total_s": round(total, 1),
    }
    if method == "nuts":
        row |= {
            "max_r_hat": round(table["r_hat"].max(), 3),
            "min_ess_bulk": round(table["ess_bulk"].min()),
            "divergences": int(table["divergences"].iloc[0]),
        }
    return row, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    draws = 300 if args.quick else 1000
    sizes = [2000] if args.quick else [2000, 20000]
    rows, tables = [], {}
    for n in sizes:
        for method in ("nuts", "map", "advi"):
            row, table = run(n, method, draws)
            print(row, flush=True)
            rows.append(row)
            tables[(n, method)] = table.set_index(["parameter", "segment"])["mean"]
    print(pd.DataFrame(rows).to_string(index=False))
    for n in sizes:
        est = pd.DataFrame({m: tables[(n, m)] for m in ("nuts", "map", "advi")})
        est = est[est.index.get_level_values(0).isin(KEY)]
        print(f"\nestimates at {n} accounts (posterior means; MAP point)\n{est.to_string()}")


if __name__ == "__main__":
    main()
