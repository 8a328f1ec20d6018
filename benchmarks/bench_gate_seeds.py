"""Does the fit pass its gate on books written outside the project, at any seed?

``python benchmarks/bench_gate_seeds.py --book-seeds 31 1 2 --scale 0.5 --fit-seeds 20261122 5``
writes each book with ``../shared/books/eu_saas_book.py`` (or takes ``--books DIR ...`` already
written), compiles its full model once, samples it with the default FitConfig (2 chains x 1,000
tune + 2,000 draws, unless ``--draws``/``--tune``) on each fit seed, and prints one row per (book,
fit seed): gate pass/FAIL, wall seconds of sampling, max R-hat, min bulk ESS, divergences, and
the restarts the stuck-chain watch made (``fitting.sampling.stuck_chains``).  Issue 22: on the
shared book (seed 31, scale 1) fit seeds 20261122 and 5 got stuck before the watch and the
stable covariate likelihood.  Figures in benchmarks/fit_results.txt.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simengine.config import FitConfig
from simengine.data import load_book
from simengine.fitting import check_gate, diagnostics_table, resolve_models
from simengine.fitting.core import build_joint_model, kept_variables
from simengine.fitting.sampling import StuckSamplerError, compile_nuts, sample_model

GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "books" / "eu_saas_book.py"


def write_books(seeds: list[int], scale: float, root: Path) -> list[Path]:
    """Each seed's book written by the outside generator under ``root``."""
    out = []
    for seed in seeds:
        folder = root / f"eu_{seed}_s{scale:g}"
        if not (folder / "accounts.csv").exists():
            cmd = [sys.executable, str(GENERATOR), str(folder), str(seed), str(scale)]
            subprocess.run(cmd, check=True, capture_output=True)
        out.append(folder)
    return out


def gate_rows(folder: Path, fit_seeds: list[int], cfg: FitConfig):
    """Fit the book in ``folder`` on each fit seed (compiled once); yield one row per seed."""
    tables = {t: folder / f"{t}.csv" for t in ("accounts", "usage", "use_cases")}
    book = load_book(**{t: p for t, p in tables.items() if p.exists()})
    model, _ = build_joint_model(book, resolve_models(list(cfg.models), book), seed=0)
    names = kept_variables(model)
    t0 = time.perf_counter()
    compiled = compile_nuts(model, names)
    compile_s = time.perf_counter() - t0
    for seed in fit_seeds:
        t0 = time.perf_counter()
        try:
            result = sample_model(model, cfg, seed, names, progress=False, compiled=compiled)
        except StuckSamplerError as exc:
            row = {"gate": "STUCK", "restarts": len(exc.reasons)}
            yield {"book": folder.name, "fit_seed": seed, **row}
            continue
        wall = time.perf_counter() - t0
        result.tree.attrs["method"] = "nuts"
        failures = check_gate(result.tree, cfg)
        table = diagnostics_table(result.tree)
        worst = table.loc[table["r_hat"].idxmax()]
        yield {
            "book": folder.name,
            "accounts": len(book.accounts),
            "fit_seed": seed,
            "gate": "pass" if not failures else "FAIL",
            "compile_s": round(compile_s, 1),
            "sampling_s": round(wall, 1),
            "max_rhat": round(float(table["r_hat"].max()), 3),
            "worst": f"{worst['parameter']}[{worst['segment']}]",
            "min_ess_bulk": round(float(table["ess_bulk"].min())),
            "divergences": int(table["divergences"].iloc[0]),
            "restarts": len(result.restarts),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", nargs="*", type=Path, default=[])
    parser.add_argument("--book-seeds", nargs="*", type=int, default=[])
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--fit-seeds", nargs="+", type=int, default=[20261122])
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--root", type=Path, default=None, help="where to write the books")
    args = parser.parse_args()
    cfg = FitConfig()
    if args.draws:
        cfg.draws = args.draws
    if args.tune:
        cfg.tune = args.tune
    root = args.root or Path(tempfile.mkdtemp(prefix="gate_books_"))
    books = list(args.books) + write_books(args.book_seeds, args.scale, root)
    print(f"FitConfig: {cfg.chains} chains x ({cfg.tune} tune + {cfg.draws} draws)", flush=True)
    passed = total = 0
    for folder in books:
        for row in gate_rows(folder, args.fit_seeds, cfg):
            total += 1
            passed += row["gate"] == "pass"
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    print(f"gate passed on {passed} of {total}", flush=True)


if __name__ == "__main__":
    main()
