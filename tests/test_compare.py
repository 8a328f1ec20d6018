"""``simengine compare`` and the staffing frontier: files, pairing, the tie rule, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from simengine.compare.paired import COLUMNS, compare, p_better
from simengine.compare.runs import load_scenarios
from simengine.frontier import FrontierSpec, frontier
from tests.conftest import SMALL

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_compare_a_four_job_mix_sweep_through_the_cli(cli, tmp_path):
    """A 2 budgets x 2 ratios sweep: comparison.csv/png with the contract's columns, frontier."""
    sweep = tmp_path / "sweep"
    proc = cli(
        "run", "-m", *SMALL, "sim.horizon_months=24", "staffing.budget=500000,900000",
        "staffing.ae_per_se=1.5,6", "scenario=downturn", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    # Each job records the scenario it ran and its group choices (from Hydra's own choices).
    with xr.open_dataset(sweep / "0" / "forecast.nc", engine="h5netcdf") as job:
        assert job.attrs["scenario"] == "downturn"
        assert "market=capacity" in job.attrs["config_groups"]
    out = tmp_path / "cmp"
    proc = cli("compare", str(sweep), f"compare.out={out}")
    assert proc.returncode == 0, proc.stderr
    assert "Scenario downturn: Scenarios vs" in " ".join(proc.stdout.split())
    assert "Why: go-to-market drivers" in " ".join(proc.stdout.split())
    for name in ("comparison.png", "comparison_grid.png", "frontier.png"):
        assert (out / name).read_bytes()[:8] == PNG
    assert "comparison_grid.png" in proc.stdout  # the "wrote" line names it
    table = pd.read_csv(out / "comparison.csv")
    assert tuple(table.columns) == COLUMNS
    scenarios = list(dict.fromkeys(table["scenario"]))
    assert len(scenarios) == 4 and scenarios[0] == "staffing.ae_per_se=1.5,staffing.budget=500000"
    # Three fiscal years (forecast 2026-11 to 2028-10: FY2026 with the book's Jan-Oct, FY2027,
    # FY2028's first ten months) of revenue, ARR, NRR, GRR, new logos, cost, revenue per $ and of
    # the 8 go-to-market drivers; two whole-run metrics; no gross margin (no cost of revenue: the
    # output says so).
    assert len(table) == 4 * ((7 + 8) * 3 + 2)
    assert table.drop_duplicates("year").dropna(subset=["year"])[
        ["year", "fiscal_year", "months"]
    ].values.tolist() == [[1, "FY2026", 12], [2, "FY2027", 12], [3, "FY2028", 10]]
    assert "gross_margin" not in set(table["metric"]) and "no cost of revenue" in proc.stdout
    base = table[table["scenario"] == scenarios[0]]
    assert (base[["diff_p10", "diff_p50", "diff_p90"]] == 0).all().all()
    assert (base["p_better"] == 0.5).all()
    # Doubling the budget hires more AEs and SEs with the same ratio: more new logos, more cost.
    logos = table[(table["metric"] == "new_logos") & (table["year"] == 2)].set_index("scenario")
    assert logos.loc["staffing.ae_per_se=1.5,staffing.budget=900000", "diff_p50"] > 0
    front = pd.read_csv(out / "frontier.csv")
    assert sorted(front["budget"].unique()) == [500000, 900000]
    assert front.groupby("budget")["best"].sum().tolist() == [1, 1]
    np.testing.assert_allclose(front.groupby("budget")["p_best"].sum(), 1.0)
    assert front.loc[front["best"], "tied_with_best"].all()
    # The real cost is the rounded heads the jobs simulated, not the budget asked for.
    from simengine.api import load_config
    from simengine.config.staffing_mix import mix_headcount

    team = load_config(SMALL).company.team  # a plan's unset costs are today's team's
    cost_ae, cost_se = team["ae"].cost_per_month, team["se"].cost_per_month
    for row in front.itertuples():
        ae, se = mix_headcount(row.budget, row.ae_per_se, cost_ae, cost_se)
        assert (row.ae_heads, row.se_heads) == (ae, se)
        assert row.cost_month == ae * cost_ae + se * cost_se
    # comparison.xlsx: the CSV's rows as numbers, money in the book's currency.
    from openpyxl import load_workbook

    wb = load_workbook(out / "comparison.xlsx")
    assert wb.sheetnames == ["Comparison", "Scenarios", "Frontier", "Assumptions"]
    sheet = pd.read_excel(out / "comparison.xlsx", sheet_name="Comparison")
    pd.testing.assert_frame_equal(sheet, table, check_dtype=False)
    first = wb["Comparison"]["G2"]  # p50 of the first row: revenue, FY2026
    assert first.value == table.loc[0, "p50"] and first.number_format == "[$USD] #,##0.00"
    # compare.year=FY2027: that year's rows (and the whole-run ones) only.
    one = tmp_path / "cmp1"
    proc = cli("compare", str(sweep), "compare.year=FY2027", f"compare.out={one}")
    assert proc.returncode == 0, proc.stderr
    part = pd.read_csv(one / "comparison.csv")
    assert set(part["fiscal_year"].dropna()) == {"FY2027"} and part["year"].isna().sum() == 8
    assert set(pd.read_csv(one / "frontier.csv")["year"]) == {2}  # the frontier ranks FY2027


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """One small run folder, shared by the refusal tests (they only read it)."""
    from tests.conftest import run_cli

    run = tmp_path_factory.mktemp("one") / "run"
    proc = run_cli("run", *SMALL, f"hydra.run.dir={run}")
    assert proc.returncode == 0, proc.stderr
    return run


def test_a_run_records_its_scenario_and_group_choices(one_run):
    """``simengine run`` without ``scenario=``: forecast.nc says ``default`` and the groups the
    config's defaults list picked (read from the written file)."""
    import yaml

    from simengine.config import CONFIG_DIR

    with xr.open_dataset(one_run / "forecast.nc", engine="h5netcdf") as ds:
        attrs = dict(ds.attrs)
    assert attrs["scenario"] == "default"
    groups = dict(item.split("=") for item in attrs["config_groups"].split(", "))
    defaults = yaml.safe_load((CONFIG_DIR / "config.yaml").read_text())["defaults"]
    picked = {k: v for entry in defaults if isinstance(entry, dict) for k, v in entry.items()}
    for group in ("market", "staffing", "comp"):
        assert groups[group] == picked[group]


def _run_pair(cli, tmp_path, seeds):
    dirs = []
    for i, seed in enumerate(seeds):
        out = tmp_path / f"run{i}"
        proc = cli("run", *SMALL, f"seed={seed}", f"hydra.run.dir={out}")
        assert proc.returncode == 0, proc.stderr
        dirs.append(out)
    return dirs


def test_identical_scenarios_differ_by_exactly_zero(cli, tmp_path):
    """Two runs of one config: every paired difference is 0 and p_better is 1/2 (ties count 1/2)."""
    dirs = _run_pair(cli, tmp_path, [5, 5])
    ds = load_scenarios(dirs)
    assert list(ds["scenario"].values) == ["run0", "run1"]  # same attrs: folder names
    table, _ = compare(ds)
    other = table[table["scenario"] == "run1"]
    assert len(other) > 0
    assert (other[["diff_p10", "diff_p50", "diff_p90"]] == 0).all().all()
    assert (other["p_better"] == 0.5).all()
    ds.close()

    out = tmp_path / "cmp"  # hydra.run.dir=, as every verb takes it (same as compare.out=)
    proc = cli("compare", *map(str, dirs), "compare.baseline=run1", f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(out / "comparison.csv")
    assert (table["diff_p50"] == 0).all() and (table["p_better"] == 0.5).all()


def test_runs_with_different_seeds_are_refused(cli, tmp_path):
    dirs = _run_pair(cli, tmp_path, [1, 2])
    out = tmp_path / "cmp"
    proc = cli("compare", *map(str, dirs), f"compare.out={out}")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "seed differs (1 vs 2)" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["compare.baselin=x"], "compare.baselin"),
        (["compare.baseline=nope"], "compare.baseline' = 'nope'"),
        (["compare.objective=nrr"], "compare.objective"),  # not a mix sweep: would change nothing
        (["compare.year=FY1999"], "compare.year' = 'FY1999': not a forecast year"),
        (["--frobnicate"], "--frobnicate"),
    ],
)
def test_bad_compare_keys_exit_2_and_write_nothing(cli, tmp_path, one_run, args, fragment):
    run = one_run
    out = tmp_path / "cmp"
    proc = cli("compare", str(run), str(run / "forecast.nc"), *args, f"compare.out={out}")
    assert proc.returncode == 2, proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1 and fragment in proc.stderr
    assert not out.exists()


