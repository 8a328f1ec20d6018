"""``fit_book``: build the selected models into one PyMC model, sample it, attach provenance."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from simengine.bookstats.shapes import MONTHS_OF_YEAR
from simengine.config import FitConfig
from simengine.config.schema import MODEL_NAMES
from simengine.data import Book, book_hash, observation_window
from simengine.fitting.base import BookModel, SharedParameters
from simengine.fitting.churn import ChurnModel
from simengine.fitting.diagnostics import check_gate, longer_run_helps
from simengine.fitting.expansion import ExpansionModel
from simengine.fitting.sampling import MAX_RESTARTS, restart_seed, sample_model
from simengine.fitting.select import resolve_models
from simengine.fitting.usage import UsageModel

__all__ = ["MODELS", "build_joint_model", "fit_book", "kept_variables", "package_version"]

log = logging.getLogger(__name__)

#: A fit just outside the gate is sampled once more with this many times the draws.
LONGER_RUN_FACTOR = 2

#: Model name (as in ``fit.models``) -> class, in the build order of
#: :data:`~simengine.config.schema.MODEL_NAMES`.
MODELS: dict[str, type[BookModel]] = {
    name: {m.name: m for m in (UsageModel, ChurnModel, ExpansionModel)}[name]
    for name in MODEL_NAMES
}


def package_version() -> str:
    """Installed version of simengine, ``0+unknown`` when not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("simengine")
    except PackageNotFoundError:
        return "0+unknown"


def build_joint_model(
    book: Book,
    models: list[str],
    seed: int,
    model_configs: dict[str, dict[str, Any]] | None = None,
    priors: dict[str, Any] | None = None,
) -> tuple[pm.Model, dict[str, tuple[str, np.ndarray]]]:
    """One PyMC model holding the likelihoods of ``models`` on ``book``.

    Returns
    -------
    model : pymc.Model
    observed : dict
        ``{name: (dim, values)}`` small per-segment data summaries for ``observed_data``.
    """
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ValueError(f"fit.models: unknown model(s) {unknown}; known: {sorted(MODELS)}")
    segments = book.segments
    model = pm.Model(coords={"segment": list(segments), "month_of_year": MONTHS_OF_YEAR})
    params = SharedParameters(model, priors)
    observed: dict[str, tuple[str, np.ndarray]] = {}
    for name in MODELS:  # fixed order: the model (and its compiled code) does not depend on order
        if name not in models:
            continue
        builder = MODELS[name]((model_configs or {}).get(name))
        data = builder.prepare(book, seed)
        builder.add_to_model(params, data)
        observed |= builder.observed_summary(data, segments)
    return model, observed


