"""``simengine compare PATH...``: scenarios side by side, paired by draw against a baseline.

PATH is a sweep folder (its ``sweep.nc``, else its jobs' ``forecast.nc``), a run folder, or a
``forecast.nc``/``sweep.nc`` file; several PATHs are stacked.  For every metric of
:data:`METRICS` and forecast year, each scenario gets its P10/P50/P90, the P10/P50/P90 of its
**paired** difference to the baseline (draw ``d`` of the scenario minus draw ``d`` of the
baseline: both saw the same random streams, so the difference is the scenario's effect, not noise),
and ``p_better``, the share of paired draws in which the scenario beats the baseline.

**Tie rule.**  A draw where scenario and baseline are equal counts one half toward ``p_better``
(so identical scenarios, and the baseline itself, get exactly 0.5: no evidence either way).
Draws where either value is not finite (an NRR with no base, a CAC payback with no logo won) are
left out of that metric's figures.  **Direction.**  Higher is better except for go-to-market cost
(``total_cost``) and CAC payback (``cac_payback_months``), where lower is better.
``mcse_p_better`` and ``mcse_diff_p50`` are the Monte Carlo standard errors of ``p_better`` and
``diff_p50`` over the paired draws (:mod:`simengine.mcse`).

**Why a plan wins.**  Runs with the go-to-market model (``market=capacity``) also compare its
drivers (:data:`DRIVERS`), per forecast year and paired the same way, so a planner sees *why* one
plan beats another: ``deals`` (deals worked in the year), ``deal_coverage`` (share of them with SE
support), ``win_rate`` (share of them won), ``unhealthy_share`` (share of the year's expected new
logos that start unhealthy), ``csm_coverage`` and ``se_coverage`` (share of the year's active
account-months a CSM, an SE/adoption specialist covers), ``ae_attainment`` (the AEs' year's
production over their year's quota: monthly attainment weighted by ramped AE capacity) and
``variable_pay`` (the year's variable pay).  Shares are weighted by what they are shares of, not
averaged over months.  For a driver ``p_better`` is P(higher), except ``unhealthy_share`` and
``variable_pay`` (P(lower)).  Runs with ``market=rate`` have no drivers: their rows are absent.

Writes ``comparison.csv`` (every scenario, metric and year), ``comparison.png`` (each scenario's
interval and paired difference), ``comparison_grid.png`` when the scenarios vary in two keys (one
heatmap a metric: paired difference and ``p_better`` per cell) and, for a staffing-mix sweep,
``frontier.csv``/``frontier.png``, and ``comparison.xlsx`` (:mod:`simengine.workbook`); prints
the first full and the last fiscal year's table.

Runs are paired only when they share ``seed``, the input data hash and the number of draws;
otherwise their streams are not common and ``compare`` refuses (exit 2, one line).  Runs of
``sim.draws=auto`` may differ in draws: they pair on the draws they share.

**Years** are fiscal years (``data.fiscal_year_start``, :mod:`simengine.fiscal`): ``year`` is the
index (1 = the forecast's first fiscal year), ``fiscal_year`` the label (``FY2026``, named by the
calendar year it ends in), ``months`` the months it covers.  A fiscal year the forecast starts
inside counts its earlier months from the book (the same in every scenario).

Keys: ``compare.baseline=LABEL`` (default: the first scenario), ``compare.out=DIR`` (default
``outputs/compare/<timestamp>_<token>/``), ``compare.year`` (a fiscal year as index or label,
``FY2026``, or ``all``: the years comparison.csv/.xlsx, the printed table and the chart hold;
default every year in the files and the first full and the last year on screen), and for a
staffing-mix sweep the frontier's ``compare.objective`` and ``compare.target`` (see
:mod:`simengine.frontier`; its year is ``compare.year`` when that names one).

The steps, one module each: :mod:`~simengine.compare.runs` opens the runs and refuses those that
cannot be paired, :mod:`~simengine.compare.metrics` reduces one scenario to per-draw metrics per
fiscal year, :mod:`~simengine.compare.labels` names the scenarios as tables show them, and
:mod:`~simengine.compare.paired` builds the table.
"""

from simengine.compare.labels import sweep_grid
from simengine.compare.paired import compare
from simengine.compare.runs import load_scenarios, scenario_currency

__all__ = ["compare", "load_scenarios", "scenario_currency", "sweep_grid"]