def test_p_better_direction_and_ties():
    s = np.array([1.0, 2.0, 3.0, np.nan])
    b = np.array([2.0, 2.0, 1.0, 0.0])
    assert p_better(s, b) == pytest.approx((0 + 0.5 + 1) / 3)  # the NaN pair is left out
    assert p_better(s, b, lower_is_better=True) == pytest.approx((1 + 0.5 + 0) / 3)
    assert np.isnan(p_better(np.array([np.nan]), np.array([1.0])))


def _mix_sweep(effects: dict[tuple[float, float], float], draws: int = 400) -> xr.Dataset:
    """A constructed sweep: revenue = common noise + a known effect per (budget, ratio) mix."""
    rng = np.random.default_rng(0)
    months, segments = 12, ["a"]
    common = rng.normal(100.0, 10.0, size=(draws, months, 1))
    idio = rng.normal(0.0, 1.0, size=(draws, months, 1, len(effects)))
    labels, budgets, ratios = [], [], []
    revenue = np.empty((draws, months, 1, len(effects)))
    for k, ((budget, ratio), effect) in enumerate(effects.items()):
        labels.append(f"b={budget:g},r={ratio:g}")
        budgets.append(budget)
        ratios.append(ratio)
        revenue[..., k] = common + effect + idio[..., k]
    dims = ("draw", "month", "segment", "scenario")
    ones = np.ones((draws, months, len(effects)))
    return xr.Dataset(
        {
            "revenue": (dims, revenue),
            "arr": (dims, 12 * revenue),
            "nrr_total": (("draw", "month", "scenario"), ones),
            "grr_total": (("draw", "month", "scenario"), ones),
        },
        coords={
            "scenario": labels,
            "segment": segments,
            "staffing_budget": ("scenario", budgets),
            "staffing_ae_per_se": ("scenario", ratios),
        },
    )


