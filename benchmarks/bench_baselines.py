"""The backtest's baselines on books written outside the project: their scores and their cost.

``python benchmarks/bench_baselines.py /work/books/eu31_s05 [more book folders] [--holdout 12]``
cuts each book ``--holdout`` months before its last month (as ``simengine backtest`` does), runs
every baseline of :data:`simengine.backtest.BASELINES` (or ``--baselines NAME...``) on the installed base's history and prints
per book and baseline: seconds, ``crps_pct``, ``bias_pct``, ``coverage80`` against what the
installed base billed.  Rows ``raw:seasonal_naive`` / ``raw:naive_last`` are the same methods on
the raw total (the sum of the installed base's revenue, which grows when one of its accounts
started), as the backtest computed them before the like-for-like history.  No fit is run: the
baselines' seconds are to be read against a backtest's whole time (the fit and the forecast,
printed by ``simengine backtest``; on the shared book 689 s, of which per-account ETS was 468 s).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from simengine.backtest import BASELINES, naive_last, score, seasonal_naive, split_book
from simengine.backtest.forecasts import like_for_like
from simengine.data import load_book


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("books", nargs="+", type=Path)
    parser.add_argument("--holdout", type=int, default=12)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--baselines", nargs="+", default=list(BASELINES), choices=list(BASELINES))
    args = parser.parse_args()
    for folder in args.books:
        tables = {t: folder / f"{t}.csv" for t in ("accounts", "usage", "use_cases")}
        book = load_book(**{t: p for t, p in tables.items() if p.exists()})
        split = split_book(book, args.holdout)
        actual = split.actual.sum(axis=0)
        raw = split.history.sum(axis=0)
        print(f"{folder.name}: {len(split.accounts)} accounts in the installed base", flush=True)
        t0 = time.perf_counter()
        total = like_for_like(split.history)
        rows = [("like_for_like history", time.perf_counter() - t0, None)]
        for name in args.baselines:
            make = BASELINES[name]
            t0 = time.perf_counter()
            forecast = make(split.history, total, args.holdout, args.paths, 1)
            rows.append((name, time.perf_counter() - t0, forecast))
        rows.append(("raw:naive_last", 0.0, naive_last(raw, args.holdout)))
        rows.append(("raw:seasonal_naive", 0.0, seasonal_naive(raw, args.holdout)))
        for name, seconds, forecast in rows:
            if forecast is None:
                print(f"  {name:22s} {seconds:8.2f} s", flush=True)
                continue
            s = score(forecast, actual)
            print(
                f"  {name:22s} {seconds:8.2f} s  crps_pct {s['crps_pct']:6.2f}  "
                f"bias_pct {s['bias_pct']:+7.2f}  coverage80 {s['coverage80']:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
