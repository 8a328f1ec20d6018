"""What each ``simengine`` verb does inside its Hydra job, and a sweep's progress line.

:data:`TASKS` maps ``run``, ``fit`` and ``backtest`` to the function Hydra's app calls with the
composed config; :func:`sweep_progress` and :func:`sweep_clock` give each job of a ``-m`` sweep its
``[k/N, elapsed, ~left]``, and :func:`_quiet_console` keeps a sweep job's console to one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path

from simengine.cli_precheck import job_overrides

__all__ = ["GATE_FAILED", "SWEEP_PROGRESS_ENV", "TASKS", "sweep_clock", "sweep_progress"]


def _output_dir() -> Path:
    from hydra.core.hydra_config import HydraConfig

    return Path(HydraConfig.get().runtime.output_dir)


#: ``"<jobs>:<start time>"`` of the sweep being run, for each job's progress (an environment
#: variable, so the joblib launcher's worker processes see it too).
SWEEP_PROGRESS_ENV = "SIMENGINE_SWEEP_PROGRESS"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


#: (job number, time) of the first job this process finished in the sweep being run.
_first_done: list[tuple[int, float]] = []


def sweep_progress(job_num: int, now: float | None = None) -> str:
    """``[k/N, elapsed, ~left]`` as job ``job_num`` (0-based) of the sweep being run finishes.

    The time left is the pace since the first job this process finished (that first job pays for
    imports, the kernel's compile or cache load and the posterior gate, so it would overstate
    the rest) times the jobs still to come; job numbers advance with every worker, so a parallel
    launcher's pace counts all of them.  The first job shows no estimate.  ``[job k]`` outside a
    sweep run from the CLI."""
    spec = os.environ.get(SWEEP_PROGRESS_ENV, "")
    total, _, start = spec.partition(":")
    k = job_num + 1
    try:
        total_n, start_t = int(total), float(start)
    except ValueError:
        return f"[job {k}]"
    now = time.time() if now is None else now
    elapsed = _duration(max(0.0, now - start_t))
    if k > total_n:  # more jobs than the command line lists (a sweep set up in a config file)
        return f"[job {k}, {elapsed}]"
    head = f"[{k}/{total_n}, {elapsed}"
    if not _first_done or _first_done[0][0] >= k:
        _first_done[:] = [(k, now)]
        return head + "]"
    k0, t0 = _first_done[0]
    if k >= total_n:
        return head + "]"
    return head + f", ~{_duration((now - t0) / (k - k0) * (total_n - k))} left]"


@contextlib.contextmanager
def sweep_clock(multirun: bool, overrides: list[str]):
    """Set :data:`SWEEP_PROGRESS_ENV` for the jobs of a sweep while it runs."""
    if not multirun:
        yield
        return
    jobs = len(job_overrides(overrides, True))
    os.environ[SWEEP_PROGRESS_ENV] = f"{jobs}:{time.time()}"
    _first_done.clear()
    try:
        yield
    finally:
        os.environ.pop(SWEEP_PROGRESS_ENV, None)


class _SweepConsole(logging.Filter):
    """Keeps INFO records (simengine's kernel timings, a worker's first import of ArviZ) off the
    console in a sweep's job: its one line says what it did, and ``run.log`` in its folder still
    has them all.  Warnings, errors and Hydra's own lines pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.startswith("hydra")


@contextlib.contextmanager
def _quiet_console(on: bool):
    """:class:`_SweepConsole` on the root logger's console handlers while a sweep's job runs."""
    consoles = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    handlers = consoles if on else []
    quiet = _SweepConsole()
    for h in handlers:
        h.addFilter(quiet)
    try:
        yield
    finally:
        for h in handlers:
            h.removeFilter(quiet)


def _run_task(cfg) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra = HydraConfig.get()
    sweep = hydra.mode == RunMode.MULTIRUN
    with _quiet_console(sweep):
        _run_job(cfg, hydra, sweep)


