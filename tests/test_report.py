"""``simengine report PATH``: one self-contained report.html for a run, a sweep and a backtest,
opened in a real headless browser; the charts it embeds (history, cut-off, currency, title,
legends outside the data); user text escaped; a bad PATH refused with nothing written.

The run simulates a book whose account ids and a segment name carry HTML and script: they are data
and must come out as text.  Chromium (Debian's ``chromium``) takes the screenshots; without it the
browser tests skip, unless ``SIMENGINE_REQUIRE_BROWSER=1`` (``.ci/run`` sets it) makes them fail.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from tests.conftest import SMALL, run_cli
from tests.test_backtest import BACKTEST_SMALL

SCRIPT = "<script>alert(1)</script>"
BAD_SEGMENT = "smb<img src=x onerror=alert(2)>"
PNG = b"\x89PNG\r\n\x1a\n"
#: Browser window, so the screenshot's expected size.
WINDOW = (1280, 2000)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """A run of a user book: every third account id ends in a script tag, smb is renamed to an
    ``<img onerror>``; its report is written by the CLI."""
    from simengine.data.synth import generate_book
    from simengine.data.writer import write_book

    folder = tmp_path_factory.mktemp("hostile")
    book = generate_book(n_accounts=120, history_months=24, seed=3).book
    ids = {
        a: f"{a}{SCRIPT}" if i % 3 == 0 else a for i, a in enumerate(book.accounts["account_id"])
    }
    book.accounts["account_id"] = book.accounts["account_id"].map(ids)
    book.accounts["segment"] = book.accounts["segment"].replace({"smb": BAD_SEGMENT})
    book.usage["account_id"] = book.usage["account_id"].map(ids)
    book.use_cases["account_id"] = book.use_cases["account_id"].map(ids)
    paths = write_book(book, folder / "book")
    run = folder / "run"
    proc = run_cli(
        "run",
        *(f"data.{k}={v}" for k, v in paths.items()),
        *SMALL[:3],
        "fit.posterior=none",
        f"hydra.run.dir={run}",
    )
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", str(run), "--currency", "EUR")
    assert proc.returncode == 0, proc.stderr
    return run, paths


@pytest.fixture(scope="module")
def mix_sweep(tmp_path_factory):
    """A 2 budgets x 2 AE:SE ratios sweep (comparison and frontier) and its report."""
    sweep = tmp_path_factory.mktemp("sweep") / "sweep"
    proc = run_cli(
        "run", "-m", *SMALL, "staffing.budget=500000,900000", "staffing.ae_per_se=1.5,6",
        f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", str(sweep))
    assert proc.returncode == 0, proc.stderr
    return sweep


@pytest.fixture(scope="module")
def backtest_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backtest")
    proc = run_cli("backtest", *BACKTEST_SMALL, f"hydra.run.dir={folder}")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli("report", str(folder))
    assert proc.returncode == 0, proc.stderr
    return folder


def _self_contained(page: str) -> None:
    """No network: no http(s) anywhere, no scripts, stylesheets or frames; every src/href is a
    data URI or an anchor in the page."""
    assert not re.search(r"https?://", page)
    assert not re.search(r"<\s*(script|link|iframe|object|embed)\b", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    for value in re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)""", page):
        assert value.startswith(("data:image/png;base64,", "#")), value[:60]


def _headings(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r"<h2>(.*?)</h2>", page)]


# ------------------------------------------------------------------------------------------------
# The three kinds of folder


