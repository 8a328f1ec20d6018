"""The ``simengine`` pre-check: every job composed, validated and checked before Hydra writes.

Hydra creates a run folder before the task runs; :func:`precheck` runs first, so bad input (a
config key, a data file, a posterior, a holdout the book cannot hold) exits with code 2 and one line
(:func:`one_line`) naming the file, field, row or config key, and no files written.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
from pathlib import Path

from simengine.config import ConfigError

__all__ = ["UserError", "job_overrides", "one_line", "precheck", "user_errors"]


class UserError(Exception):
    """Bad input or config: reported in one line, exit code 2."""


def user_errors() -> tuple[type[BaseException], ...]:
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


def one_line(exc: BaseException) -> str:
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


def job_overrides(overrides: list[str], multirun: bool) -> list[list[str]]:
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


def precheck(verb: str, overrides: list[str], multirun: bool, dirs: list[str]) -> None:
    """Compose, validate, load the data and check every job before Hydra writes anything."""
    from simengine.config.compose import compose_run
    from simengine.data import book_from_config
    from simengine.pipeline import check_run

    books: dict[tuple, object] = {}
    for job in job_overrides(overrides, multirun):
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