def test_frontier_picks_the_known_best_mix():
    """Budget 1: ratio 3 is best by 5/month (60/year, ~14 SD of the paired yearly difference:
    sqrt(12 x 2) ~ 4.9), so it is best in every draw; budget 2: ratios 1.5 and 6 are identical,
    so each is best in half the draws (the tie rule) and the argmax takes the first."""
    ds = _mix_sweep(
        {(1.0, 1.5): 0.0, (1.0, 3.0): 5.0, (1.0, 6.0): -5.0, (2.0, 1.5): 8.0, (2.0, 6.0): 8.0}
    )
    # Budget 2's two mixes: make them identical draw for draw.
    ds["revenue"][..., 4] = ds["revenue"][..., 3]
    table = frontier(ds, FrontierSpec("revenue_p50", 1))
    best = table[table["best"]].set_index("budget")["ae_per_se"]
    assert best.to_dict() == {1.0: 3.0, 2.0: 1.5}
    p = table.set_index("scenario")["p_best"]
    assert p["b=1,r=3"] == 1.0 and p["b=1,r=1.5"] == 0.0
    assert p["b=2,r=1.5"] == 0.5 and p["b=2,r=6"] == 0.5

    # P(revenue >= target): the target sits at budget 1's ratio-3 median, so ratio 3 has ~1/2.
    target = float(table.set_index("scenario").loc["b=1,r=3", "p50"])
    ptab = frontier(ds, FrontierSpec("p_revenue_target", 1, target))
    row = ptab.set_index("scenario").loc["b=1,r=3"]
    assert row["best"] and row["value"] == pytest.approx(0.5, abs=0.01)


def test_staffing_budget_and_ratio_set_heads(small_overrides):
    from simengine.api import load_config
    from simengine.config import ConfigError
    from simengine.config.company import resolve_plan

    def roles(*overrides):
        cfg = load_config([*small_overrides, *overrides])
        return resolve_plan(cfg.staffing, cfg.company).roles

    keys = ["staffing.budget=900000", "staffing=balanced"]
    a = roles(*keys, "staffing.ae_per_se=1.5")
    b = roles(*keys, "staffing.ae_per_se=6")
    # ae_per_se x SEs = AEs (to the nearest head); both cost the budget to within one head.
    assert (a["ae"].headcount, a["se"].headcount) == (28, 19)
    assert (b["ae"].headcount, b["se"].headcount) == (39, 7)
    for plan in (a, b):
        cost = sum(plan[r].headcount * plan[r].cost_per_month for r in ("ae", "se"))
        assert abs(cost - 900000) <= 20000
    # balanced hires 2 AEs a quarter for 36 AEs; 39/36 of 24 hires rounds to 26.
    assert sum(b["ae"].hires_per_quarter) == 26
    with pytest.raises(ConfigError, match="staffing.ae_per_se"):
        load_config([*small_overrides, "staffing.budget=900000"])
    # Alone, the ratio re-mixes today's AE and SE budget (36 x 20,000 + 12 x 18,000).
    c = roles("staffing.ae_per_se=6")
    assert (c["ae"].headcount, c["se"].headcount) == (41, 7)
    with pytest.raises(ConfigError, match="'staffing.budget' = 1000.0: too small"):
        load_config([*small_overrides, "staffing.budget=1000", "staffing.ae_per_se=3"])


