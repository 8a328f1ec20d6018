"""Sweeps end to end: the basic and joblib launchers (merge included), the Dask split, merge memory.

Run ``python benchmarks/bench_sweep.py`` (full: 50 scenarios of the default book, 1,000 draws x 36
months each); ``--scenarios 10`` or ``--quick`` scale it down, and the printout extrapolates to 50
scenarios linearly (jobs are independent and run back to back).  Figures printed:

1. ``simengine run -m`` with the basic launcher: wall time of the whole command (start-up,
   pre-check of every job, the jobs, and the merge into ``sweep.nc``), and of the merge alone;
   then the planner's next command, ``simengine compare`` on that sweep folder (comparison and
   frontier tables, CSVs and plots), wall time and peak memory.
2. The same sweep with ``hydra/launcher=joblib`` (``n_jobs`` = cores).
3. One run of ``--dask-draws`` draws: one process vs split by draws over a ``LocalCluster`` of
   2 worker processes (and a check that both give the same bytes).
4. Peak memory of merging ``--merge-jobs`` job folders (links to one 1,000-draw ``forecast.nc``) in
   a fresh process: maxrss growth and tracemalloc peak, against one job's and all jobs' sizes; then
   ``simengine.compare`` over the merged ``sweep.nc`` (time and peak memory of reading it back).
5. Where a job's time goes (``--scenarios`` jobs of the basic launcher, run in one child process with
   timers around each stage): CPU seconds per job of the main thread by stage (config composition,
   the pre-check, Hydra's compose, the kernel, the dataset, each output file, the merge) and of the
   whole process for the kernel (its numba threads); each stage's first call (imports, compiling,
   the posterior gate, per-process caches) apart from the mean of the later ones; and the steady
   process CPU a job costs outside the kernel (jobs 2..n: from one job's start to the next, kernel
   excluded, plus its pre-check and its share of the merge), what a long sweep pays per job.

6. ``sim.draws=auto`` on the staffing frontier (``--budgets`` x ``--ratios``: 5 budgets x 10
   ratios by default) answered with MCSE(``p_best``) <= ``--precision`` (0.02), against the fixed
   ``--draws`` (1,000) sweep of the same scenarios in the same run: wall and CPU time of each, the
   draws the auto sweep took, and whether the answers agree within the MCSE (every mix's
   ``p_best``, and each budget's best mix).  The auto sweep's draws are the first draws of the
   fixed sweep's (streams keyed by absolute draw), so their ``p_best`` differ by the MCSE of the
   draws the auto sweep did not take: ``z = (p_auto - p_fixed) / sqrt(mcse_auto**2 -
   mcse_fixed**2)``.  ``--frontier-only`` runs this section alone.

The sweeps of 1-5 vary ``staffing.ae_per_se`` at ``staffing.budget=900000`` (same budget, other
ratios).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent


def _ratios(n: int) -> str:
    return ",".join(f"{r:g}" for r in np.round(np.linspace(1.0, 8.0, n), 2))


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds of ``cmd`` (run in the repo) and the CPU seconds of its processes."""
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return seconds, cpu


def _sweep(n: int, draws: int, out: Path, launcher: list[str]) -> tuple[float, float]:
    """Wall seconds of the whole ``simengine run -m`` command and the CPU seconds of its processes."""
    cmd = [
        sys.executable, "-m", "simengine", "run", "-m", f"sim.draws={draws}", "sim.progress=false",
        "staffing.budget=900000", f"staffing.ae_per_se={_ratios(n)}", *launcher,
        f"hydra.sweep.dir={out}",
    ]  # fmt: skip
    return _timed(cmd)


def _merge_seconds(sweep: Path) -> float:
    from simengine.sweep import gather_sweep

    t0 = time.perf_counter()
    gather_sweep(sweep)
    return time.perf_counter() - t0


def _dask(draws: int) -> tuple[float, float, bool]:
    from dask.distributed import Client, LocalCluster

    from simengine.api import load_config, simulate_config
    from simengine.distributed import simulate_distributed

    os.environ["SOURCE_DATE_EPOCH"] = "1790000000"
    cfg = load_config([f"sim.draws={draws}", "sim.progress=false"])
    simulate_config(load_config(["sim.draws=8", "sim.progress=false"]))  # compile / cache load
    t0 = time.perf_counter()
    one = simulate_config(cfg)
    single = time.perf_counter() - t0
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        simulate_distributed(load_config(["sim.draws=8", "sim.progress=false"]), client)  # warm
        t0 = time.perf_counter()
        split = simulate_distributed(cfg, client)
        distributed = time.perf_counter() - t0
    same = all(one[v].values.tobytes() == split[v].values.tobytes() for v in one.data_vars)
    return single, distributed, same


