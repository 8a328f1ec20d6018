"""The Python entry points: compose the CLI's configs, run a scenario or a fit, write outputs.

``simulate(overrides)`` and ``fit(overrides)`` compose exactly the configs ``simengine run`` and
``simengine fit`` compose, so a notebook and a shell give the same numbers for the same overrides.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import xarray as xr
from omegaconf import DictConfig

from simengine import __version__
from simengine.config import (
    CONFIG_DIR,
    Config,
    ConfigError,
    config_hash,
    config_yaml,
    register_configs,
    to_config,
)
from simengine.kernels.layout import V_ACTIVE, Params

log = logging.getLogger("simengine")

__all__ = [
    "compose",
    "fit",
    "load_config",
    "run_fit",
    "simulate",
    "simulate_config",
    "write_run_outputs",
]


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose the Hydra config tree with ``overrides``, as the CLI does (no run folder)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


def load_config(overrides: Sequence[str] = ()) -> Config:
    """Compose and validate: the plain :class:`Config` a run uses."""
    return to_config(compose(overrides))


def load_checked_posterior(cfg: Config, book):
    """The posterior a run of ``cfg`` on ``book`` uses, checked: ``(tree, path, embedded, problems)``.

    ``fit.posterior`` must match the book's data hash and pass the diagnostics gate (unless
    ``fit.allow_bad``); otherwise :class:`PosteriorError` / :class:`ConfigError` says why in one
    line.  Without ``fit.posterior`` the embedded default book uses the shipped posterior; any
    other book, or another synthetic book, has none (``tree`` is None).
    """
    from simengine.data import book_hash
    from simengine.fitting.default import DEFAULT_POSTERIOR

    path = cfg.fit.posterior
    embedded = False
    if path is None and cfg.data.accounts is None and DEFAULT_POSTERIOR.exists():
        path, embedded = str(DEFAULT_POSTERIOR), True
    if path is None:
        return None, None, False, []

    from simengine.fitting import PosteriorError, check_gate, load_posterior

    try:
        tree = load_posterior(path, expected_hash=book_hash(book))
    except PosteriorError:
        if not embedded:
            raise
        # The embedded posterior belongs to the default synthetic book; another synthetic book
        # (different size or seed) is simulated from assumptions instead.
        log.info("the embedded posterior belongs to the default synthetic book; using assumptions")
        return None, None, False, []
    problems = check_gate(tree, cfg.fit)
    if problems and not cfg.fit.allow_bad:
        raise ConfigError(
            f"config key 'fit.posterior' = {path!r}: posterior fails the diagnostics gate "
            f"({'; '.join(problems)}); refit, or pass fit.allow_bad=true to use it anyway"
        )
    return tree, path, embedded, problems


def _posterior_for(cfg: Config, book, segments: tuple[str, ...]):
    """Joint posterior draws for the run, or None; plus provenance attrs."""
    from simengine.fitting import posterior_draws

    tree, path, embedded, problems = load_checked_posterior(cfg, book)
    if tree is None:
        return None, (), {"parameters": "assumptions (config defaults, not fitted)"}
    post_segments = (
        tuple(str(s) for s in tree["posterior"]["segment"].values)
        if "segment" in tree["posterior"].coords
        else ()
    )
    present = [s for s in segments if s in post_segments]
    draws = posterior_draws(tree, cfg.sim.draws, cfg.seed, present)
    attrs = {
        "parameters": "fitted posterior" + (" (embedded default)" if embedded else ""),
        "posterior": str(path),
        "posterior_data_hash": str(tree.attrs.get("data_hash", "")),
        "posterior_created_at": str(tree.attrs.get("created_at", "")),
        "posterior_method": str(tree.attrs.get("method", "")),
    }
    if problems:
        attrs["posterior_gate"] = "; ".join(problems)
    return draws, tuple(present), attrs


def simulate_config(cfg: Config, book=None) -> xr.Dataset:
    """Run the scenario ``cfg`` (already validated) and return the forecast dataset."""
    from simengine.accounts_forecast import AccountForecast
    from simengine.data import book_from_config, book_hash, format_month
    from simengine.engine import book_state, month_of_year, month_starts, run_kernel
    from simengine.params import build_parameters
    from simengine.results import make_dataset

    if book is None:
        book = book_from_config(cfg.data, need_usage=True)
    segments = tuple(book.segments)
    posterior, post_segments, fit_attrs = _posterior_for(cfg, book, segments)
    params = build_parameters(cfg, segments, posterior, post_segments)
    for note in params.notes:
        warnings.warn(note, stacklevel=2)
    prices = {s: cfg.market.unit_price.get(s, cfg.market.unit_price["default"]) for s in segments}
    account_price = book.accounts.set_index("account_id")["segment"].map(prices)
    state = book_state(book, segments, account_price)
    staffing = drivers = None
    if cfg.market.new_logos == "capacity":
        from simengine.gtm import apply_drivers, simulate_plan

        staffing = simulate_plan(cfg.staffing, cfg.sim.draws, cfg.sim.horizon_months, cfg.seed)
        drivers = apply_drivers(cfg, params, staffing, book)
    first = book.as_of + 1
    accounts = AccountForecast(book, state, cfg.sim.draws)
    out, cohort, coverage, _ = run_kernel(
        state,
        Params(params.seg_params, params.month_params),
        drivers.capacity if drivers is not None else None,
        seed=cfg.seed,
        month_of_year0=month_of_year(first),
        cohort_months=cfg.sim.cohort_months,
        threads=cfg.sim.threads,
        chunk_draws=cfg.sim.chunk_draws,
        progress=cfg.sim.progress,
        account_sink=accounts.add,
    )
    attrs = {
        "seed": cfg.seed,
        "config": config_yaml(cfg),
        "config_hash": config_hash(cfg),
        "simengine_version": __version__,
        "data_hash": book_hash(book),
        "data_source": "; ".join(f"{k}={v}" for k, v in book.source.items()),
        "as_of": format_month(book.as_of),
        "account_months": int(out[..., V_ACTIVE].sum()),
        "existing_accounts": state.n_accounts,
        "fitted_parameters": ", ".join(params.fitted) or "none",
        "default_segments": ", ".join(params.default_segments),
        **fit_attrs,
    }
    if params.notes:
        attrs["notes"] = " | ".join(params.notes)
    ds = make_dataset(
        out,
        cohort,
        months=month_starts(first, cfg.sim.horizon_months),
        segments=segments,
        attrs=attrs,
    )
    ds = ds.merge(accounts.to_dataset(), combine_attrs="override")
    if staffing is not None:
        from simengine.gtm import costs
        from simengine.results import add_gtm

        total = ds.sum("segment")
        cost = costs(
            cfg.comp, cfg.staffing, staffing, total["bookings"].values,
            total["new_logo_revenue"].values, total["existing_expansion_revenue"].values,
        )  # fmt: skip
        ds = add_gtm(ds, staffing, drivers, cost, coverage)
        ds.attrs.update(staffing=cfg.staffing.name, comp=cfg.comp.plan)
    return ds


def simulate(overrides: Sequence[str] = ()) -> xr.Dataset:
    """Simulate the scenario the overrides select and return the forecast ``xarray.Dataset``.

    Examples
    --------
    >>> ds = simengine.simulate(["sim.draws=200", "sim.horizon_months=24"])  # doctest: +SKIP
    >>> ds["revenue"].sum("segment").quantile([0.1, 0.5, 0.9], "draw")  # doctest: +SKIP
    """
    return simulate_config(load_config(overrides))


def write_run_outputs(ds: xr.Dataset, out_dir: str | Path) -> dict[str, Path]:
    """Write ``forecast.nc``, ``summary.csv``, ``fan_chart.png``, ``accounts_forecast.csv`` (and
    ``.parquet``) and ``signals.csv`` into ``out_dir`` (each atomic)."""
    from simengine.report import fan_chart, summary_table
    from simengine.results import write_atomic_text, write_netcdf

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summary_table(ds)
    paths = {
        "forecast": write_netcdf(ds, out_dir / "forecast.nc"),
        "summary": write_atomic_text(
            summary.to_csv(index=False, float_format="%.6g"), out_dir / "summary.csv"
        ),
    }
    fan_chart(ds, out_dir / "fan_chart.png")
    paths["fan_chart"] = out_dir / "fan_chart.png"
    from simengine.accounts_forecast import write_account_outputs

    paths |= write_account_outputs(ds, out_dir)
    return paths


def run_fit(cfg: Config, out_dir: str | Path | None = None):
    """Fit the configured models to the configured book; write outputs when ``out_dir`` is given."""
    from simengine.data import book_from_config
    from simengine.fitting import fit_book, save_posterior, write_diagnostics

    book = book_from_config(cfg.data)
    tree = fit_book(
        book, cfg.fit, cfg.seed, config_yaml=config_yaml(cfg), progress=cfg.sim.progress
    )
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_diagnostics(tree, out_dir / "diagnostics.csv")
        save_posterior(tree, out_dir / "posterior.nc")
    return tree


def fit(overrides: Sequence[str] = ()):
    """Fit the PyMC models the overrides select; return the posterior ``xarray.DataTree``."""
    return run_fit(load_config(overrides))