def test_narrow_terminal_tables_keep_whole_scenario_labels():
    """At 80 columns (a pipe, a CI log) the labels fold instead of ending in an ellipsis, so the
    rows of one metric stay told apart; they show without the keys' shared ``staffing.``, which
    the title names."""
    import io

    from rich.console import Console

    from simengine.report.comparison import print_comparison, print_frontier_table

    ds = _mix_sweep({(700000.0, 1.5): 0.0, (700000.0, 6.0): 5.0, (1100000.0, 1.5): 8.0})
    long = [f"staffing.budget={b:.0f},staffing.ae_per_se={r:g}" for b, r in
            zip(ds["staffing_budget"].values, ds["staffing_ae_per_se"].values, strict=True)]  # fmt: skip
    ds = ds.assign_coords(scenario=long)
    table, _ = compare(ds)
    spec = FrontierSpec("revenue_p50", 1)
    front = frontier(ds, spec)
    shown = [label.replace("staffing.", "") for label in long]
    texts = []
    # The frontier's table shows what its labels add to the budget and ratio columns: here a
    # scenario's name.
    named = [f"scenario=plan{i},{label}" for i, label in enumerate(long)]
    front_named = front.assign(scenario=front["scenario"].map(dict(zip(long, named, strict=True))))
    shown_named = [f"scenario=plan{i}" for i in range(len(long))]
    for show, labels in (
        (lambda c: print_comparison(table, long[0], c), shown),
        (lambda c: print_frontier_table(front_named, spec, c), shown_named),
    ):
        buf = io.StringIO()
        show(Console(file=buf, width=80))
        text = buf.getvalue()
        texts.append(text)
        assert "…" not in text
        # The scenario column's pieces, read back down the table, hold every label whole.
        rows = [line.split("┃" if "┃" in line else "│") for line in text.splitlines()]
        header = next(r for r in rows if "scenario" in [c.strip() for c in r])
        col = [c.strip() for c in header].index("scenario")
        column = "".join(r[col].replace(" ", "") for r in rows if len(r) == len(header))
        for label in labels:
            assert label in column
    assert "labels without the keys' shared 'staffing.'" in " ".join(texts[0].split())
    # Labels that only repeat the budget and the ratio: no scenario column at all.
    buf = io.StringIO()
    print_frontier_table(front, spec, Console(file=buf, width=80))
    header = next(line for line in buf.getvalue().splitlines() if "AE per SE" in line)
    assert "scenario" not in header and "revenue P50" in header
    assert "ae_per_se=" not in buf.getvalue() and "…" not in buf.getvalue()


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # One group's keys: its prefix goes, a space follows each comma.
        (["staffing.budget=6e5,staffing.ae_per_se=3", "staffing.budget=9e5,staffing.ae_per_se=3"],
         ["budget=6e5, ae_per_se=3", "budget=9e5, ae_per_se=3"]),
        # A deeper shared prefix goes whole.
        (["gtm.ramp.months=3", "gtm.ramp.months=6"], ["months=3", "months=6"]),
        # Keys of different groups share nothing: the labels stay, spaced.
        (["scenario=baseline,staffing.budget=1", "scenario=downturn,staffing.budget=1"],
         ["scenario=baseline, staffing.budget=1", "scenario=downturn, staffing.budget=1"]),
        # A comma inside a value stays in its override.
        (["staffing.mix=[1,2]", "staffing.mix=[3,4]"], ["mix=[1,2]", "mix=[3,4]"]),
        # Run folder names and job numbers are no override lists.
        (["run1", "run2"], ["run1", "run2"]),
        # Stripping would make two labels alike (a.x / b.x): nothing is stripped.
        (["a.x=1", "b.x=1"], ["a.x=1", "b.x=1"]),
    ],
)  # fmt: skip
def test_display_labels(labels, expected):
    from simengine.compare.labels import display_labels

    assert list(display_labels(labels).values()) == expected


def test_display_labels_without_the_frontiers_columns():
    """The frontier's table shows budget and ratio in columns: a label shows what else it says."""
    from simengine.compare.labels import display_labels

    mix = ("staffing.budget", "staffing.ae_per_se")
    plain = ["staffing.ae_per_se=2,staffing.budget=6e5", "staffing.ae_per_se=4,staffing.budget=6e5"]
    assert list(display_labels(plain, drop=mix).values()) == ["", ""]
    named = [f"scenario={s},{label}" for s, label in zip(("up", "down"), plain, strict=True)]
    assert list(display_labels(named, drop=mix).values()) == ["scenario=up", "scenario=down"]
    assert list(display_labels(["run1", "run2"], drop=mix).values()) == ["run1", "run2"]


def test_baseline_by_its_shown_label_and_p_better_on_the_plot():
    """``compare.baseline`` takes a label as the tables show it; the plot writes each scenario's
    P(better) beside its paired difference, as the table has it."""
    from simengine.compare.labels import resolve_baseline
    from simengine.compare.runs import CompareError
    from simengine.report.comparison_charts import comparison_plot

    ds = _mix_sweep({(700000.0, 1.5): 0.0, (700000.0, 6.0): 5.0, (1100000.0, 1.5): 8.0})
    long = [f"staffing.budget={b:.0f},staffing.ae_per_se={r:g}" for b, r in
            zip(ds["staffing_budget"].values, ds["staffing_ae_per_se"].values, strict=True)]  # fmt: skip
    ds = ds.assign_coords(scenario=long)
    assert resolve_baseline(long, "budget=700000, ae_per_se=6") == long[1]
    assert resolve_baseline(long, long[2]) == long[2]
    assert resolve_baseline(long, None) == long[0]
    with pytest.raises(CompareError, match="no such scenario"):
        resolve_baseline(long, "budget=1, ae_per_se=6")
    table, _ = compare(ds, "budget=700000, ae_per_se=6")
    assert (table.loc[table["scenario"] == long[1], "diff_p50"] == 0).all()

    fig = comparison_plot(table, long[1])
    last = table[table["year"] == table["year"].max()]
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes[1::2]]
    revenue = last[last["metric"] == "revenue"].set_index("scenario")["p_better"]
    expected = ["-" if s == long[1] else f"{revenue[s]:.0%}" for s in long]
    assert texts[0][1:] == expected  # after the column's "P(better)" heading
    assert any("70000" in label.get_text() for label in fig.axes[0].get_yticklabels())
    assert not any("staffing." in label.get_text() for label in fig.axes[0].get_yticklabels())