#: ``peak_kb()``: the peak resident memory (KB) of this process's own address space: Linux's
#: ``VmHWM``.  ``ru_maxrss`` would not do in a child: Linux carries it across ``execve``, so a
#: child started by a parent holding 870 MB (after the Dask run) reads 870 MB from its first line.
_PEAK_KB = """
import resource
def peak_kb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""

_MERGE_CHILD = (
    _PEAK_KB
    + """
import json, sys, time, tracemalloc
from simengine.sweep import gather_sweep
from simengine.compare.paired import compare
from simengine.compare.runs import load_scenarios
import xarray, dask  # imported before the baseline: count the merge, not the imports
base = peak_kb()
tracemalloc.start()
t0, c0 = time.perf_counter(), time.process_time()
gather_sweep(sys.argv[1])
seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = tracemalloc.get_traced_memory()[1]
rss = peak_kb()
tracemalloc.reset_peak()
t0 = time.perf_counter()
table, _ = compare(load_scenarios([sys.argv[1]]))
compare_seconds = time.perf_counter() - t0
compare_peak = tracemalloc.get_traced_memory()[1]
compare_rss = peak_kb()
print(json.dumps({"seconds": seconds, "cpu": cpu, "tracemalloc_mb": peak / 2**20,
                  "rss_mb": rss / 1024, "rss_growth_mb": (rss - base) / 1024,
                  "compare_seconds": compare_seconds, "compare_rows": len(table),
                  "compare_tracemalloc_mb": compare_peak / 2**20,
                  "compare_rss_mb": compare_rss / 1024}))
"""
)

# Timers around each stage of a basic-launcher sweep, in one child process: main-thread CPU
# (time.thread_time: the Python work of a stage) and process CPU (the kernel's numba threads too),
# per call, so the first call (imports, compilation, the posterior gate, per-process caches) and
# the steady calls of later jobs are told apart.  Process-CPU marks at each job's start (the
# pre-check's compose of it, Hydra's compose of it) and at the merge give the steady cost of a job
# outside the kernel: what a long sweep pays per job.
_STAGES_CHILD = """
import collections, contextlib, functools, importlib, io, json, sys, time
T = collections.defaultdict(list)
MARKS = {"pre": [], "job": [], "in_pre": False}
def timed(key, f, mark=None):
    @functools.wraps(f)
    def w(*a, **k):
        c0, p0 = time.thread_time(), time.process_time()
        if mark == "job" or (mark == "pre" and MARKS["in_pre"]):
            MARKS[mark].append(p0)
        try:
            return f(*a, **k)
        finally:
            T[key].append((time.thread_time() - c0, time.process_time() - p0))
    return w
def precheck(f):
    @functools.wraps(f)
    def w(*a, **k):
        MARKS["in_pre"] = True
        try:
            return f(*a, **k)
        finally:
            MARKS["in_pre"] = False
            MARKS["pre"].append(time.process_time())
    return w
p0 = time.process_time()
import simengine.cli
STAGES = [("simengine.cli", "precheck", "pre-check (all jobs, before Hydra)"),
          ("simengine.config.compose", "compose_run", "  of which: compose a job"),
          ("simengine.pipeline", "check_run", "check_run (pre-check and run)"),
          ("simengine.engine", "run_kernel", "kernel (run_kernel)"),
          ("simengine.api", "simulate_config", "simulate_config (kernel included)"),
          ("simengine.results", "write_netcdf", "forecast.nc"),
          ("simengine.report", "fan_chart", "fan_chart.png"),
          ("simengine.report", "summary_table", "summary.csv table"),
          ("simengine.accounts_forecast", "write_account_outputs", "accounts_forecast, signals"),
          ("simengine.report.console", "print_summary", "console summary"),
          ("simengine.accounts_forecast", "print_signals", "console signals"),
          ("simengine.sweep", "gather_sweep", "merge (sweep.nc)")]
for mod, attr, key in STAGES:
    m = importlib.import_module(mod)
    mark = "pre" if attr == "compose_run" else None
    setattr(m, attr, timed(key, getattr(m, attr), mark))
