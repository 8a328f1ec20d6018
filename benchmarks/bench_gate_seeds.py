"""Does the fit pass its gate on books written outside the project, at any seed?

``python benchmarks/bench_gate_seeds.py --book-seeds 31 1 2 --scale 0.5 --fit-seeds 20261122 5``
writes each book with ``../shared/books/eu_saas_book.py`` (or takes ``--books DIR ...`` already
written; ``--default-book`` adds the embedded book ``make demo`` fits), compiles its full model
once, samples it with the default FitConfig (unless ``--draws``/``--tune``/``--target-accept``)
on each fit seed, and prints one row per (book, fit seed): gate pass/FAIL, wall seconds of
sampling, max R-hat, min bulk ESS, divergences, the restarts the stuck-chain watch made
(``fitting.sampling.stuck_chains``), the gradient evaluations (leapfrog steps) a draw in warm-up
and in sampling, their total over the chains, min bulk ESS per second of sampling, and at the end
the process's peak resident memory.  Issue 22: on the shared book (seed 31, scale 1) fit seeds
20261122 and 5 got stuck before the watch and the stable covariate likelihood.  Issue 25: the
evaluations a draw are what ``tune`` and ``target_accept`` trade against the gate.  Figures in
benchmarks/fit_results.txt.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr

from simengine.config import FitConfig
from simengine.data import default_book, load_book
from simengine.fitting import check_gate, diagnostics_table, resolve_models, sampling
from simengine.fitting.core import build_joint_model, kept_variables
from simengine.fitting.sampling import StuckSamplerError, compile_nuts, sample_model

GENERATOR = Path(__file__).resolve().parents[2] / "shared" / "books" / "eu_saas_book.py"


class _CountingWatch(sampling._Watch):
    """The fit's stuck-chain watch, also keeping nutpie's last progress report for the counts.

    The tree holds the sampling draws' leapfrog steps only (warm-up is not saved); nutpie's
    progress reports carry each chain's cumulative steps, warm-up included.
    """

    last: list = []

    def __call__(self, progress) -> None:
        super().__call__(progress)
        _CountingWatch.last = [
            (p.finished_draws, p.total_num_steps, p.tuning) for p in progress if p.started
        ]


def evaluation_counts(n_steps, tune: int) -> dict:
    """Gradient evaluations of the last NUTS run: per draw in warm-up and sampling, and in all.

    Parameters
    ----------
    n_steps : numpy.ndarray, shape (chain, draw)
        Leapfrog steps of each sampling draw (``sample_stats.n_steps``), exact.
    tune : int
        Warm-up draws a chain.

    Returns
    -------
    dict
        ``evals_warmup`` and ``evals_draw`` (a draw, chains averaged) and ``evals_total`` (all
        chains, warm-up included).  nutpie reports progress once a second, so its last report may
        lag the end; the sampling draws after it are added from ``n_steps`` (exact when that
        report was made after warm-up, else the warm-up figure is a lower bound and says so).
    """
    sampling_total = int(n_steps.sum())
    warmup, exact = 0, True
    reports = _CountingWatch.last
    if len(reports) != n_steps.shape[0]:
        return {"evals_draw": round(sampling_total / n_steps.size, 1)}
    for chain, (finished, total, tuning) in enumerate(reports):
        done = max(finished - tune, 0)
        warmup += total - int(n_steps[chain, :done].sum())
        exact &= not tuning
    per_warm = warmup / (tune * n_steps.shape[0])
    return {
        "evals_warmup": f"{per_warm:.1f}" if exact else f">={per_warm:.1f}",
        "evals_draw": round(sampling_total / n_steps.size, 1),
        "evals_total": warmup + sampling_total,
    }


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


def first_draws(tree, cfg: FitConfig, n: int) -> dict:
    """The gate's figures on each chain's first ``n`` draws.

    nutpie adapts only during warm-up, so these are the draws a run with ``draws=n`` (same seed,
    same tune) would have made: a shorter setting judged without sampling it again.
    """
    short = xr.DataTree.from_dict(
        {g: tree[g].to_dataset().isel(draw=slice(0, n)) for g in ("posterior", "sample_stats")}
    )
    short.attrs = dict(tree.attrs)
    table = diagnostics_table(short)
    return {
        f"first{n}_gate": "pass" if not check_gate(short, cfg) else "FAIL",
        f"first{n}_max_rhat": round(float(table["r_hat"].max()), 3),
        f"first{n}_min_ess": round(float(table["ess_bulk"].min())),
    }


def gate_rows(
    folder: Path | None, fit_seeds: list[int], cfg: FitConfig, also_draws: list[int] = ()
):
    """Fit the book in ``folder`` (None: the embedded book) on each fit seed (compiled once).

    Yields one row per seed.
    """
    if folder is None:
        book, name = default_book(), "default (embedded)"
    else:
        tables = {t: folder / f"{t}.csv" for t in ("accounts", "usage", "use_cases")}
        book, name = load_book(**{t: p for t, p in tables.items() if p.exists()}), folder.name
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
            yield {"book": name, "fit_seed": seed, **row}
            continue
        wall = time.perf_counter() - t0
        result.tree.attrs["method"] = "nuts"
        failures = check_gate(result.tree, cfg)
        table = diagnostics_table(result.tree)
        worst = table.loc[table["r_hat"].idxmax()]
        min_ess = float(table["ess_bulk"].min())
        n_steps = result.tree["sample_stats"]["n_steps"].to_numpy()
        yield {
            "book": name,
            "accounts": len(book.accounts),
            "fit_seed": seed,
            "gate": "pass" if not failures else "FAIL",
            "compile_s": round(compile_s, 1),
            "sampling_s": round(wall, 1),
            "max_rhat": round(float(table["r_hat"].max()), 3),
            "worst": f"{worst['parameter']}[{worst['segment']}]",
            "min_ess_bulk": round(min_ess),
            "worst_ess": "{}[{}]".format(
                *table.loc[table["ess_bulk"].idxmin(), ["parameter", "segment"]]
            ),
            "divergences": int(table["divergences"].iloc[0]),
            "restarts": len(result.restarts),
            **evaluation_counts(n_steps, cfg.tune),
            "min_ess_per_s": round(min_ess / wall, 1),
            **{
                k: v
                for n in also_draws
                if n < cfg.draws
                for k, v in first_draws(result.tree, cfg, n).items()
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--books", nargs="*", type=Path, default=[])
    parser.add_argument("--book-seeds", nargs="*", type=int, default=[])
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--fit-seeds", nargs="+", type=int, default=[20261122])
    parser.add_argument("--draws", type=int, default=None)
    parser.add_argument("--tune", type=int, default=None)
    parser.add_argument("--target-accept", type=float, default=None)
    parser.add_argument("--default-book", action="store_true", help="also the embedded book")
    parser.add_argument(
        "--also-draws", nargs="*", type=int, default=[], help="gate on the first N draws too"
    )
    parser.add_argument("--root", type=Path, default=None, help="where to write the books")
    args = parser.parse_args()
    cfg = FitConfig()
    if args.draws:
        cfg.draws = args.draws
    if args.tune:
        cfg.tune = args.tune
    if args.target_accept:
        cfg.target_accept = args.target_accept
    sampling._Watch = _CountingWatch
    root = args.root or Path(tempfile.mkdtemp(prefix="gate_books_"))
    books = list(args.books) + write_books(args.book_seeds, args.scale, root)
    books += [None] if args.default_book else []
    print(
        f"FitConfig: {cfg.chains} chains x ({cfg.tune} tune + {cfg.draws} draws), "
        f"target_accept {cfg.target_accept}",
        flush=True,
    )
    passed = total = 0
    for folder in books:
        for row in gate_rows(folder, args.fit_seeds, cfg, args.also_draws):
            total += 1
            passed += row["gate"] == "pass"
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"gate passed on {passed} of {total}; peak resident memory {peak_mb:,.0f} MB", flush=True)


if __name__ == "__main__":
    main()