def test_run_report_is_self_contained_and_escapes_user_text(hostile_run):
    run, _ = hostile_run
    page = (run / "report.html").read_text()
    _self_contained(page)
    assert _headings(page) == [
        "Headline: P10 / P50 / P90", "Fan chart with history", "Revenue by segment",
        "NRR and GRR", "Per-account signals", "Assumptions", "Diagnostics of the fit",
        "Config and provenance",
    ]  # fmt: skip
    # The hostile ids and segment are in the page, as text only.
    assert SCRIPT not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "smb&lt;img src=x onerror=alert(2)&gt;" in page
    # Every tag in the page is one the template writes.
    tags = set(re.findall(r"<\s*([a-zA-Z0-9]+)", page))
    assert tags <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "p", "nav", "a", "main",
        "section", "h2", "table", "caption", "thead", "tr", "th", "tbody", "td", "figure", "img",
        "figcaption", "dl", "dt", "dd", "pre", "details", "summary", "footer",
    }, tags  # fmt: skip
    # Provenance: seed, hashes and version as the forecast recorded them.
    with xr.open_dataset(run / "forecast.nc", engine="h5netcdf") as ds:
        attrs = dict(ds.attrs)
    for key in ("seed", "config_hash", "data_hash", "simengine_version"):
        assert f"<dt>{key}</dt><dd>{html.escape(str(attrs[key]))}</dd>" in page
    # A book the embedded posterior was not fitted to: the parameters are assumptions, said so.
    assert attrs["parameters"].startswith("assumptions")
    assert "no posterior to diagnose" in page
    # The fan, the segment split and NRR/GRR.
    assert page.count('<img src="data:image/png;base64,') == 3


def test_history_in_the_forecast_is_the_books_revenue(hostile_run):
    """history_revenue is the input's revenue summed per segment and month, up to as_of."""
    run, paths = hostile_run
    usage = pd.read_csv(paths["usage"], dtype={"account_id": str})
    accounts = pd.read_csv(paths["accounts"], dtype={"account_id": str, "segment": str})
    usage["segment"] = usage["account_id"].map(accounts.set_index("account_id")["segment"])
    expected = usage.pivot_table(index="month", columns="segment", values="revenue", aggfunc="sum")
    with xr.open_dataset(run / "forecast.nc", engine="h5netcdf") as ds:
        hist = ds["history_revenue"].load()
        as_of = ds.attrs["as_of"]
    months = [str(m)[:7] for m in hist["history_month"].values]
    assert months[-1] == as_of and months == sorted(months)
    assert hist.attrs["units"] == "currency per month"
    got = hist.to_pandas().set_axis(months, axis=0)[expected.columns]
    # Same numbers summed in a different order: float64 round-off only.
    np.testing.assert_allclose(got.to_numpy(), expected.loc[months].fillna(0.0).to_numpy(),
                               rtol=1e-9)  # fmt: skip


@pytest.mark.slow
def test_sweep_report_compares_and_draws_the_frontier(mix_sweep):
    page = (mix_sweep / "report.html").read_text()
    _self_contained(page)
    heads = _headings(page)
    assert heads[:5] == [
        "Headline of the baseline staffing.ae_per_se=1.5,staffing.budget=500000: P10 / P50 / P90",
        "Scenario comparison", "Why: the go-to-market drivers", "Staffing frontier",
        "Fan charts with history",
    ]  # fmt: skip
    # Comparison (the two swept keys' heatmaps, then a row a scenario), drivers and frontier
    # plots, one overlay of all scenarios and one fan per scenario.
    assert page.count('<img src="data:image/png;base64,') == 4 + 1 + 4
    assert 'alt="Scenario comparison on the two swept keys"' in page
    assert "Scenario run: default." in page  # the runs' scenario name
    why = page.split('<section id="drivers">')[1].split("</section>")[0]
    assert ">Deal coverage (share of deals with an SE)" in why  # with the year when two are shown
    frontier = page.split('<section id="frontier">')[1].split("</section>")[0]
    # Each of the two budgets: one best mix, or both its mixes tied and marked alike.
    alone, tied = frontier.count('<td class="">best</td>'), frontier.count(">tied best")
    assert alone + tied // 2 == 2 and tied % 2 == 0
    # As on the console: the objective heads its column, and no scenario column repeats the
    # budget and ratio columns beside it.
    assert ">revenue P50</th>" in frontier and ">scenario</th>" not in frontier
    for job in ("0", "1", "2", "3"):
        assert f'<td class="">{job}</td>' in page  # the provenance table names every job


