"""``simengine report PATH``: one self-contained ``report.html`` for a run, a sweep or a backtest.

PATH is a run folder (``forecast.nc``), a sweep folder (``sweep.nc`` or its jobs' ``forecast.nc``)
or a backtest folder (``backtest_scores.csv``); a file inside one names its folder.  The report is
written into PATH as ``report.html`` (``--out FILE`` elsewhere), atomically: a bad PATH writes
nothing and exits 2 with one line on stderr.

``--currency CODE`` names the currency on money axes and tables (default: the run's
``data.currency``, recorded in ``forecast.nc``; without either they say "currency").  ``--year FY``
(or ``compare.year=FY``) picks the fiscal years a sweep's comparison shows: an index, a label such
as ``FY2026``, or ``all``; default the first full fiscal year and the last.

A run's report: the headline table, the fan chart, revenue by segment, NRR and GRR (observed and
forecast), the account signals, the assumptions (the resolved config), the fit's diagnostics and
the provenance.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import xarray as xr

from simengine.report import run_record as rec
from simengine.report import sections as sec
from simengine.report.html import Section, figure, render, table, text

__all__ = ["ReportError", "build_report", "detect", "main"]

REPORT_FILE = "report.html"
#: Fan charts drawn for a sweep (a larger sweep shows the first ones and says so).
MAX_FANS = 12
_FLAGS = ("--out", "--currency")


class ReportError(ValueError):
    """A PATH that is not a run, sweep or backtest folder, or a bad flag: one line, exit 2."""


def detect(path: str | Path) -> tuple[str, Path]:
    """``("run" | "sweep" | "backtest", folder)`` of ``path``; :class:`ReportError` otherwise."""
    from simengine.sweep import job_dirs, job_ok

    raw = path
    path = Path(path).expanduser()
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        raise ReportError(f"{raw}: no such folder")
    if (path / "backtest_scores.csv").is_file():
        return "backtest", path
    if (path / "sweep.nc").is_file() or any(job_ok(j) for j in job_dirs(path)):
        return "sweep", path
    if (path / "forecast.nc").is_file():
        return "run", path
    raise ReportError(
        f"{raw}: not a run, sweep or backtest folder (no forecast.nc, sweep.nc, job folders or "
        "backtest_scores.csv there)"
    )


def _read_csv(path: Path) -> pd.DataFrame | None:
    # Account ids and segment names are text, whatever they look like.
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"account_id": str, "segment": str}, keep_default_na=False,
                       na_values=[""])  # fmt: skip


def _open(path: Path) -> xr.Dataset:
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        return ds.load()


def _run_report(folder: Path, currency: str | None) -> tuple[str, str, list[Section], str]:
    ds = _open(folder / "forecast.nc")
    attrs = dict(ds.attrs)
    currency = currency or attrs.get("currency") or None
    name = rec.scenario_name(attrs, folder)
    accounts = _read_csv(folder / "accounts_forecast.csv")
    sections = [
        sec.headline_section(ds, currency),
        sec.fan_section([(name, ds)], currency),
        sec.segment_section(ds, currency, name),
        sec.retention_section(ds, name),
        sec.signals_section(_read_csv(folder / "signals.csv"), accounts, currency=currency),
        rec.assumptions_section(attrs, folder),
        rec.diagnostics_section(attrs, folder),
        rec.provenance_section(attrs, [("run folder", folder)], config=False),
    ]
    subtitle = (
        f"Run {folder.name}: {name}, forecast from {attrs.get('as_of', '?')}, "
        f"{ds.sizes['draw']:,} draws, {sec.parameter_source(attrs)} parameters"
    )
    return f"simengine report: {name}", subtitle, sections, str(attrs.get("created_at", ""))


def _sweep_data(folder: Path) -> xr.Dataset:
    from simengine.compare.runs import load_scenarios

    return load_scenarios([folder])


def _job_dataset(folder: Path, ds: xr.Dataset, label: str) -> xr.Dataset:
    """One scenario with its run's attrs: its job's ``forecast.nc`` when the folder is there."""
    job = folder / str(ds["job"].sel(scenario=label).values)
    if (job / "forecast.nc").is_file():
        return _open(job / "forecast.nc")
    one = ds.sel(scenario=label).load()
    # sweep.nc keeps the job's config, seed and hashes as coordinates, not its other attrs.
    attrs = {k: str(one[k].values) for k in ("seed", "config_hash", "data_hash", "config")}
    return one.drop_vars([c for c in one.coords if c not in one.dims]).assign_attrs(attrs)


def _comparison_section(ds, currency, baseline: str, metrics: dict, year=None) -> Section:
    from simengine.compare.labels import sweep_grid
    from simengine.compare.metrics import parse_years
    from simengine.compare.paired import compare, shown_years
    from simengine.compare.runs import scenario_names
    from simengine.report.comparison import comparison_rows
    from simengine.report.comparison_charts import comparison_grid, comparison_plot

    names = scenario_names(ds)
    table_, notes = compare(ds, baseline, metrics)
    years = shown_years(table_, parse_years(year, ds))  # default: first full year and the last
    last, rows, shown = comparison_rows(table_, baseline, years)
    ran = f"Scenario{'s' if len(names) > 1 else ''} run: {', '.join(names)}. " if names else ""
    blocks = [
        text(
            f"{ran}Every scenario against the baseline {shown[baseline]!r}, draw by draw: the scenarios share "
            "seed and data, so draw d of one and draw d of the other saw the same random streams "
            "and their difference is the scenario's effect. p_better: share of paired draws in "
            "which the scenario is better (ties count one half).",
            *notes,
        ),
        table(
            ["metric", "scenario", "P10", "P50", "P90", "difference P50 [P10, P90]", "p_better"],
            rows,
            caption=f"{last} (fiscal years; stocks at the year's end, flows over the year); money "
            f"in {currency or 'currency'}",
            numeric=[False, False, True, True, True, True, True],
        ),
        figure(comparison_plot(table_, baseline, currency=currency, names=names),
               alt="Scenario comparison: intervals and paired differences", dpi=80),
    ]  # fmt: skip
    grid = sweep_grid(list(ds["scenario"].values))
    if grid is not None:  # a sweep over two keys: the heatmaps read it at a glance
        blocks.insert(2, figure(comparison_grid(table_, baseline, grid, currency=currency,
                                                names=names),
                                alt="Scenario comparison on the two swept keys", dpi=80))  # fmt: skip
    return Section("Scenario comparison", "comparison", blocks)


def _frontier_section(ds, currency, metrics: dict) -> Section | None:
    from simengine import frontier
    from simengine.compare.runs import scenario_names
    from simengine.report.comparison import frontier_rows
    from simengine.report.comparison_charts import frontier_figure

    spec = frontier.spec_from_keys({}, ds)
    if spec is None:
        return None
    front = frontier.frontier(ds, spec, metrics)
    columns, rows = frontier_rows(front, spec, currency)
    blocks = [
        text(
            f"Which AE:SE mix is best at each budget for {spec.objective} in "
            f"{spec.year_label or 'year ' + str(spec.year)}, and in what share of the paired draws it is best "
            f"(P(best)). Mixes the best beats in fewer than {frontier.TIE_P:.0%} of the paired "
            "draws are tied with it ('tied best'): the data cannot tell them apart. Each mix "
            "rounds its heads to whole people: its real cost a month is what was simulated, not "
            "exactly the budget."
        ),
        table(columns, rows, numeric=[c not in ("scenario", "") for c in columns]),
        figure(
            frontier_figure(front, spec, currency=currency, names=scenario_names(ds)),
            alt="Staffing frontier",
            dpi=80,
        ),  # fmt: skip
    ]
    return Section("Staffing frontier", "frontier", blocks)


def _sweep_report(folder: Path, currency: str | None, baseline: str | None, year=None):
    from simengine.compare.labels import resolve_baseline
    from simengine.compare.runs import CompareError, scenario_currency

    try:
        ds = _sweep_data(folder)
    except CompareError as exc:
        raise ReportError(f"{folder}: {exc}") from None
    currency = currency or scenario_currency(ds)
    labels = [str(s) for s in ds["scenario"].values]
    try:  # the first scenario, a full label, or one as the tables show it
        baseline = resolve_baseline(labels, baseline)
    except CompareError:
        raise ReportError(
            f"--baseline {baseline!r}: no such scenario; scenarios: {labels}"
        ) from None
    sections = []
    if len(labels) >= 2:
        metrics: dict = {}  # each scenario's per-draw metrics, read once for both sections
        from simengine.compare.metrics import parse_years
        from simengine.compare.paired import compare, shown_years
        from simengine.compare.runs import scenario_names

        try:
            sections.append(_comparison_section(ds, currency, baseline, metrics, year))
            table_ = compare(ds, baseline, metrics)[0]
            years = shown_years(table_, parse_years(year, ds))
        except CompareError as exc:
            raise ReportError(str(exc)) from None
        why = sec.drivers_section(  # absent for market=rate runs (no go-to-market model)
            table_, baseline, currency, scenario_names(ds), years
        )
        if why is not None:
            sections.append(why)
        front = _frontier_section(ds, currency, metrics)
        if front is not None:
            sections.append(front)
    base = _job_dataset(folder, ds, baseline)
    headline = sec.headline_section(base, currency)
    headline.title = f"Headline of the baseline {baseline}: P10 / P50 / P90"
    sections.insert(0, headline)
    fans = [(label, _job_dataset(folder, ds, label)) for label in labels[:MAX_FANS]]
    fan = sec.fan_section(fans, currency)
    if len(labels) > MAX_FANS:
        fan.blocks.insert(0, text(f"The first {MAX_FANS} of {len(labels)} scenarios."))
    sections.append(fan)
    job = folder / str(ds["job"].sel(scenario=baseline).values)
    signals = sec.signals_section(_read_csv(job / "signals.csv"),
                                  _read_csv(job / "accounts_forecast.csv"), currency=currency)  # fmt: skip
    signals.title = f"Per-account signals (baseline {baseline})"
    sections.append(signals)
    sections.append(rec.diagnostics_section(dict(base.attrs), job))
    prov = rec.provenance_section(dict(base.attrs), [("sweep folder", folder),
                                                     ("baseline", baseline)])  # fmt: skip
    from simengine.auto_draws import draws_taken

    taken = draws_taken(ds)  # sim.draws=auto: each scenario stops at its own number of draws
    prov.blocks.insert(0, table(
        ["scenario", "draws", "job", "overrides", "seed", "config hash", "data hash"],
        [[label, f"{taken[label]:,}", *(str(ds[k].sel(scenario=label).values) for k in
                   ("job", "overrides", "seed", "config_hash", "data_hash"))] for label in labels],
        caption="Scenarios of the sweep and the draws each took (the config below is the "
        "baseline's)",
    ))  # fmt: skip
    sections.append(prov)
    n_fail = int(ds.attrs.get("n_failed", 0) or 0)
    if n_fail:
        sections[0].blocks.insert(
            0,
            text(
                f"{n_fail} job(s) failed and are left out: {ds.attrs.get('failed_jobs', '')}",
                tone="warn",
            ),
        )
    low, high = min(taken.values()), max(taken.values())
    draws = f"{high:,} draws each" if low == high else f"{low:,}-{high:,} draws (sim.draws=auto)"
    subtitle = (
        f"Sweep {folder.name}: {len(labels)} scenarios, baseline {baseline}, forecast from "
        f"{base.attrs.get('as_of', '?')}, {draws}, "
        f"{sec.parameter_source(base.attrs)} parameters"
    )
    ds.close()
    return f"simengine report: sweep {folder.name}", subtitle, sections, ""


def _backtest_report(folder: Path, currency: str | None):
    from simengine.compare.runs import config_currency

    attrs = _backtest_attrs(folder)
    currency = currency or config_currency(attrs.get("config", ""))
    scores = pd.read_csv(folder / "backtest_scores.csv")
    bt = _read_csv(folder / "backtest.csv")
    blocks = [
        text(
            "The engine fitted on the history up to the cut-off, forecast the installed base "
            "(accounts active at the cut-off) over the held-out months, and was scored against "
            "what happened, beside the baselines (backtest.baselines). Coverage: share of held-out months whose "
            "actual lies inside the central interval (nominal 0.5 / 0.8 / 0.9); CRPS, bias and "
            "MAPE in % of actual revenue (lower is better; bias: positive = over-forecast)."
        ),
        table(
            ["method", "coverage 50", "coverage 80", "coverage 90", "CRPS %", "bias %", "MAPE %"],
            [[r.method, f"{r.coverage50:.2f}", f"{r.coverage80:.2f}", f"{r.coverage90:.2f}",
              f"{r.crps_pct:.2f}", f"{r.bias_pct:+.2f}", f"{r.mape_total:.2f}"]
             for r in scores.itertuples(index=False)],
            caption="Scores (backtest_scores.csv)",
            numeric=[False, True, True, True, True, True, True],
        ),
    ]  # fmt: skip
    png = folder / "backtest.png"
    if png.is_file():
        blocks.append(figure(png.read_bytes(), alt="Backtest: history, forecast fan, actuals "
                             "and baselines"))  # fmt: skip
    cut = ""
    if bt is not None:
        total = bt[bt["series"] == "total"]
        cut = str(total["month"].iloc[0]) if len(total) else ""
        inside = (total["actual"] >= total["p10"]) & (total["actual"] <= total["p90"])
        blocks.append(table(
            ["month", "actual", "P10", "P50", "P90", "inside P10-P90"],
            [[r.month, f"{r.actual:,.0f}", f"{r.p10:,.0f}", f"{r.p50:,.0f}", f"{r.p90:,.0f}",
              "yes" if ok else "no"] for r, ok in zip(total.itertuples(), inside, strict=True)],
            caption=f"Installed-base revenue per held-out month ({currency or 'currency'})",
            numeric=[False, True, True, True, True, False],
            flags=[[False] * 5 + [not ok] for ok in inside],
        ))  # fmt: skip
    sections = [Section("Backtest scores", "scores", blocks)]
    accounts = _read_csv(folder / "backtest_accounts.csv")
    if accounts is not None and not accounts.empty:
        sections[0].blocks.append(text(
            f"backtest_accounts.csv scores {len(accounts):,} accounts one by one."))  # fmt: skip
    sections.append(sec.signals_section(_read_csv(folder / "signals.csv"),
                                        _read_csv(folder / "accounts_forecast.csv"),
                                        currency=currency))  # fmt: skip
    sections.append(rec.diagnostics_section(attrs, folder, folder / "diagnostics.csv"))
    sections.append(rec.provenance_section(attrs, [("backtest folder", folder)]))
    subtitle = f"Backtest {folder.name}" + (f": held-out months from {cut}" if cut else "")
    return f"simengine report: backtest {folder.name}", subtitle, sections, ""


def _backtest_attrs(folder: Path) -> dict:
    """The backtest's provenance: its posterior's attrs and its Hydra config."""
    attrs: dict = {"parameters": "fitted posterior (fitted on the history up to the cut-off)"}
    if (folder / "posterior.nc").is_file():
        from simengine.fitting import load_posterior

        tree = load_posterior(folder / "posterior.nc")
        keep = ("seed", "config_hash", "data_hash", "simengine_version", "created_at", "method",
                "models")  # fmt: skip
        attrs |= {k: tree.attrs[k] for k in keep if k in tree.attrs}
        attrs["posterior"] = str(folder / "posterior.nc")
        if "config" in tree.attrs:
            attrs["config"] = tree.attrs["config"]
    hydra_cfg = folder / ".hydra" / "config.yaml"
    if hydra_cfg.is_file():
        attrs["config"] = hydra_cfg.read_text()
    return attrs


def build_report(
    path: str | Path,
    out: str | Path | None = None,
    currency: str | None = None,
    baseline: str | None = None,
    year: str | None = None,
) -> Path:
    """Write ``report.html`` for the run, sweep or backtest at ``path``; return its path.

    Parameters
    ----------
    path : str or os.PathLike
        A run, sweep or backtest folder (or a file in one).
    out : str or os.PathLike, optional
        Where to write (default ``PATH/report.html``).
    currency : str, optional
        Currency code shown on money axes and tables.
    baseline : str, optional
        A sweep's baseline scenario (default: its first).
    year : str, optional
        ``compare.year`` of a sweep's comparison: a fiscal year (index or label, ``FY2026``) or
        ``all``; default the first full fiscal year and the last.
    """
    from simengine.results import created_at, write_atomic_text

    kind, folder = detect(path)
    if kind == "run":
        title, subtitle, sections, _ = _run_report(folder, currency)
    elif kind == "sweep":
        title, subtitle, sections, _ = _sweep_report(folder, currency, baseline, year)
    else:
        title, subtitle, sections, _ = _backtest_report(folder, currency)
    html = render(title, subtitle, sections, created_at=created_at())
    target = Path(out) if out is not None else folder / REPORT_FILE
    return write_atomic_text(html, target)


def _parse(args: list[str]) -> tuple[str, dict[str, str]]:
    paths, opts = [], {}
    it = iter(args)
    for arg in it:
        key, _, value = arg.partition("=")
        if key == "compare.year":  # the comparison's years, as simengine compare takes them
            opts["year"] = value
        elif key in (*_FLAGS, "--baseline", "--year"):
            value = value or next(it, None)
            if not value:
                raise ReportError(f"{key} needs a value")
            opts[key[2:]] = value
        elif arg.startswith("-"):
            raise ReportError(f"unknown option {arg!r}; options: --out FILE, --currency CODE, "
                              "--baseline SCENARIO, --year FY (or compare.year=FY)")  # fmt: skip
        else:
            paths.append(arg)
    if len(paths) != 1:
        raise ReportError("report needs exactly one PATH (a run, sweep or backtest folder)")
    return paths[0], opts


def main(args: list[str]) -> int:
    """Entry point of ``simengine report``: 0 on success, 2 on a bad PATH (one line on stderr)."""
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    try:
        path, opts = _parse(args)
        written = build_report(
            path, opts.get("out"), opts.get("currency"), opts.get("baseline"), opts.get("year")
        )
    except (ReportError, OSError) as exc:
        print(f"simengine: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0
