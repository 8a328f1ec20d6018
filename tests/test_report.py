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
        "Headline: P10 / P50 / P90", "Fan chart with history", "Per-account signals",
        "Diagnostics of the fit", "Config and provenance",
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
    assert page.count('<img src="data:image/png;base64,') == 1


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
    assert ">Deal coverage (share of deals with an SE)</td>" in why
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