simengine.cli.precheck = precheck(simengine.cli.precheck)
from hydra._internal.config_loader_impl import ConfigLoaderImpl
ConfigLoaderImpl.load_sweep_config = timed(
    "Hydra's compose of a job", ConfigLoaderImpl.load_sweep_config, "job")
import simengine.sweep
gather = simengine.sweep.gather_sweep
def gather_marked(*a, **k):
    MARKS["job"].append(time.process_time())
    return gather(*a, **k)
simengine.sweep.gather_sweep = gather_marked
args = json.loads(sys.argv[1])
with contextlib.redirect_stdout(io.StringIO()):
    simengine.cli.main(args)
print(json.dumps({"total_cpu": time.process_time() - p0, "stages": dict(T),
                  "marks": {k: MARKS[k] for k in ("pre", "job")}}))
"""


def _stages(n: int, draws: int, out: Path) -> dict:
    args = [
        "run", "-m", f"sim.draws={draws}", "sim.progress=false", "staffing.budget=900000",
        f"staffing.ae_per_se={_ratios(n)}", f"hydra.sweep.dir={out}",
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", _STAGES_CHILD, json.dumps(args)],
        capture_output=True, text=True, cwd=REPO,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _steady(marks: list[float]) -> float:
    """Mean length of the intervals between marks after the first one (jobs 2..n)."""
    gaps = np.diff(marks)[1:]
    return float(gaps.mean()) if gaps.size else float("nan")


def _print_stages(r: dict, n: int) -> None:
    stages = r["stages"]
    print(
        f"CPU by stage ({n} jobs, one process; main thread / whole process, CPU-s): per job over "
        "all calls, and the first call / the mean of the later ones"
    )
    for key, calls in stages.items():
        thread = [c[0] for c in calls]
        process = [c[1] for c in calls]
        later = f"{np.mean(thread[1:]):6.3f}" if len(calls) > 1 else "     -"
        print(
            f"  {key:38s} {len(calls):3d} calls  {sum(thread) / n:6.3f}  {sum(process) / n:6.3f}"
            f"   first {thread[0]:6.3f}  later {later}"
        )
    kernel = [c[1] for c in stages.get("kernel (run_kernel)", [])]
    rest = r["total_cpu"] - sum(kernel)
    print(
        f"  process CPU {r['total_cpu']:.1f} s: kernel {sum(kernel) / n:.2f} CPU-s a job, "
        f"everything else {rest / n:.2f} CPU-s a job (start-up, imports and the posterior gate "
        "included)"
    )
    marks = r.get("marks", {})
    if len(marks.get("job", [])) > 2 and len(kernel) == n:
        pre = _steady(marks["pre"])
        job = float(np.mean(np.diff(marks["job"])[1:] - np.asarray(kernel[1:])))
        merge = sum(c[1] for c in stages.get("merge (sweep.nc)", [])) / n
        print(
            f"  steady job outside the kernel (process CPU, jobs 2..{n}): pre-check {pre:.3f} + "
            f"job {job:.3f} (Hydra's compose to outputs, kernel excluded) + merge {merge:.3f} "
            f"= {pre + job + merge:.3f} CPU-s a job; kernel {np.mean(kernel[1:]):.2f}"
        )


def _merge_memory(source: Path, jobs: int, root: Path) -> dict:
    sweep = root / "merge"
    for i in range(jobs):
        job = sweep / str(i)
        (job / ".hydra").mkdir(parents=True)
        os.link(source, job / "forecast.nc") if i else shutil.copy(source, job / "forecast.nc")
        (job / ".hydra" / "overrides.yaml").write_text(f"- model.csm_hazard_ratio={i}\n")
    proc = subprocess.run(
        [sys.executable, "-c", _MERGE_CHILD, str(sweep)], capture_output=True, text=True, cwd=REPO
    )
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["job_mb"] = source.stat().st_size / 2**20
    result["sweep_mb"] = (sweep / "sweep.nc").stat().st_size / 2**20
    return result


#: Runs ``python -m simengine ARGS`` and prints the process's own peak memory (KB) to stderr at
#: exit.
_WITH_MAXRSS = (
    _PEAK_KB
    + """
import atexit, runpy, sys
atexit.register(lambda: print("maxrss", peak_kb(), file=sys.stderr))
sys.argv = ["simengine", *sys.argv[1:]]
runpy.run_module("simengine", run_name="__main__")
"""
)


def _compare_cli(sweep: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and maxrss (MB) of ``simengine compare`` on a sweep folder, in its own
    process."""
    cmd = [sys.executable, "-c", _WITH_MAXRSS, "compare", str(sweep), f"compare.out={out}"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    rss = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("maxrss ")]
    return seconds, float(rss[-1]) / 1024