def _run_job(cfg, hydra, sweep: bool) -> None:
    from rich.console import Console

    from simengine.accounts_forecast import print_signals
    from simengine.api import simulate_config, write_run_outputs
    from simengine.config import to_config
    from simengine.report.console import print_summary, sweep_job_line

    config = to_config(cfg)
    from simengine.config import config_yaml
    from simengine.config.hashing import yaml_hash
    from simengine.sweep import finished

    d = config.data
    inputs = (d.accounts, d.usage, d.use_cases, config.fit.posterior)
    resolved = config_yaml(config)  # hashed here and written into forecast.nc's attrs
    if finished(yaml_hash(resolved), _output_dir(), inputs):  # a resumed sweep: job done
        progress = f"{sweep_progress(hydra.job.num)} " if sweep else ""
        print(
            f"{progress}skipped {_output_dir()}: it holds this config's outputs (same config hash)"
        )
        return
    console = Console(stderr=False)
    if sweep and config.sim.draws == "auto":
        # A first block, kept for the sweep's end, which draws on where undecided and then
        # writes the job's outputs once (simengine.auto_sweep).
        from simengine.auto_draws import first_block

        ds = first_block(config, _output_dir(), resolved=resolved)
        console.print(
            f"  {sweep_progress(hydra.job.num)} {sweep_job_line(ds)}; first "
            f"{ds.sizes['draw']} draws (outputs in {_output_dir()}/ once the sweep settles)",
            highlight=False,
            soft_wrap=True,
        )
        return
    # A sweep's job writes no cohort cells (write_run_outputs), so the kernel keeps none.
    ds = simulate_config(config, resolved=resolved, cohort_cells=not sweep)
    paths = write_run_outputs(ds, _output_dir(), config.signals.top)
    if sweep:
        # A job of a sweep: one line (its tables are in summary.csv; the scenarios side by side
        # come from `simengine compare`, which the sweep's last line names).
        console.print(
            f"  {sweep_progress(hydra.job.num)} {sweep_job_line(ds)}; "
            f"wrote {paths['forecast'].parent}/",
            highlight=False,
            soft_wrap=True,
        )
        return
    print_summary(ds, console)
    print_signals(ds, console, written=config.signals.top)
    console.print(
        f"[bold]wrote[/bold] {paths['forecast'].parent}/ "
        f"({', '.join(p.name for p in paths.values())})"
    )


#: Exit code of ``simengine fit`` when the posterior fails the diagnostics gate (or NUTS stays
#: stuck): distinct from 2 (bad input, nothing written), since the posterior is written.
GATE_FAILED = 3


def _fit_task(cfg) -> None:
    from rich.console import Console

    from simengine.api import run_fit
    from simengine.config import to_config
    from simengine.fitting import check_gate, diagnostics_table
    from simengine.fitting.sampling import STUCK_ADVICE, StuckSamplerError
    from simengine.report.console import print_fit_summary

    config = to_config(cfg)
    out = _output_dir()
    try:
        tree = run_fit(config, out)
    except StuckSamplerError as exc:
        print(f"simengine: fit failed: {exc}", file=sys.stderr)
        sys.exit(GATE_FAILED)
    console = Console()
    failures = check_gate(tree, config.fit)
    print_fit_summary(tree, diagnostics_table(tree), failures, console)
    restarts = int(tree.attrs.get("sampler_restarts", 0))
    if restarts:
        console.print(f"NUTS restarted {restarts} time(s) after a stuck chain (see the log)")
    console.print(f"[bold]wrote[/bold] {out}/ (posterior.nc, diagnostics.csv)")
    if failures and config.fit.method == "nuts" and not config.fit.allow_bad:
        # The posterior is written (attrs gate=failed) so it can be inspected; the exit code
        # tells a script not to use it.  A MAP/ADVI fit was asked for as an approximation, and
        # fit.allow_bad=true accepts a failing posterior: both exit 0.
        print(
            f"simengine: fit failed its gate ({'; '.join(failures)}); {STUCK_ADVICE}",
            file=sys.stderr,
        )
        sys.exit(GATE_FAILED)


def _backtest_task(cfg) -> None:
    from rich.console import Console

    from simengine.backtest import run_backtest
    from simengine.config import to_config
    from simengine.report.backtest_plot import print_backtest

    config = to_config(cfg)
    out = _output_dir()
    result = run_backtest(config, out)
    console = Console()
    print_backtest(result, console)
    console.print(
        f"[bold]wrote[/bold] {out}/ (backtest.csv, backtest_scores.csv, backtest.png, "
        "accounts_forecast.csv, posterior.nc)"
    )


TASKS = {"run": _run_task, "fit": _fit_task, "backtest": _backtest_task}