def test_compare_and_frontier_read_each_scenario_once(monkeypatch):
    """With a shared cache the comparison and the frontier read each scenario's data once (a
    50-job sweep read every job's files twice), and give the same tables as without one."""
    import simengine.compare.metrics as compare_module

    ds = _mix_sweep({(700000.0, 1.5): 0.0, (700000.0, 6.0): 5.0, (1100000.0, 1.5): 8.0})
    spec = FrontierSpec("revenue_p50", 1)
    table, _ = compare(ds)
    front = frontier(ds, spec)
    reads = []
    real = compare_module.scenario_data
    monkeypatch.setattr(
        compare_module, "scenario_data", lambda d, label: reads.append(label) or real(d, label)
    )
    cache: dict = {}
    cached_table, _ = compare(ds, None, cache)
    cached_front = frontier(ds, spec, cache)
    assert sorted(reads) == sorted(str(s) for s in ds["scenario"].values)
    pd.testing.assert_frame_equal(cached_table, table)
    pd.testing.assert_frame_equal(cached_front, front)


_MIX = ("staffing.ae_per_se={r},staffing.budget={b}", (1.5, 3, 6), (700000, 1100000))


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        # Budgets (fewer values) give the rows, in numeric order whatever the labels' order.
        ([_MIX[0].format(r=r, b=b) for r in _MIX[1] for b in _MIX[2][::-1]],
         ("staffing.budget", "staffing.ae_per_se", ["700000", "1100000"], ["1.5", "3", "6"], [])),
        # A key every label sets alike is a fixed setting; words keep their order of appearance.
        ([f"scenario=base,plan={p},region={g}" for p in ("se_heavy", "ae_heavy") for g in "WE"],
         ("plan", "region", ["se_heavy", "ae_heavy"], ["W", "E"], ["scenario=base"])),
        # A missing cell (a failed job) leaves a grid.
        (["a=1,b=1", "a=1,b=2", "a=2,b=1"], ("a", "b", ["1", "2"], ["1", "2"], [])),
        # Not grids: run names, one varied key, three varied keys, other keys, a key set twice.
        (["run1", "run2", "run3", "run4"], None),
        (["a=1", "a=2", "a=3", "a=4"], None),
        (["a=1,b=1,c=1", "a=2,b=2,c=1", "a=1,b=1,c=2", "a=2,b=2,c=2"], None),
        (["a=1,b=1", "a=2,b=1", "a=1,c=2", "a=2,c=2"], None),
        (["a=1,a=2,b=1", "a=2,b=2", "a=1,b=2", "a=2,b=1"], None),
    ],
)  # fmt: skip
def test_sweep_grid(labels, expected):
    from simengine.compare import sweep_grid

    grid = sweep_grid(labels)
    if expected is None:
        assert grid is None
        return
    assert (grid.row_key, grid.column_key, grid.rows, grid.columns, grid.fixed) == expected
    for label in labels:  # each label sits at its own values
        items = dict(item.split("=") for item in label.split(","))
        i, j = grid.cells[label]
        assert (grid.rows[i], grid.columns[j]) == (items[grid.row_key], items[grid.column_key])