@pytest.mark.slow
def test_sweep_report_baseline_as_the_tables_show_it(mix_sweep, tmp_path):
    """``--baseline`` takes a scenario as the comparison table shows it (without the keys'
    shared ``staffing.``) as well as its full label."""
    out = tmp_path / "report.html"
    proc = run_cli("report", str(mix_sweep), "--baseline", "ae_per_se=6, budget=900000",
                   "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert _headings(out.read_text())[0] == (
        "Headline of the baseline staffing.ae_per_se=6,staffing.budget=900000: P10 / P50 / P90"
    )
    proc = run_cli("report", str(mix_sweep), "--baseline", "ae_per_se=7", "--out", str(out))
    assert proc.returncode == 2 and "no such scenario" in proc.stderr


@pytest.mark.slow
def test_backtest_report_shows_scores_chart_and_fit(backtest_dir):
    page = (backtest_dir / "report.html").read_text()
    _self_contained(page)
    assert _headings(page) == [
        "Backtest scores", "Per-account signals", "Diagnostics of the fit", "Config and provenance",
    ]  # fmt: skip
    scores = pd.read_csv(backtest_dir / "backtest_scores.csv")
    for method in scores["method"]:
        assert f'<td class="">{method}</td>' in page
    # The fit used one chain: R-hat is undefined and the gate says why.
    assert "Gate fails" in page and "/posterior.nc" in page


# ------------------------------------------------------------------------------------------------
# Bad PATH


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_bad_path_exits_2_and_writes_nothing(kind, tmp_path, cli):
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.mkdir()
        (target / "notes.txt").write_text("not a run")
        target = target / "notes.txt"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    proc = cli("report", str(target))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simengine: error: ") and str(target) in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_bad_flag_exits_2(cli, tmp_path):
    proc = cli("report", str(tmp_path), "--colour", "red")
    assert proc.returncode == 2 and "--colour" in proc.stderr
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------------
# The charts


