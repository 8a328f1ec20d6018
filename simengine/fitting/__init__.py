"""Bayesian fitting with PyMC: churn, usage and expansion models, and their posterior on disk.

Importing this package does not import PyMC (it costs seconds): :func:`fit_book` and
:func:`build_default_posterior` import it when called; loading, checking and drawing from a saved
posterior need only xarray (and arviz-stats for the diagnostics).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simengine.fitting.default import DEFAULT_POSTERIOR, build_default_posterior
from simengine.fitting.diagnostics import check_gate, diagnostics_table, write_diagnostics
from simengine.fitting.draws import PARAMETER_NAMES, posterior_draws
from simengine.fitting.io import PosteriorError, load_posterior, save_posterior
from simengine.fitting.select import resolve_models, supported_models

if TYPE_CHECKING:
    import xarray as xr

    from simengine.config import FitConfig
    from simengine.data import Book

__all__ = [
    "DEFAULT_POSTERIOR",
    "PARAMETER_NAMES",
    "PosteriorError",
    "build_default_posterior",
    "check_gate",
    "diagnostics_table",
    "fit_book",
    "fit_to_folder",
    "load_posterior",
    "posterior_draws",
    "resolve_models",
    "save_posterior",
    "supported_models",
    "write_diagnostics",
]


def fit_book(
    book: Book,
    fit_cfg: FitConfig,
    seed: int,
    *,
    config_yaml: str = "",
    progress: bool = True,
    model_configs: dict[str, dict[str, Any]] | None = None,
    priors: dict[str, Any] | None = None,
) -> xr.DataTree:
    """Fit the models in ``fit_cfg.models`` to ``book``; see :func:`simengine.fitting.core.fit_book`."""
    from simengine.fitting.core import fit_book as _fit_book

    return _fit_book(
        book,
        fit_cfg,
        seed,
        config_yaml=config_yaml,
        progress=progress,
        model_configs=model_configs,
        priors=priors,
    )


def fit_to_folder(cfg, book: Book, out_dir) -> xr.DataTree:
    """Fit ``book`` with a run config's ``fit`` settings and ``seed``, and write
    ``diagnostics.csv`` and ``posterior.nc`` into ``out_dir`` (created): what ``simengine fit``,
    a backtest's fit and ``run``'s own fit of a user's book all do."""
    from pathlib import Path

    from simengine.config import config_yaml

    tree = fit_book(
        book, cfg.fit, cfg.seed, config_yaml=config_yaml(cfg), progress=cfg.sim.progress
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_diagnostics(tree, out_dir / "diagnostics.csv")
    save_posterior(tree, out_dir / "posterior.nc")
    return tree