def test_comparison_grid_cells_say_what_the_table_says():
    """Each heatmap cell is its scenario's paired difference (P50) and p_better, coloured by
    p_better; the baseline's cell says so, a missing job's cell stays empty (masked); and a
    5 x 10 sweep fits a screen where a row per scenario and metric does not."""
    from simengine.compare import sweep_grid
    from simengine.report.comparison_charts import comparison_grid, comparison_plot

    effects = {(b, r): r - b / 1e5 for b in (700000.0, 1100000.0) for r in (1.5, 3.0, 6.0)}
    del effects[(1100000.0, 6.0)]  # a failed job
    ds = _mix_sweep(effects)
    long = [_MIX[0].format(r=f"{r:g}", b=f"{b:.0f}") for b, r in effects]
    ds = ds.assign_coords(scenario=long)
    baseline = long[1]
    table, _ = compare(ds, baseline)
    grid = sweep_grid(long)
    fig = comparison_grid(table, baseline, grid)
    ax = fig.axes[0]
    assert ax.get_title(loc="left") == "Revenue (year) (currency)\nyear 1"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["700K", "1.1M"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1.5", "3", "6"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("ae_per_se", "budget")
    revenue = table[(table["metric"] == "revenue") & (table["year"] == 1)].set_index("scenario")
    cells = {
        (round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts
    }
    assert len(cells) == 5 and (1, 2) not in cells
    for label in long:
        i, j = grid.cells[label]
        row = revenue.loc[label]
        if label == baseline:
            assert cells[i, j] == "baseline"
        else:
            diff = row["diff_p50"]
            sign = "+" if diff > 0 else ""
            assert cells[i, j] == f"{sign}{diff:,.0f}\n{row['p_better']:.0%}"
    colours = ax.images[0].get_array()
    assert colours.mask[1, 2] and not colours.mask[0, 0]
    assert colours[grid.cells[long[0]]] == revenue.loc[long[0], "p_better"]

    big = _mix_sweep({(b, r): 0.0 for b in range(5) for r in range(10)}, draws=50)
    labels = [_MIX[0].format(r=r, b=b) for b in range(5) for r in range(10)]
    big = big.assign_coords(scenario=labels)
    table, _ = compare(big)
    grid_h = comparison_grid(table, labels[0], sweep_grid(labels)).get_size_inches()[1]
    strip_h = comparison_plot(table, labels[0]).get_size_inches()[1]
    assert grid_h < 10 and strip_h > 3 * grid_h


@pytest.mark.parametrize(
    ("metric", "value", "text"),
    [
        ("revenue", 1_534_000.0, "1.5M"),
        ("nrr", 1.1234, "112.3%"),
        # A paired difference of NRR under a tenth of a point keeps its sign and size.
        ("nrr", -0.0004, "-0.04%"),
        ("grr", 0.0123, "1.2%"),
        ("new_logos", 1234.4, "1,234"),
        ("cac_payback_months", float("nan"), "-"),
    ],
)
def test_fmt_per_metric(metric, value, text):
    from simengine.report.comparison import fmt

    assert fmt(metric, value) == text


def _staffing_yaml(budget: float, ratio: float) -> str:
    """A resolved config's staffing section: the heads a mix rounds to (cost 20K / 18K a head)."""
    from simengine.config.staffing_mix import mix_headcount

    ae, se = mix_headcount(budget, ratio, 20000.0, 18000.0)
    return (
        f"staffing:\n  budget: {budget}\n  ae_per_se: {ratio}\n  roles:\n"
        f"    ae: {{headcount: {ae}, cost_per_month: 20000.0}}\n"
        f"    se: {{headcount: {se}, cost_per_month: 18000.0}}\n"
    )


def test_frontier_marks_ties_with_the_best_and_each_mixs_real_cost():
    """At budget 375K, ratios 1.5 and 3 are the same plan up to noise: whichever is best on the
    median, the other is tied with it (P(best beats it) ~ 0.5, 400 draws: SE of a share ~0.025,
    so 0.6 is 4 SE away), while ratio 6 is 5/month worse (60 a year, ~12 SD of the paired yearly
    difference sqrt(12 x 2) ~ 4.9) and never tied.  At 700K ratio 3 wins by that margin: best
    alone.  Each mix's real cost is its rounded heads', not the budget; the table and the plot
    mark every tied mix alike."""
    from simengine.config.staffing_mix import mix_headcount
    from simengine.report.comparison import frontier_rows
    from simengine.report.comparison_charts import frontier_figure

    effects = {(375000.0, 1.5): 0.0, (375000.0, 3.0): 0.0, (375000.0, 6.0): -5.0,
               (700000.0, 1.5): 0.0, (700000.0, 3.0): 5.0}  # fmt: skip
    ds = _mix_sweep(effects)
    configs = [_staffing_yaml(b, r) for b, r in effects]
    ds = ds.assign_coords(config=("scenario", configs), scenario_name=("scenario", ["fy27"] * 5))
    spec = FrontierSpec("revenue_p50", 1)
    front = frontier(ds, spec).set_index("scenario")
    tied = front[front["tied_with_best"]].index.tolist()
    assert tied == ["b=375000,r=1.5", "b=375000,r=3", "b=700000,r=3"]
    best = front[front["best"]]
    assert (best["p_best_beats"] == 0.5).all()  # the best against itself: all ties
    assert front.loc["b=375000,r=6", "p_best_beats"] == 1.0
    assert front.loc["b=700000,r=1.5", "p_best_beats"] == 1.0
    for (budget, ratio), label in zip(effects, front.index, strict=True):
        ae, se = mix_headcount(budget, ratio, 20000.0, 18000.0)
        row = front.loc[label]
        assert (row["ae_heads"], row["se_heads"]) == (ae, se)
        assert row["cost_month"] == ae * 20000 + se * 18000
    # 375K does not buy whole heads at any of these ratios: the real costs differ from it.
    assert (front.loc[front["budget"] == 375000, "cost_month"] != 375000).all()

    columns, rows = frontier_rows(front.reset_index(), spec, "EUR")
    marks = {(r[0], r[1]): r[-1] for r in rows}
    best_375 = front.loc[front["best"] & (front["budget"] == 375000)].index[0]
    other = "b=375000,r=3" if best_375.endswith("1.5") else "b=375000,r=1.5"
    beats = front.loc[other, "p_best_beats"]
    assert 0.4 < beats < 0.6  # the same plan: a coin flip
    assert marks[("375K", best_375.rsplit("=", 1)[1])] == "tied best"
    assert marks[("375K", other.rsplit("=", 1)[1])] == f"tied best ({beats:.0%})"
    assert marks[("375K", "6")] == "" and marks[("700K", "3")] == "best"
    cost = columns.index("real cost")
    # 375K / (1.5 x 20K + 18K) = 7.8 SEs -> 8 and 11.7 AEs -> 12: 12 x 20K + 8 x 18K = 384K.
    assert rows[0][cost] == "384K"

    fig = frontier_figure(front.reset_index(), spec, currency="EUR", names=["fy27"])
    ax = fig.axes[0]
    assert ax.get_title().startswith("Scenario fy27: Staffing frontier, year 1")
    rings = [c for c in ax.collections if c.get_facecolors().size == 0]  # hollow markers
    assert sum(len(c.get_offsets()) for c in rings) == 3  # every tied mix, not one star
    labels = {t.get_text() for t in ax.texts}
    assert {f"€{c / 1e3:.0f}K" for c in front["cost_month"]} <= labels


def test_drivers_are_paired_differences_with_sensible_signs(tmp_path):
    """SE-heavy against AE-heavy hires (the embedded book at 2,000 accounts so coverage of the
    base does not saturate; 16 draws, common random numbers): fewer deals worked, more of them
    covered by an SE, a higher win rate, fewer unhealthy starts and more of the base covered.
    Every draw sees the same assumption draws, so these signs hold draw by draw (P10/P90 of the
    paired difference), except the win rate, whose sign flips in a draw where the uncovered win
    ratio (LogNormal(-0.36, 0.15)) exceeds 1 (P ~ 1%): its median difference is asserted.  The
    runs record scenario and group choices, read back from the written files, and the charts'
    titles name the scenario."""
    import simengine
    from simengine.compare.metrics import DRIVERS
    from simengine.compare.runs import scenario_names
    from simengine.report.comparison import print_drivers
    from simengine.report.comparison_charts import comparison_plot
    from simengine.report.sections import drivers_section
    from simengine.results import write_netcdf

    small = [*SMALL, "data.synthetic.n_accounts=2000"]
    dirs = []
    for plan in ("ae_heavy", "se_heavy"):
        ds = simengine.simulate([*small, f"staffing={plan}", "scenario=downturn"])
        (tmp_path / plan).mkdir()
        write_netcdf(ds, tmp_path / plan / "forecast.nc")
        dirs.append(tmp_path / plan)
    with xr.open_dataset(dirs[1] / "forecast.nc", engine="h5netcdf") as written:
        assert written.attrs["scenario"] == "downturn"
        groups = dict(g.split("=") for g in written.attrs["config_groups"].split(", "))
        assert groups["staffing"] == "se_heavy" and groups["market"] == "capacity"
    ds = load_scenarios(dirs)
    assert list(ds["scenario"].values) == ["staffing=ae_heavy", "staffing=se_heavy"]
    assert scenario_names(ds) == ["downturn"]
    table, _ = compare(ds, "staffing=ae_heavy")
    se = table[(table["scenario"] == "staffing=se_heavy") & (table["year"] == 1)]
    se = se.set_index("metric")
    assert set(DRIVERS) <= set(se.index)
    assert se.loc["deals", "diff_p90"] < 0
    for driver in ("deal_coverage", "se_coverage"):
        assert se.loc[driver, "diff_p10"] > 0 and se.loc[driver, "p_better"] == 1.0
    assert se.loc["unhealthy_share", "diff_p90"] < 0
    assert se.loc["unhealthy_share", "p_better"] == 1.0  # lower is better
    assert se.loc["win_rate", "diff_p50"] > 0
    assert se.loc["se_coverage", "p50"] < 1.0  # not saturated: the comparison says something
    base = table[table["scenario"] == "staffing=ae_heavy"]
    assert (base[["diff_p10", "diff_p50", "diff_p90"]] == 0).all().all()

    fig = comparison_plot(table, "staffing=ae_heavy", names=scenario_names(ds))
    assert fig.get_suptitle().startswith("Scenario downturn: 2 scenarios against")
    section = drivers_section(table, "staffing=ae_heavy", "USD", scenario_names(ds))
    assert section is not None and section.anchor == "drivers"

    # A market=rate run has no go-to-market model: no driver rows, no section, no table printed.
    import io

    from rich.console import Console

    rate = simengine.simulate([*SMALL, "market=rate"])
    assert rate.attrs["scenario"] == "default" and "market=rate" in rate.attrs["config_groups"]
    pair = xr.concat([rate.expand_dims(scenario=[s]) for s in ("a", "b")], "scenario")
    rate_table, _ = compare(pair)
    assert not rate_table["metric"].isin(DRIVERS).any() and len(rate_table) > 0
    assert drivers_section(rate_table, "a") is None
    buf = io.StringIO()
    print_drivers(rate_table, "a", Console(file=buf))
    assert buf.getvalue() == ""
    ds.close()


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["scenario=post_sales_shift"],  # the file picks staffing=balanced itself
        ["scenario=post_sales_shift", "staffing=se_heavy"],  # the command line wins
        ["market=rate", "comp=bookings", "scenario=downturn"],
    ],
)
def test_group_choices_of_the_api_are_hydras(overrides):
    """``simengine.simulate`` (no Hydra app running) records the group choices Hydra itself
    composes for the same overrides, so a notebook's forecast.nc says what the CLI's would."""
    from hydra import compose, initialize_config_dir

    from simengine.config import CONFIG_DIR, register_configs, scenario_dirs
    from simengine.config.compose import compose_run
    from simengine.run_attrs import choice_attrs, group_choices

    _, scenario = compose_run(overrides)
    ours = group_choices(overrides, scenario)
    register_configs(scenario_dirs([]))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides, return_hydra_config=True)
    hydras = {k: v for k, v in cfg.hydra.runtime.choices.items() if not k.startswith("hydra")}
    assert ours == hydras
    assert choice_attrs(ours)["scenario"] == (hydras["scenario"] or "default")