def kept_variables(model: pm.Model) -> list[str]:
    """Free and deterministic variables that are scalars or per-segment (not per-account)."""
    keep = []
    for var in [*model.free_RVs, *model.deterministics]:
        dims = model.named_vars_to_dims.get(var.name, ())
        if set(dims) <= {"segment", "month_of_year", "ramp_month", "ramp_tenure"}:
            keep.append(var.name)
    return keep


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
    """Fit the models named in ``fit_cfg.models`` to ``book``.

    Parameters
    ----------
    book : Book
    fit_cfg : FitConfig
        ``models`` (empty: what the book supports, :func:`~simengine.fitting.resolve_models`),
        ``method`` (nuts | map | advi), ``draws``, ``tune``, ``chains``, ``target_accept``,
        ``max_usage_accounts``.
    seed : int
        Seeds sampling and any subsampling of accounts.
    config_yaml : str
        The resolved config, stored in the ``config`` attr.
    progress : bool
        Progress bar while sampling (terminal only).
    model_configs : dict, optional
        ``{model name: overrides of its default model config}``.
    priors : dict, optional
        Overrides of :data:`simengine.fitting.base.PRIORS` by name (prior-sensitivity checks).

    Returns
    -------
    xarray.DataTree
        Groups ``posterior`` (dims chain, draw[, segment]), ``sample_stats``, ``observed_data``;
        provenance attrs on the root and on ``posterior``.
    """
    configs = dict(model_configs or {})
    if fit_cfg.max_usage_accounts:
        configs["usage"] = configs.get("usage", {}) | {"max_accounts": fit_cfg.max_usage_accounts}
        configs["expansion"] = configs.get("expansion", {}) | {
            "max_accounts": fit_cfg.max_usage_accounts
        }
    models = resolve_models(list(fit_cfg.models), book)
    window = observation_window(book)
    log.info("%s", window.line())
    model, observed = build_joint_model(book, models, seed, configs, priors)
    kept = kept_variables(model)
    result = sample_model(model, fit_cfg, seed, kept, progress=progress)
    # A fit just outside the gate (R-hat a hair above it, ESS just short; no divergences, no
    # stuck chain) gets one run with twice the draws on the same compiled model before it is
    # called failed: what a careful user would do by hand.
    first_failures = check_gate(result.tree, fit_cfg) if fit_cfg.method == "nuts" else []
    if first_failures and longer_run_helps(result.tree, fit_cfg, result.restarts):
        first = result
        fit_cfg = replace(fit_cfg, draws=LONGER_RUN_FACTOR * fit_cfg.draws)
        log.warning(
            "the fit is just outside the gate (%s): sampling once more with %d draws a chain",
            "; ".join(first_failures),
            fit_cfg.draws,
        )
        result = sample_model(
            model,
            fit_cfg,
            restart_seed(seed, MAX_RESTARTS + 1),
            kept,
            progress=progress,
            compiled=first.compiled,
        )
        result.compile_seconds = first.compile_seconds
        result.compile_cache = first.compile_cache
        result.sampling_seconds += first.sampling_seconds
    else:
        first_failures = []
    log.info(
        "fit %s with %s: compile %.1f s, sampling %.1f s",
        ",".join(models),
        fit_cfg.method,
        result.compile_seconds,
        result.sampling_seconds,
    )
    observed_ds = xr.Dataset(
        {name: (dim, np.asarray(values)) for name, (dim, values) in observed.items()},
        coords={"segment": list(book.segments)},
    )
    observed_ds.attrs = {"as_of": int(book.as_of), **window.attrs()}
    tree = xr.DataTree.from_dict(
        {
            "posterior": result.tree["posterior"].to_dataset(),
            "sample_stats": result.tree["sample_stats"].to_dataset(),
            "observed_data": observed_ds,
        }
    )
    attrs = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "simengine_version": package_version(),
        "data_hash": book_hash(book),
        "data_source": json.dumps(book.source, sort_keys=True),
        "as_of": int(book.as_of),
        "config": config_yaml,
        "seed": int(seed),
        "method": fit_cfg.method,
        # Which models were fitted, and whether the book had a use-case table: without one the
        # simulation switches off the separate use-case process (growth is all in the drift).
        "models": ",".join(models),
        "has_use_cases": int(book.has_use_cases),
        **window.attrs(),
        "segments": ",".join(book.segments),
        "compile_seconds": float(result.compile_seconds),
        # hit: the compiled model came from the cross-process cache (fitting.compiled)
        "compile_cache": result.compile_cache,
        "sampling_seconds": float(result.sampling_seconds),
        "draws": int(fit_cfg.draws),
        "tune": int(fit_cfg.tune),
        "chains": int(fit_cfg.chains),
        "parameters": "fitted" if fit_cfg.method == "nuts" else f"approximate ({fit_cfg.method})",
        # NUTS runs abandoned because a chain got stuck (fitting.sampling.stuck_chains), and why.
        "sampler_restarts": len(result.restarts),
        "sampler_restart_reasons": json.dumps(result.restarts),
        # Why the first run was replaced by one with twice the draws ("" when it was not).
        "gate_longer_run": "; ".join(first_failures),
    }
    if "churn" in models:
        # The churn rules' parameters (decline threshold, ...): the simulation reads them here.
        attrs |= ChurnModel.rules(configs.get("churn")).to_attrs()
    if "usage" in models:
        # Which account-months are changes (the settle rule): the set-up reads it here.
        attrs |= UsageModel.rules(configs.get("usage")).to_attrs()
    tree.attrs = dict(attrs)
    # The gate's verdict travels with the file: a failing posterior is still written (to inspect)
    # but says so, and `simengine run` refuses it (fit.allow_bad=true overrides).
    failures = check_gate(tree, fit_cfg)
    attrs["gate"] = (
        "not applicable" if fit_cfg.method != "nuts" else "failed" if failures else "passed"
    )
    attrs["gate_failures"] = "; ".join(failures)
    tree.attrs = dict(attrs)
    tree["posterior"].attrs = tree["posterior"].attrs | attrs
    return tree
