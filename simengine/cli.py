"""The ``simengine`` command: one Hydra app per verb.

``simengine VERB [overrides] [hydra flags]``.  Before Hydra creates a run folder, the command composes
the config for every job (every combination of a ``-m`` sweep), validates it and loads the data, so
bad input exits with code 2, one line on stderr naming the file/field/row or config key, and no
files written.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import sys
import time
import warnings
from pathlib import Path

from simengine.config import CONFIG_DIR, ConfigError, register_configs, scenario_dirs
from simengine.config.compose import open_segment_maps

__all__ = ["main"]

log = logging.getLogger("simengine")

VERBS = {
    "run": "simulate one scenario (-m sweeps); writes forecast.nc, summary.csv (+ quarterly, "
    "monthly), summary.xlsx, fan_chart.png, accounts_forecast.csv/.parquet, signals.csv",
    "fit": "fit the PyMC models to the configured data; writes posterior.nc, diagnostics.csv",
    "compare": "compare runs or a sweep, paired by draw; writes comparison.csv, comparison.xlsx, "
    "comparison.png",
    "backtest": "fit up to as_of - backtest.holdout_months, forecast the installed base, score; "
    "writes backtest.csv, backtest_scores.csv, backtest.png",
    "report": "one self-contained report.html for a run, sweep or backtest folder "
    "(simengine report PATH [--currency CODE] [--baseline SCENARIO] [--year FY] [--out FILE | "
    "hydra.run.dir=DIR])",
}

USAGE = (
    "usage: simengine VERB [key=value ...] [-m] [hydra flags]\n\nverbs:\n"
    + "\n".join(f"  {verb:<9}{what}" for verb, what in VERBS.items())
    + "\n\nExamples:\n  simengine run sim.draws=2000 sim.horizon_months=60 seed=7\n"
    "  simengine fit data.accounts=accounts.csv data.usage=usage.csv\n"
    "  simengine run scenario=downturn      (a file in scenarios/)\n"
    "  simengine run --scenarios ~/plans scenario=fy27   (your own folder of scenarios)\n"
    "  simengine run market=rate market.new_logo_rate.smb=40   (new logos at a fixed rate)\n"
    "  simengine run --cfg job      (print the composed config)\n"
    "  simengine report outputs/2026-11-30/10-00-00_ab12cd   (report.html in that folder)\n"
)


class UserError(Exception):
    """Bad input or config: reported in one line, exit code 2."""


def _user_errors() -> tuple[type[BaseException], ...]:
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from simengine.data import DataError

    errors: list[type[BaseException]] = [
        ConfigError,
        DataError,
        HydraException,
        OmegaConfBaseException,
        UserError,
    ]
    try:
        from simengine.fitting import PosteriorError
    except ImportError:  # the fit layer is optional at run time
        pass
    else:
        errors.append(PosteriorError)
    return tuple(errors)


def _one_line(exc: BaseException) -> str:
    """One line naming the key: the error's first line, plus its cause's (OmegaConf says why)."""

    def first(e: BaseException) -> str:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        if lines and "Available options" in str(e):  # a missing config group option: list them
            lines = [" ".join(lines)]
        text = lines[0] if lines else type(e).__name__
        return text.split(" Config search path:")[0].rstrip(".")

    from simengine.config.messages import from_omegaconf

    if not isinstance(exc, ConfigError):  # Hydra's and OmegaConf's words name internal classes
        better = from_omegaconf(exc)
        if better is not None:
            return first(better)
    text = first(exc)
    cause = exc.__cause__
    if cause is not None and str(cause).strip() and first(cause) not in text:  # once
        text = f"{text}: {first(cause)}"
    return text


def _job_overrides(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Every job's override list: the cartesian product of sweep values under ``-m``."""
    user = [o for o in overrides if not o.startswith("hydra.") and not o.startswith("hydra/")]
    if not multirun:
        return [user]
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(user)
    choices = []
    for o in parsed:
        key = o.get_key_element()
        if o.is_sweep_override():
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([o.input_line])
    return [list(c) for c in itertools.product(*choices)]