def _frontier_sweep(budgets: str, ratios: str, draws: list[str], out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``simengine run -m`` over ``budgets`` x ``ratios``."""
    cmd = [
        sys.executable, "-m", "simengine", "run", "-m", *draws, "sim.progress=false",
        f"staffing.budget={budgets}", f"staffing.ae_per_se={ratios}", f"hydra.sweep.dir={out}",
    ]  # fmt: skip
    return _timed(cmd)


def _p_best(sweep: Path, precision: float):
    """Per mix: draws, ``p_best`` and its MCSE (as ``sim.draws=auto`` computes them), best mix."""
    from simengine.auto_sweep import plan_sweep
    from simengine.compare.metrics import metric_draws, scenario_data
    from simengine.compare.runs import load_scenarios
    from simengine.frontier import frontier, mixes, spec_from_keys

    ds = load_scenarios([sweep])
    mix = mixes(ds)
    values = {}
    for label in mix["scenario"]:
        per_draw, _ = metric_draws(scenario_data(ds, label))
        last = max(y for m, y in per_draw if m == "revenue" and y is not None)
        v = per_draw["revenue", last]
        values[label] = v[np.isfinite(v)]
    groups = [list(g["scenario"]) for _, g in mix.groupby("budget", sort=True)]
    _, table = plan_sweep(values, groups, precision, 1, 10**9)
    front = frontier(ds, spec_from_keys({}, ds))
    ds.close()
    table = table.merge(front[["scenario", "budget", "ae_per_se", "best"]], on="scenario")
    columns = ["scenario", "budget", "ae_per_se", "draws", "value", "mcse", "best"]
    return table[columns].rename(columns={"value": "p_best"})


def _frontier_auto(args, root: Path) -> None:
    budgets, ratios = args.budgets, args.ratios
    n = len(budgets.split(",")) * len(ratios.split(","))
    auto_args = ["sim.draws=auto", f"sim.precision={args.precision}",
                 f"sim.block_draws={args.block_draws}", f"sim.max_draws={args.max_draws}"]  # fmt: skip
    print(f"frontier: {budgets} x {ratios} ({n} scenarios), 36 months, default book; load "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    fixed_s, fixed_cpu = _frontier_sweep(budgets, ratios, [f"sim.draws={args.draws}"],
                                         root / "fixed")  # fmt: skip
    auto_s, auto_cpu = _frontier_sweep(budgets, ratios, auto_args, root / "auto")
    fixed = _p_best(root / "fixed", args.precision)
    auto = _p_best(root / "auto", args.precision)
    both = auto.merge(fixed, on=["scenario", "budget", "ae_per_se"], suffixes=("_auto", "_fixed"))
    gap = np.sqrt(np.maximum(both["mcse_auto"] ** 2 - both["mcse_fixed"] ** 2, 1e-12))
    z = (both["p_best_auto"] - both["p_best_fixed"]) / gap
    same_best = (both[both["best_auto"]]["scenario"].tolist()
                 == both[both["best_fixed"]]["scenario"].tolist())  # fmt: skip
    print(
        f"fixed {args.draws} draws: {fixed_s:.1f} s wall, {fixed_cpu:.1f} CPU-s; auto "
        f"(MCSE(p_best) <= {args.precision:g}, blocks of {args.block_draws}, at most "
        f"{args.max_draws}): {auto_s:.1f} s wall, {auto_cpu:.1f} CPU-s; auto/fixed wall "
        f"{auto_s / fixed_s:.2f}; load after {os.getloadavg()[0]:.1f}"
    )
    draws = auto.groupby("budget")["draws"].first()
    print(
        f"auto draws per budget: {', '.join(f'{b:g}: {d}' for b, d in draws.items())} "
        f"({auto['draws'].sum():,} draws in all vs {args.draws * n:,}); largest MCSE(p_best) "
        f"auto {auto['mcse'].max():.4f}, fixed {fixed['mcse'].max():.4f}"
    )
    print(
        f"same answers: best mix (P50) at every budget the same: {same_best}; "
        f"|p_best auto - fixed| max {np.abs(both['p_best_auto'] - both['p_best_fixed']).max():.4f}"
        f", |z| max {np.abs(z).max():.2f} (z over the MCSE of the draws auto did not take; "
        f"|z| > 3 in {int((np.abs(z) > 3).sum())} of {n})"
    )
    with_p = both[["budget", "ae_per_se", "draws_auto", "p_best_auto", "mcse_auto",
                   "p_best_fixed", "mcse_fixed", "best_auto", "best_fixed"]]  # fmt: skip
    print(with_p.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=50)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--dask-draws", type=int, default=2000)
    parser.add_argument("--merge-jobs", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="4 scenarios x 200 draws")
    parser.add_argument(
        "--skip", default="", help="comma list of basic,joblib,dask,memory,stages,frontier"
    )
    parser.add_argument("--budgets", default="600000,750000,900000,1050000,1200000")
    parser.add_argument("--ratios", default=_ratios(10))
    parser.add_argument("--precision", type=float, default=0.02)
    parser.add_argument("--block-draws", type=int, default=200)
    parser.add_argument("--max-draws", type=int, default=4000)
    parser.add_argument("--frontier-only", action="store_true", help="section 6 alone")
    args = parser.parse_args()
    if args.frontier_only:
        args.skip = "basic,joblib,dask,memory,stages"
    if args.quick:
        args.scenarios, args.draws, args.dask_draws, args.merge_jobs = 4, 200, 400, 8
    skip = set(args.skip.split(","))
    scale = 50 / args.scenarios
    print(f"sweep: {args.scenarios} scenarios x {args.draws} draws x 36 months, default book")
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        root = Path(tmp)
        if "basic" not in skip:
            s, cpu = _sweep(args.scenarios, args.draws, root / "basic", [])
            m = _merge_seconds(root / "basic")
            print(
                f"basic launcher: {s:6.1f} s ({s / args.scenarios:.2f} s/job, merge {m:.1f} s)"
                f" -> 50 scenarios ~ {s * scale:.0f} s; CPU {cpu:.1f} s "
                f"({cpu / args.scenarios:.2f} CPU-s/job -> 50 scenarios on 2 idle cores "
                f"~ {cpu * scale / 2:.0f} s)"
            )
            c, rss = _compare_cli(root / "basic", root / "compare")
            print(
                f"simengine compare on that sweep ({args.scenarios} scenarios: tables, CSVs, "
                f"comparison and frontier plots): {c:.1f} s, maxrss {rss:.0f} MB"
            )
        if "joblib" not in skip:
            n_jobs = os.cpu_count() or 2
            s, cpu = _sweep(
                args.scenarios, args.draws, root / "joblib",
                ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"],
            )  # fmt: skip
            print(
                f"joblib launcher ({n_jobs} jobs): {s:6.1f} s ({s / args.scenarios:.2f} s/job)"
                f" -> 50 scenarios ~ {s * scale:.0f} s; CPU {cpu:.1f} s"
            )
        if "dask" not in skip:
            single, distributed, same = _dask(args.dask_draws)
            print(
                f"one run of {args.dask_draws} draws: one process {single:.1f} s, Dask LocalCluster "
                f"(2 worker processes) {distributed:.1f} s; bitwise equal: {same}"
            )
        if "memory" not in skip:
            source = root / "basic" / "0" / "forecast.nc"
            if not source.is_file():
                _sweep(1, args.draws, root / "one", [])
                source = root / "one" / "0" / "forecast.nc"
            r = _merge_memory(source, args.merge_jobs, root)
            print(
                f"merge of {args.merge_jobs} jobs ({r['job_mb']:.0f} MB each, "
                f"{r['job_mb'] * args.merge_jobs:.0f} MB in all): {r['seconds']:.2f} s "
                f"({r['cpu']:.2f} CPU-s), peak tracemalloc {r['tracemalloc_mb']:.0f} MB, process "
                f"maxrss {r['rss_mb']:.0f} MB (+{r['rss_growth_mb']:.0f} MB over the imports); "
                f"sweep.nc {r['sweep_mb']:.1f} MB"
            )
            print(
                f"compare over that sweep.nc: {r['compare_seconds']:.1f} s, {r['compare_rows']} "
                f"rows, peak tracemalloc {r['compare_tracemalloc_mb']:.0f} MB, process maxrss "
                f"{r['compare_rss_mb']:.0f} MB"
            )
        if "stages" not in skip:
            _print_stages(_stages(args.scenarios, args.draws, root / "stages"), args.scenarios)
        if "frontier" not in skip:
            _frontier_auto(args, root)


if __name__ == "__main__":
    main()
