"""The ``simengine`` command: one Hydra app per verb.

``simengine VERB [overrides] [hydra flags]``.  Before Hydra creates a run folder, the command composes
the config for every job (every combination of a ``-m`` sweep), validates it and loads the data, so
bad input exits with code 2, one line on stderr naming the file/field/row or config key, and no
files written.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from pathlib import Path

from simengine.cli_jobs import TASKS, sweep_clock
from simengine.cli_precheck import UserError, one_line, precheck, user_errors
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


def _guarded(task):
    def wrapped(cfg) -> None:
        try:
            task(cfg)
        except user_errors() as exc:
            print(f"simengine: error: {one_line(exc)}", file=sys.stderr)
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
            precheck(verb, overrides, multirun, extra_dirs)
        except user_errors() as exc:
            print(f"simengine: error: {one_line(exc)}", file=sys.stderr)
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
        _guarded(TASKS[verb])
    )
    with (
        _prechecked_sweep(multirun and not informational, overrides),
        sweep_clock(multirun and not informational, overrides),
    ):
        app()
    return 0


#: Hydra keys a sweep may set without Hydra composing its jobs a second time (plain paths/names).
_PLAIN_HYDRA_KEYS = ("hydra.sweep.dir=", "hydra.job.name=", "hydra.run.dir=")


@contextlib.contextmanager
def _prechecked_sweep(prechecked: bool, overrides: list[str]):
    """Skip Hydra's second compose of every job of a sweep the pre-check composed already.

    Hydra's sweeper composes each job once to validate the batch and the launcher composes it again
    to run it (``Sweeper.validate_batch_is_legal``: ~0.15 CPU-s a job).  :func:`precheck` has
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