def _precheck(verb: str, overrides: list[str], multirun: bool, dirs: list[str]) -> None:
    """Compose, validate, load the data and check every job before Hydra writes anything."""
    from simengine.config.compose import compose_run
    from simengine.data import book_from_config
    from simengine.pipeline import check_run

    books: dict[tuple, object] = {}
    for job in _job_overrides(overrides, multirun):
        cfg, scenario = compose_run(job, dirs)
        data_key = (
            cfg.data.accounts,
            cfg.data.usage,
            cfg.data.use_cases,
            cfg.data.as_of,
            cfg.data.synthetic.n_accounts,
            cfg.data.synthetic.seed,
        )
        if cfg.fit.posterior not in (None, "none") and not Path(cfg.fit.posterior).is_file():
            raise UserError(f"config key 'fit.posterior' = {cfg.fit.posterior!r}: no such file")
        if data_key not in books:
            books[data_key] = book_from_config(cfg.data, need_usage=verb != "fit")
        if verb == "fit":  # a model the data cannot support: exit 2 before any output
            from simengine.fitting import resolve_models

            resolve_models(cfg.fit.models, books[data_key])
        if verb == "run":  # posterior gate, dead keys, months and prices, before any output
            with _console_log():  # a user's book without a posterior is fitted here: say so
                check_run(cfg, books[data_key], scenario)
        _check_backtest(verb, cfg, books[data_key])


@contextlib.contextmanager
def _console_log():
    """The lines of the fit a run makes of a user's book on stderr while the pre-check runs
    (Hydra's logging is not set up yet; the fit takes minutes and names its cached posterior)."""
    from simengine.pipeline import fit_log

    if logging.getLogger().handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    level = fit_log.level
    fit_log.addHandler(handler)
    fit_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        fit_log.removeHandler(handler)
        fit_log.setLevel(level)


def _check_backtest(verb: str, cfg, book) -> None:
    """``backtest.*`` acts in ``simengine backtest`` only; there, the book must hold the holdout."""
    from simengine.config import BacktestConfig

    if verb == "backtest" and cfg.sim.draws == "auto":
        raise UserError(
            "config key 'sim.draws' = 'auto': simengine backtest scores a fixed number of draws"
        )
    if verb == "backtest":  # a holdout the book cannot support: exit 2 before any output
        from simengine.backtest import check_holdout  # the backtest extra: only for this verb

        check_holdout(book, cfg.backtest.holdout_months)
        # The forecast's dead-key check composes the default config; do it now, before Hydra's
        # app holds the global Hydra instance (default_config is cached).
        from simengine.backtest import installed_base_config, split_book
        from simengine.config.compose import default_config
        from simengine.pipeline import check_run

        default_config(cfg.market.new_logos)
        # The forecast's own checks (dead keys, adjust.from_month inside the held-out months,
        # prices) on the cut book, before the fit: a refusal then writes nothing.
        split = split_book(book, cfg.backtest.holdout_months, cfg.market.unit_price)
        check_run(installed_base_config(cfg, cfg.fit.posterior, cfg.backtest.holdout_months),
                  split.book, fit_missing=False)  # fmt: skip
    elif cfg.backtest != BacktestConfig():
        raise UserError(
            f"config key 'backtest.holdout_months' = {cfg.backtest.holdout_months!r}: only "
            f"simengine backtest reads it (this is simengine {verb})"
        )


# Hydra flags that take a value (`--cfg job`, `-cn NAME`...).
_VALUE_FLAGS = {
    "--cfg",
    "-c",
    "--package",
    "-p",
    "--config-path",
    "-cp",
    "--config-name",
    "-cn",
    "--config-dir",
    "-cd",
    "--experimental-rerun",
    "--info",
    "-i",
}


def _split_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """Split Hydra flags (with their values) from ``key=value`` overrides."""
    flags, overrides = [], []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            flags.append(arg)
            nxt = args[i + 1] if i + 1 < len(args) else None
            if (
                arg in _VALUE_FLAGS
                and nxt is not None
                and "=" not in nxt
                and not nxt.startswith("-")
            ):
                flags.append(nxt)
                i += 1
        else:
            overrides.append(arg)
        i += 1
    return flags, overrides


def _take_scenario_dirs(args: list[str]) -> tuple[list[str], list[str]]:
    """Consume ``--scenarios DIR`` (repeatable): DIR's ``*.yaml`` become ``scenario=NAME`` choices."""
    rest, dirs = [], []
    it = iter(args)
    for arg in it:
        if arg == "--scenarios" or arg.startswith("--scenarios="):
            value = arg.split("=", 1)[1] if "=" in arg else next(it, None)
            if value is None:
                raise UserError("--scenarios needs a folder")
            folder = Path(value).expanduser().resolve()
            if not folder.is_dir():
                raise UserError(f"--scenarios {value!r}: no such directory")
            dirs.append(str(folder))
        else:
            rest.append(arg)
    return rest, dirs