def _dated_pair(start: int = 4) -> xr.Dataset:
    """Two scenarios over 24 forecast months from 2026-07, April fiscal years: FY2027 (Apr 2026 -
    Mar 2027) holds 9 forecast months, FY2028 12, FY2029 3; scenario ``b`` adds 1 a month."""
    rng = np.random.default_rng(1)
    draws, months = 50, 24
    base = rng.normal(100.0, 10.0, size=(draws, months, 1))
    revenue = np.stack([base, base + 1.0], axis=-1)
    dims = ("draw", "month", "segment", "scenario")
    ones = np.ones((draws, months, 2))
    return xr.Dataset(
        {
            "revenue": (dims, revenue),
            "arr": (dims, 12 * revenue),
            "nrr_total": (("draw", "month", "scenario"), ones),
            "grr_total": (("draw", "month", "scenario"), ones),
        },
        coords={
            "scenario": ["a", "b"],
            "segment": ["s"],
            "month": pd.date_range("2026-07-01", periods=months, freq="MS"),
            "config": ("scenario", [f"data:\n  fiscal_year_start: {start}\n"] * 2),
        },
    )


def test_compare_years_are_fiscal_years_and_compare_year_picks_them():
    """comparison rows carry the fiscal year's index, label and months; compare.year keeps one
    year (by index or label) or all; the tables show the first full year and the last."""
    from simengine.compare.metrics import parse_years
    from simengine.compare.paired import shown_years
    from simengine.compare.runs import CompareError
    from simengine.report.comparison import comparison_rows

    ds = _dated_pair()
    table, _ = compare(ds, "a")
    years = table.drop_duplicates("year")[["year", "fiscal_year", "months"]].values.tolist()
    assert years == [[1, "FY2027", 9], [2, "FY2028", 12], [3, "FY2029", 3]]
    revenue = table[(table["metric"] == "revenue") & (table["scenario"] == "b")].set_index("year")
    # Paired: b - a is exactly 1 a month, so 9, 12 and 3 over the three fiscal years.
    assert revenue["diff_p50"].tolist() == pytest.approx([9.0, 12.0, 3.0])
    a_year1 = ds["revenue"].sel(scenario="a").isel(month=slice(0, 9)).sum(("month", "segment"))
    assert table.iloc[0]["p50"] == pytest.approx(float(np.quantile(a_year1, 0.5)))
    for value, kept in (("1", {1}), ("FY2028", {2}), ("fy29", {3}), ("all", {1, 2, 3})):
        part, _ = compare(ds, "a", years=parse_years(value, ds))
        assert set(part["year"].dropna()) == kept, value
    assert shown_years(table) == [2, 3]  # the first full year, and the last
    when, rows, _ = comparison_rows(table, "a")
    assert when == "FY2028 and FY2029 (3 mo)"
    assert rows[0][0] == "Revenue (year), FY2028"
    with pytest.raises(CompareError, match="compare.year' = 'FY2030'.*1 = FY2027"):
        parse_years("FY2030", ds)
    mixed = ds.assign_coords(config=("scenario", ["data:\n  fiscal_year_start: 1\n",
                                                  "data:\n  fiscal_year_start: 4\n"]))  # fmt: skip
    with pytest.raises(CompareError, match="data.fiscal_year_start' differs"):
        compare(mixed, "a")
