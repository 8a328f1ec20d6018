"""``simengine compare PATH... [compare.KEY=VALUE]``: compare runs or a sweep, paired by draw.

Loads the scenarios (:mod:`simengine.compare`), pairs them against the baseline, adds the staffing
frontier on a mix sweep (:mod:`simengine.frontier`), writes ``comparison.csv``/``.png`` (and
``comparison_grid.png`` for a sweep over two keys, ``frontier.csv``/``.png`` for a mix sweep) and
prints the tables.  See :mod:`simengine.compare` for the metrics,
the direction of each and the tie rule.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from simengine.compare.labels import resolve_baseline, sweep_grid
from simengine.compare.metrics import parse_years
from simengine.compare.paired import KEYS, compare, shown_years
from simengine.compare.runs import CompareError, load_scenarios, scenario_currency, scenario_names
from simengine.config.messages import unknown_key

__all__ = ["main", "parse_args", "run"]


def parse_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Split ``PATH...`` from ``compare.KEY=VALUE``; refuse unknown keys and flags."""
    paths, keys = [], {}
    for arg in args:
        if arg.startswith("hydra.") and "=" in arg:
            key, value = arg.split("=", 1)
            if key != "hydra.run.dir":
                raise CompareError(
                    f"{key}: compare reads hydra.run.dir=DIR only (its output folder, as "
                    "compare.out=DIR); default outputs/compare/<date>_<time>_<id>"
                )
            if "out" in keys and keys["out"] != value:
                raise CompareError(
                    f"hydra.run.dir={value} and compare.out={keys['out']}: two output folders; "
                    "give one"
                )
            keys["out"] = value
        elif arg.startswith("compare.") and "=" in arg:
            key, value = arg.split("=", 1)
            name = key.removeprefix("compare.")
            if name not in KEYS:
                raise CompareError(str(unknown_key(key, KEYS)))
            if name == "out" and keys.get("out", value) != value:
                raise CompareError(
                    f"hydra.run.dir={keys['out']} and compare.out={value}: two output folders; "
                    "give one"
                )
            keys[name] = value
        elif arg.startswith("-"):
            raise CompareError(
                f"{arg}: unknown flag; usage: simengine compare PATH... [compare.KEY=VALUE]"
            )
        elif "=" in arg and not Path(arg).exists():
            raise CompareError(
                f"{arg!r}: not a path, nor a key compare reads "
                f"({', '.join('compare.' + k for k in KEYS)}, hydra.run.dir)"
            )
        else:
            paths.append(arg)
    if not paths:
        raise CompareError("compare needs at least one PATH (a sweep folder or run folders)")
    return paths, keys


def _out_dir(keys: dict[str, str]) -> Path:
    if "out" in keys:
        return Path(keys["out"]).expanduser()
    import secrets

    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return Path("outputs") / "compare" / f"{stamp}_{secrets.token_hex(3)}"


def run(args: list[str]) -> Path:
    """Compare PATHs per ``args``; write the outputs; return the output folder."""
    from rich.console import Console

    from simengine import frontier
    from simengine.csvtext import plain_csv
    from simengine.report.comparison import print_comparison, print_drivers, print_frontier_table
    from simengine.report.comparison_charts import comparison_grid, comparison_plot, frontier_figure
    from simengine.results import created_at, write_atomic_text
    from simengine.workbook import comparison_workbook, save_workbook

    paths, keys = parse_args(args)
    ds = load_scenarios(paths)
    if ds.sizes["scenario"] < 2:
        raise CompareError("compare needs at least two scenarios")
    years = parse_years(keys.get("year"), ds)  # compare.year: a fiscal year, or all
    spec = frontier.spec_from_keys(keys, ds)  # validates the frontier keys before any output
    baseline = resolve_baseline(ds["scenario"].values, keys.get("baseline"))
    metrics: dict = {}  # each scenario's per-draw metrics, read once for both
    table, notes = compare(ds, baseline, metrics, years=years)
    front = frontier.frontier(ds, spec, metrics) if spec is not None else None

    out = _out_dir(keys)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic_text(plain_csv(table), out / "comparison.csv")
    currency = scenario_currency(ds)
    names = scenario_names(ds)  # each chart's and table's title opens with them
    comparison_plot(table, baseline, out / "comparison.png", currency=currency, names=names)
    written = ["comparison.csv", "comparison.png"]
    book = comparison_workbook(
        table, _scenario_table(ds), _settings(paths, keys, baseline, currency), currency, front
    )
    save_workbook(book, out / "comparison.xlsx", created_at())
    written.append("comparison.xlsx")
    grid = sweep_grid(list(ds["scenario"].values))
    if grid is not None:  # a sweep over two keys: one heatmap a metric, on one screen
        comparison_grid(
            table, baseline, grid, out / "comparison_grid.png", currency=currency, names=names
        )
        written.append("comparison_grid.png")
    if front is not None:
        write_atomic_text(plain_csv(front), out / "frontier.csv")
        frontier_figure(front, spec, out / "frontier.png", currency=currency, names=names)
        written += ["frontier.csv", "frontier.png"]
    console = Console()
    shown = shown_years(table, years)
    print_comparison(table, baseline, console, names, years=shown)
    print_drivers(table, baseline, console, names, years=shown)  # nothing for market=rate runs
    if front is not None:
        print_frontier_table(front, spec, console, currency, names)
    for note in notes:
        console.print(f"note: {note}")
    console.print(f"[bold]wrote[/bold] {out}/ ({', '.join(written)})")
    ds.close()
    return out


def _scenario_table(ds):
    """One row per scenario: its label and provenance (comparison.xlsx's Scenarios sheet)."""
    import pandas as pd

    table = pd.DataFrame({"scenario": [str(s) for s in ds["scenario"].values]})
    for key in ("job", "seed", "config_hash", "data_hash"):
        if key in ds.coords:
            table[key] = [str(v) for v in ds[key].values]
    return table


def _settings(paths, keys: dict[str, str], baseline: str, currency) -> list[tuple[str, str]]:
    """What the comparison was asked: paths, baseline, currency, ``compare.*`` keys."""
    rows = [("compared", ", ".join(map(str, paths))), ("baseline", baseline)]
    rows.append(("currency", currency or "(not recorded)"))
    rows += [(f"compare.{k}", v) for k, v in sorted(keys.items()) if k != "baseline"]
    return rows


def main(args: list[str]) -> int:
    """Entry point of ``simengine compare``: 0 on success, 2 on bad input (one line on stderr)."""
    if args and args[0] in ("-h", "--help"):
        import simengine.compare

        print(simengine.compare.__doc__)
        return 0
    try:
        run(args)
    except (CompareError, OSError) as exc:
        print(f"simengine: error: {exc}", file=sys.stderr)
        return 2
    return 0