def test_fan_chart_history_cut_off_currency_title_and_legends(hostile_run, tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from simengine.report import fan_chart

    run, _ = hostile_run
    with xr.open_dataset(run / "forecast.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    # The positional call the notebooks and the CLI make still works.
    fig = fan_chart(ds, tmp_path / "fan.png", "my title")
    assert (tmp_path / "fan.png").read_bytes()[:8] == PNG
    assert fig.axes[0].get_title(loc="left") == "my title"
    fig = fan_chart(ds, currency="USD", scenario="fy27 plan")
    ax_rev, ax_ret = fig.axes
    title = ax_rev.get_title(loc="left")
    assert title.startswith("fy27 plan:") and "assumptions parameters" in title
    assert ax_rev.get_ylabel() == "revenue per month (USD)"
    assert ax_rev.yaxis.get_major_formatter()(2_500_000, 0) == "$2.5M"
    assert ax_rev.yaxis.get_major_formatter()(750_000, 0) == "$750K"
    # History: the observed line ends at as_of, where the dotted cut-off line stands.
    observed = next(line for line in ax_rev.get_lines() if line.get_label() == "all, observed")
    as_of = np.datetime64(ds.attrs["as_of"] + "-01")
    assert np.datetime64(observed.get_xdata()[-1], "M") == np.datetime64(as_of, "M")
    assert len(observed.get_xdata()) == min(36, ds.sizes["history_month"])
    # Legends sit right of the axes: they never cover the data.
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in (ax_rev, ax_ret):
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.x0 >= ax.get_window_extent(renderer).x1
    # The fixed layout keeps every text on the canvas (a segment here is a long <img> tag) and
    # the two axes apart: legends, tick labels, axis labels and titles.
    page = fig.bbox
    texts = [ax.get_legend() for ax in (ax_rev, ax_ret)]
    texts += [ax.yaxis.label for ax in (ax_rev, ax_ret)]
    for axis in (ax_ret.xaxis, ax_rev.yaxis, ax_ret.yaxis):  # the tick labels drawn
        lo, hi = sorted(axis.get_view_interval())
        locs, labels = axis.get_majorticklocs(), axis.get_ticklabels()
        texts += [t for x, t in zip(locs, labels, strict=True) if lo <= x <= hi and t.get_text()]
    for text in texts:
        box = text.get_window_extent(renderer)
        assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    title = ax_ret.title.get_window_extent(renderer)
    assert title.y1 < ax_rev.get_window_extent(renderer).y0 and title.y0 > ax_ret.bbox.y1 - 1


# ------------------------------------------------------------------------------------------------
# A real browser


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("SIMENGINE_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "SIMENGINE_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)"
        )
    if found is None:
        pytest.skip("no chromium on PATH: the browser test needs Debian's chromium package")
    return found


def screenshot(page: Path, png: Path) -> Path:
    """Open ``page`` in headless Chromium (no network needed) and screenshot WINDOW pixels."""
    chromium = _chromium()
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={png}",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0 and png.is_file(), proc.stderr[-2000:]
    return png


def _check_screenshot(png: Path) -> None:
    from PIL import Image

    data = png.read_bytes()
    assert data[:8] == PNG
    with Image.open(png) as im:
        assert im.size == WINDOW
        pixels = np.asarray(im.convert("RGB"), dtype=np.int16)
    # A rendered report, not a blank page: a blank page has no ink and one colour.  The three
    # reports cover 5.8-6.5% of a 1280 x 2000 window with ink (text, table rules, charts) and
    # hold 1,500-2,600 colours (the embedded charts); half the smallest coverage is the floor.
    ink = (np.abs(pixels - 255).sum(axis=2) > 60).mean()
    assert ink > 0.029, ink
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 200


def test_browser_renders_the_run_report(hostile_run, tmp_path):
    run, _ = hostile_run
    _check_screenshot(screenshot(run / "report.html", tmp_path / "run.png"))


@pytest.mark.slow
def test_browser_renders_the_sweep_report(mix_sweep, tmp_path):
    _check_screenshot(screenshot(mix_sweep / "report.html", tmp_path / "sweep.png"))


@pytest.mark.slow
def test_browser_renders_the_backtest_report(backtest_dir, tmp_path):
    _check_screenshot(screenshot(backtest_dir / "report.html", tmp_path / "backtest.png"))


def test_currency_label_follows_data_currency(hostile_run, tmp_path, cli):
    """``data.currency`` names the money axes; the embedded/synthetic book is in dollars; a user
    book without the key gets the neutral "currency"; a label that is not one exits 2."""
    from simengine.api import load_config, simulate_config
    from simengine.report import fan_chart

    run, _ = hostile_run
    with xr.open_dataset(run / "forecast.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    assert ds.attrs["currency"] == ""
    assert fan_chart(ds).axes[0].get_ylabel() == "revenue per month (currency)"
    synthetic = simulate_config(load_config(SMALL))
    assert synthetic.attrs["currency"] == "USD"
    eur = simulate_config(load_config([*SMALL, "data.currency=EUR"]))
    assert eur.attrs["currency"] == "EUR"
    assert fan_chart(eur).axes[0].get_ylabel() == "revenue per month (EUR)"
    out = tmp_path / "bad"
    proc = cli("run", *SMALL, "data.currency=<b>", f"hydra.run.dir={out}")
    assert proc.returncode == 2 and "data.currency" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (out / "forecast.nc").exists()


# ------------------------------------------------------------------------------------------------
# Charts for a deck: currency, points, observed retention, shared scales, scenario names


def _texts(fig) -> list[str]:
    """Every text a figure draws: titles, axis labels, tick labels, annotations, legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()  # tick labels of a FuncFormatter exist once drawn
    out = [fig._suptitle.get_text()] if fig._suptitle is not None else []
    for ax in fig.axes:
        out += [ax.get_title(loc=loc) for loc in ("left", "center", "right")]
        out += [ax.get_xlabel(), ax.get_ylabel()]
        out += [t.get_text() for t in [*ax.get_xticklabels(), *ax.get_yticklabels(), *ax.texts]]
        if ax.get_legend() is not None:
            out += [t.get_text() for t in ax.get_legend().get_texts()]
    for legend in fig.legends:
        out += [t.get_text() for t in legend.get_texts()]
    return [t for t in out if t]


def _titles(fig) -> list[str]:
    """A chart's titles: its figure title, else every axes title (a panel may be cut out)."""
    if fig._suptitle is not None:
        return [fig._suptitle.get_text()]
    return [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")]


@pytest.fixture(scope="module")
def eur_forecast(hostile_run) -> xr.Dataset:
    """The hostile run's forecast as a EUR book of a named scenario."""
    run, _ = hostile_run
    with xr.open_dataset(run / "forecast.nc", engine="h5netcdf") as ds:
        ds = ds.load()
    return ds.assign_attrs(currency="EUR", scenario="fy26_cautious")


def test_deck_charts_say_the_currency_and_the_scenario(eur_forecast):
    """On a EUR book every money axis says EUR (and ticks carry the euro sign), no text anywhere
    says ``$``, and every title names the scenario."""
    from simengine.report.plots import fan_chart, scenario_fans
    from simengine.report.segments import retention_chart, segment_chart

    ds = eur_forecast
    figures = {
        "fan": fan_chart(ds),
        "segments": segment_chart(ds),
        "retention": retention_chart(ds),
        "scenarios": scenario_fans([("fy26_cautious", ds), ("fy26_bold", ds)]),
    }
    for kind, fig in figures.items():
        texts = _texts(fig)
        assert not [t for t in texts if "$" in t], (kind, [t for t in texts if "$" in t])
        assert all("fy26_cautious" in t for t in _titles(fig)), (kind, _titles(fig))
        if kind != "retention":  # the retention chart shows ratios only
            money = fig.axes[0]
            assert "(EUR)" in money.get_ylabel(), (kind, money.get_ylabel())
            assert any(t.get_text().startswith("€") for t in money.get_yticklabels()), kind
    # Both panels of the fan have their own title, each naming the scenario.
    assert len(_titles(figures["fan"])) == 2


def test_differences_of_ratios_are_points(eur_forecast):
    """NRR/GRR differences are percentage points in the table rows and on the difference axis;
    values stay percent; "Revenue per GTM $" is gone."""
    from simengine.report.comparison import comparison_rows, fmt_diff
    from simengine.report.comparison_charts import comparison_plot

    assert fmt_diff("nrr", 0.012) == "+1.2 pp" and fmt_diff("grr", -0.0004) == "-0.04 pp"
    assert fmt_diff("revenue", 1.5e6) == "1.5M"
    rows = []
    for name, shift in (("base", 0.0), ("bold", 0.015)):
        for metric, value in (("revenue", 3e7), ("nrr", 1.2), ("revenue_per_sm_dollar", 2.5)):
            diff = shift * (1e8 if metric == "revenue" else 1.0)
            rows.append(dict(scenario=name, metric=metric, year=1, p10=value * 0.9, p50=value,
                             p90=value * 1.1, diff_p10=diff - 0.01 * bool(diff), diff_p50=diff,
                             diff_p90=diff + 0.01 * bool(diff), p_better=0.5 + 40 * shift))  # fmt: skip
    table = pd.DataFrame(rows)
    _, shown, _ = comparison_rows(table, "base")
    bold_nrr = [r for r in shown if r[1] == "bold" and "pp" in r[5]]
    assert len(bold_nrr) == 1 and bold_nrr[0][5] == "+1.5 pp [+0.5 pp, +2.5 pp]", shown
    assert "%" in bold_nrr[0][3]  # the value itself: percent
    fig = comparison_plot(table, "base", currency="EUR")
    texts = _texts(fig)
    assert not [t for t in texts if "$" in t]
    assert "Revenue per EUR of GTM cost: P10-P90, dot P50" in texts
    assert "Revenue (year) (EUR): P10-P90, dot P50" in texts
    # The NRR row's difference axis (second column) ticks in points, its value axis in percent.
    row = [m for m in ("revenue", "nrr", "revenue_per_sm_dollar")].index("nrr")
    ax_val, ax_diff = fig.axes[2 * row], fig.axes[2 * row + 1]
    assert ax_diff.get_title(loc="left").endswith("(pp)")
    ticks = [t.get_text() for t in ax_diff.get_xticklabels() if t.get_text()]
    assert ticks and all(t == "0" or t.endswith(" pp") for t in ticks), ticks
    assert all(t.get_text().endswith("%") for t in ax_val.get_xticklabels() if t.get_text())


def test_fans_side_by_side_share_their_scales(eur_forecast, monkeypatch):
    """Per-scenario fans of one report get one y-range per panel, wide enough for the larger."""
    from simengine.report import sections
    from simengine.report.figures import _quantile
    from simengine.report.plots import fan_chart

    small = eur_forecast
    big = small.assign(revenue=small["revenue"] * 3.0, nrr_total=small["nrr_total"] + 0.2)
    drawn = []

    def spy(ds, *args, **kwargs):
        drawn.append(fan_chart(ds, *args, **kwargs))
        return drawn[-1]

    monkeypatch.setattr(sections, "fan_chart", spy)
    sections.fan_section([("small", small), ("big", big)], "EUR")
    assert len(drawn) == 2
    (rev_a, ret_a), (rev_b, ret_b) = (fig.axes for fig in drawn)
    assert rev_a.get_ylim() == rev_b.get_ylim() and ret_a.get_ylim() == ret_b.get_ylim()
    p90 = _quantile(big["revenue"].sum("segment").transpose("draw", "month").values, 0.9)
    assert rev_a.get_ylim()[1] >= p90.max()
    nrr90 = _quantile(big["nrr_total"].transpose("draw", "month").values, 0.9)
    assert ret_a.get_ylim()[1] >= nrr90.max()
    # One fan alone keeps its own scale.
    drawn.clear()
    sections.fan_section([("small", small)], "EUR")
    assert drawn[0].axes[0].get_ylim()[1] < rev_a.get_ylim()[1]


def test_observed_retention_is_the_definition_account_by_account():
    """history_nrr/grr equal a direct loop over accounts and months of the definition in
    simengine.results (cohort: started by t-23, still a customer in t-12), on a survivors-only
    export whose window starts after some accounts did; months without a full observed base
    year are NaN."""
    from simengine.data.synth import generate_book
    from simengine.data.synth_truth import SynthOptions
    from simengine.history import observed_retention
    from simengine.prices import account_prices, row_revenue

    book = generate_book(n_accounts=90, history_months=34, seed=7,
                         options=SynthOptions(pre_window_months=12)).book  # fmt: skip
    assert book.export_shape == "survivors-only"
    segments = book.segments
    price = account_prices(book, {"default": 1.0}).account
    got = observed_retention(book, price, segments)
    revenue = dict(zip(zip(book.usage["account_id"], book.usage["month"], strict=True),
                       row_revenue(book.usage, price), strict=True))  # fmt: skip
    first = int(book.usage["month"].min())
    months = range(first, int(book.as_of) + 1)
    assert got.sizes["history_month"] == len(months)
    for i, t in enumerate(months):
        sums = {seg: np.zeros(3) for seg in segments}
        for a in book.accounts.itertuples():
            churn = np.inf if pd.isna(a.churn_month) else a.churn_month
            if a.start_month <= t - 23 and churn > t - 12:
                base = sum(revenue.get((a.account_id, m), 0.0) for m in range(t - 23, t - 11))
                now = sum(revenue.get((a.account_id, m), 0.0) for m in range(t - 11, t + 1))
                sums[a.segment] += (base, now, min(base, now))
        pooled = sum(sums.values())
        if t - 23 < book.usage_window_start:
            assert np.isnan(got["history_nrr_total"].values[i])
            continue
        # The same sums in another order: float64 round-off only.
        np.testing.assert_allclose(got["history_nrr_total"].values[i], pooled[1] / pooled[0],
                                   rtol=1e-12)  # fmt: skip
        np.testing.assert_allclose(got["history_grr_total"].values[i], pooled[2] / pooled[0],
                                   rtol=1e-12)  # fmt: skip
        for seg in segments:
            want = sums[seg][1] / sums[seg][0] if sums[seg][0] else np.nan
            np.testing.assert_allclose(got["history_nrr"].sel(segment=seg).values[i], want,
                                       rtol=1e-12)  # fmt: skip
    assert np.isfinite(got["history_nrr_total"].values[-1])  # 34 months hold a base year


def test_scenario_name_falls_back_to_the_run_folder(tmp_path):
    """Without the forecast's ``scenario`` attr, the ``scenario=`` the run was started with."""
    from simengine.report.run_record import scenario_name

    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text(
        "- sim.draws=10\n- scenario=fy26_cautious\n"
    )
    assert scenario_name({}, tmp_path) == "fy26_cautious"
    assert scenario_name({"scenario": "downturn"}, tmp_path) == "downturn"
    assert scenario_name({}, tmp_path / "nowhere") == "default scenario"


def test_run_report_sections_hold_segments_retention_signals_and_assumptions(hostile_run):
    run, _ = hostile_run
    page = (run / "report.html").read_text()

    def section(anchor: str) -> str:
        return page.split(f'<section id="{anchor}">')[1].split("</section>")[0]

    segments = section("segments")
    assert "observed" in segments and "share" in segments and "(EUR)" in segments
    retention = section("retention")
    assert "NRR" in retention and "GRR" in retention and "P50 [P10, P90]" in retention
    assert "observed" in retention  # the as_of month holds a full base year of this book
    signals = section("signals")
    assert "EUR (revenue_at_risk_12m)" in signals and "revenue last month (EUR)" in signals
    assumptions = section("assumptions")
    for key in ("adjust.churn_hazard", "fit.posterior=none", "Resolved config (YAML)",
                "horizon (months)"):  # fmt: skip
        assert key in assumptions, key
    # The config is shown once, under the assumptions.
    assert page.count("Resolved config (YAML)") == 1


def test_account_charts_carry_the_currency():
    """The drill-down and the commit burn-down put the currency on every money axis and title;
    on a book without a revenue column the account's unit price turns its usage into revenue,
    so history and the simulated months share one money axis."""
    import dataclasses

    from simengine.data.synth import generate_book
    from simengine.kernels.layout import A_CHURN_MONTH, ACCOUNT_OUTPUTS
    from simengine.report.drilldown import account_drilldown, commit_burndown

    book = generate_book(n_accounts=80, history_months=24, seed=5).book
    acc = book.accounts
    account = str(
        acc.loc[(acc["commit_annual"] > 0) & acc["churn_month"].isna(), "account_id"].iloc[0]
    )
    record = np.abs(np.random.default_rng(0).normal(1000.0, 100.0, (50, len(ACCOUNT_OUTPUTS))))
    record[:, A_CHURN_MONTH] = 0.0  # nobody churns: the survival panel is flat
    bare = dataclasses.replace(book, usage=book.usage.drop(columns="revenue"))
    drill = account_drilldown(bare, account, record, currency="EUR", price=0.5)
    for fig in (drill, account_drilldown(book, account, record, currency="EUR"),
                commit_burndown(bare, account, currency="EUR", price=0.5)):  # fmt: skip
        texts = _texts(fig)
        assert not [t for t in texts if "$" in t]
        assert fig.axes[0].get_ylabel().endswith("(EUR)"), fig.axes[0].get_ylabel()
        assert any(t.get_text().startswith("€") for t in fig.axes[0].get_yticklabels())
    assert len(drill.axes) == 4  # no second (usage) axis: the history is priced
    assert "EUR" in drill.axes[1].get_title() and "EUR" in drill.axes[3].get_title()