def _report_args(args: list[str]) -> list[str]:
    """``simengine report`` takes ``hydra.run.dir=DIR`` as every verb does: ``--out
    DIR/report.html``.  Other ``hydra.*`` keys are refused in one line saying where it writes."""
    out = []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not (sep and key.lstrip("+~").startswith("hydra.")):
            out.append(arg)
        elif key == "hydra.run.dir" and value:
            out += ["--out", str(Path(value).expanduser() / "report.html")]
        else:
            raise UserError(
                f"{key}: report reads hydra.run.dir=DIR only (writes DIR/report.html); default "
                "PATH/report.html, or --out FILE"
            )
    if sum(a == "--out" or a.startswith("--out=") for a in out) > 1:
        raise UserError("report: hydra.run.dir and --out both name the output; give one")
    return out


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
def _sweep_clock(multirun: bool, overrides: list[str]):
    """Set :data:`SWEEP_PROGRESS_ENV` for the jobs of a sweep while it runs."""
    if not multirun:
        yield
        return
    jobs = len(_job_overrides(overrides, True))
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
    if sweep and config.sim.draws == "auto":  # a first block; the sweep's end draws on
        from simengine.auto_draws import first_block

        ds = first_block(config, _output_dir(), resolved=resolved)
    else:
        ds = simulate_config(config, resolved=resolved)
    paths = write_run_outputs(ds, _output_dir(), config.signals.top)
    console = Console(stderr=False)
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


_TASKS = {"run": _run_task, "fit": _fit_task, "backtest": _backtest_task}


def _guarded(task):
    def wrapped(cfg) -> None:
        try:
            task(cfg)
        except _user_errors() as exc:
            print(f"simengine: error: {_one_line(exc)}", file=sys.stderr)
            sys.exit(2)

    return wrapped


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``simengine`` console script and ``python -m simengine``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    verb, rest = argv[0], argv[1:]
    try:
        rest, extra_dirs = _take_scenario_dirs(rest)
        dirs = scenario_dirs(extra_dirs)
    except (UserError, ConfigError) as exc:
        print(f"simengine: error: {exc}", file=sys.stderr)
        return 2
    if verb not in VERBS:
        print(
            f"simengine: error: unknown verb {verb!r}; verbs: {', '.join(VERBS)}", file=sys.stderr
        )
        return 2
    if verb == "compare":
        from simengine.compare_cli import main as compare_main

        return compare_main(rest)
    if verb == "report":
        from simengine.report.build import main as report_main

        try:
            rest = _report_args(rest)
        except UserError as exc:
            print(f"simengine: error: {exc}", file=sys.stderr)
            return 2
        return report_main(rest)
    flags, overrides = _split_flags(rest)
    multirun = "-m" in flags or "--multirun" in flags
    informational = any(
        f in flags for f in ("--cfg", "-c", "--help", "-h", "--hydra-help", "--info", "-i")
    )

    logging.captureWarnings(True)
    warnings.filterwarnings("default", module="simengine")
    if not informational:
        try:
            _precheck(verb, overrides, multirun, extra_dirs)
        except _user_errors() as exc:
            print(f"simengine: error: {_one_line(exc)}", file=sys.stderr)
            return 2

    import hydra

    register_configs(dirs)
    overrides = open_segment_maps(overrides)
    from simengine.sweep import register_resolvers

    register_resolvers()
    if not any(o.startswith("hydra.job.name=") for o in overrides):
        overrides = [*overrides, f"hydra.job.name={verb}"]
    # Hydra's argparse takes flags first, then overrides (it does not intermix them).
    sys.argv = [f"simengine {verb}", *flags, *overrides]
    app = hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")(
        _guarded(_TASKS[verb])
    )
    with (
        _prechecked_sweep(multirun and not informational, overrides),
        _sweep_clock(multirun and not informational, overrides),
    ):
        app()
    return 0


#: Hydra keys a sweep may set without Hydra composing its jobs a second time (plain paths/names).
_PLAIN_HYDRA_KEYS = ("hydra.sweep.dir=", "hydra.job.name=", "hydra.run.dir=")


@contextlib.contextmanager
def _prechecked_sweep(prechecked: bool, overrides: list[str]):
    """Skip Hydra's second compose of every job of a sweep the pre-check composed already.

    Hydra's sweeper composes each job once to validate the batch and the launcher composes it again
    to run it (``Sweeper.validate_batch_is_legal``: ~0.15 CPU-s a job).  :func:`_precheck` has
    composed, validated and checked every job before Hydra starts, so the validation pass only
    repeats it.  Overrides of other ``hydra.*`` keys (a launcher's settings) are not pre-checked:
    Hydra then validates as usual.
    """
    from hydra.plugins.sweeper import Sweeper

    hydra_keys = [o for o in overrides if o.lstrip("+~").startswith(("hydra.", "hydra/"))]
    if not prechecked or any(not o.startswith(_PLAIN_HYDRA_KEYS) for o in hydra_keys):
        yield
        return
    validate = Sweeper.validate_batch_is_legal
    Sweeper.validate_batch_is_legal = lambda self, batch: None
    try:
        yield
    finally:
        Sweeper.validate_batch_is_legal = validate
