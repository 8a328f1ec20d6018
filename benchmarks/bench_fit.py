"""Fit benchmark: compile vs sampling seconds of the full fit (usage, churn, expansion).

``python benchmarks/bench_fit.py`` fits synthetic books of 2,000 and 20,000 accounts x 36 months
with NUTS (nutpie, 2 chains on 2 cores, 1000 tune + 1000 draws, else the default FitConfig) and with
MAP and ADVI, and prints timings, the gate figures and the MAP/ADVI estimates next to the NUTS
posterior means.  ``--large-draws N`` runs the 20,000-account NUTS fit with N tune + N draws
(default 1000; lower it when the full run is too long for the machine); ``--quick`` uses 2,000
accounts only and 300 + 300 draws.

``--gate-seeds N [--gate-accounts n]`` instead fits one book (default 2,000 accounts) with the
default FitConfig on seeds 0..N-1, compiled once, and prints the gate figures per seed (issue 8:
10 seeds on the default book, 3 on 20,000 accounts).

Compile seconds depend on PyTensor's and numba's caches (``~/.pytensor``): a cold cache adds
about a minute to the first NUTS compile after a model change.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

from simengine.config import FitConfig
from simengine.data import generate_book
from simengine.fitting import check_gate, diagnostics_table, fit_book

KEY = [
    "usage_drift",
    "usage_volatility",
    "account_sd",
    "ramp_start",
    "ramp_months",
    "churn_alpha",
    "churn_beta",
    "csm_hazard_ratio",
    "use_case_rate",
    "use_case_size_mu",
    "use_case_ramp_months",
]


def run(book, n_accounts: int, method: str, draws: int) -> tuple[dict, pd.DataFrame]:
    """Fit ``book`` with ``method``; one row of timings and gate figures, and the table."""
    cfg = FitConfig(method=method, draws=draws, tune=draws)
    t0 = time.perf_counter()
    tree = fit_book(book, cfg, seed=1, progress=False)
    total = time.perf_counter() - t0
    table = diagnostics_table(tree)
    row = {
        "accounts": n_accounts,
        "method": method,
        "tune+draws": f"{draws}+{draws}" if method == "nuts" else "-",
        "compile_s": round(tree.attrs["compile_seconds"], 1),
        "sampling_s": round(tree.attrs["sampling_seconds"], 1),
        "total_s": round(total, 1),
    }
    if method == "nuts":
        stats = tree["sample_stats"].to_dataset()
        row |= {
            "steps/draw": round(float(stats["n_steps"].mean()), 1),
            "max_r_hat": round(float(table["r_hat"].max()), 3),
            "worst": "{}[{}]".format(*table.loc[table["r_hat"].idxmax(), ["parameter", "segment"]]),
            "min_ess_bulk": int(table["ess_bulk"].min()),
            "divergences": int(table["divergences"].iloc[0]),
            "gate": "pass" if not check_gate(tree, cfg) else "FAIL",
        }
    return row, table


def gate_seeds(n_accounts: int, seeds: int) -> None:
    """Gate figures of the default fit on seeds 0..seeds-1 of one book, compiled once."""
    from simengine.data import default_book
    from simengine.fitting import resolve_models
    from simengine.fitting.core import build_joint_model, kept_variables
    from simengine.fitting.sampling import compile_nuts, sample_model

    cfg = FitConfig()
    book = default_book() if n_accounts == 2000 else generate_book(n_accounts, seed=20261122).book
    model, _ = build_joint_model(book, resolve_models(cfg.models, book), seed=0)
    names = kept_variables(model)
    t0 = time.perf_counter()
    compiled = compile_nuts(model, names)
    print(f"# {n_accounts} accounts: compiled in {time.perf_counter() - t0:.1f} s", flush=True)
    for seed in range(seeds):
        result = sample_model(model, cfg, seed, names, progress=False, compiled=compiled)
        table = diagnostics_table(result.tree)
        worst = table.loc[table["ess_bulk"].idxmin()]
        row = {
            "accounts": n_accounts,
            "seed": seed,
            "sampling_s": round(result.sampling_seconds, 1),
            "steps/draw": round(float(result.tree["sample_stats"]["n_steps"].mean()), 1),
            "max_r_hat": round(float(table["r_hat"].max()), 4),
            "min_ess_bulk": int(table["ess_bulk"].min()),
            "worst_ess": f"{worst['parameter']}[{worst['segment']}]",
            "divergences": int(table["divergences"].iloc[0]),
            "gate": "pass" if not check_gate(result.tree, cfg) else "FAIL",
        }
        print(row, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--large-draws", type=int, default=1000)
    parser.add_argument("--skip-large-nuts", action="store_true")
    parser.add_argument("--gate-seeds", type=int, default=0)
    parser.add_argument("--gate-accounts", type=int, default=2000)
    args = parser.parse_args()
    if args.gate_seeds:
        gate_seeds(args.gate_accounts, args.gate_seeds)
        return
    draws = 300 if args.quick else 1000
    sizes = [2000] if args.quick else [2000, 20000]
    print(f"# {os.cpu_count()} cores; synthetic books (generate_book seed 20261122), fit seed 1")
    rows, tables = [], {}
    for n in sizes:
        t0 = time.perf_counter()
        book = generate_book(n_accounts=n, seed=20261122).book
        print(f"# book of {n} accounts generated in {time.perf_counter() - t0:.1f} s", flush=True)
        for method in ("nuts", "map", "advi"):
            n_draws = draws
            if method == "nuts" and n > 2000:
                if args.skip_large_nuts:
                    print(f"# NUTS at {n} accounts skipped (--skip-large-nuts)")
                    continue
                n_draws = args.large_draws
            row, table = run(book, n, method, n_draws)
            print(row, flush=True)
            rows.append(row)
            tables[(n, method)] = table.set_index(["parameter", "segment"])
    print()
    print(pd.DataFrame(rows).fillna("").to_string(index=False))
    for n in sizes:
        have = [m for m in ("nuts", "map", "advi") if (n, m) in tables]
        est = pd.DataFrame({m: tables[(n, m)]["mean"] for m in have})
        if "nuts" in have:
            est.insert(1, "nuts_sd", tables[(n, "nuts")]["sd"])
            for m in ("map", "advi"):
                if m in have:
                    est[f"{m}_z"] = (est[m] - est["nuts"]) / np.maximum(est["nuts_sd"], 1e-12)
        est = est[est.index.get_level_values(0).isin(KEY)]
        print(
            f"\nestimates at {n} accounts (posterior means; MAP point; *_z = distance from the "
            f"NUTS mean in NUTS posterior SDs)\n{est.to_string(float_format=lambda v: f'{v:.4g}')}"
        )


if __name__ == "__main__":
    main()
