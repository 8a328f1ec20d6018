"""Sampling, in one place: NUTS through nutpie, and the quick looks (MAP, ADVI).

Compilation and sampling are timed separately (nutpie compiles the model to numba first).  Chains
run in nutpie's threads, ``min(chains, cores)`` at a time.  Progress is shown on a terminal only.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import xarray as xr

if TYPE_CHECKING:
    from simengine.config import FitConfig

__all__ = [
    "ADVI_ITERATIONS",
    "NUTS_ADAPTATION",
    "SampleResult",
    "compile_nuts",
    "sample_model",
]

log = logging.getLogger(__name__)

#: Optimisation steps of mean-field ADVI (enough for these smooth models to settle; the loss
#: trace is kept in ``sample_stats.advi_loss``).
ADVI_ITERATIONS = 20_000


#: nutpie's mass-matrix adaptation.  "low_rank" adds the leading eigenvectors of the draws' and
#: gradients' covariance to the diagonal: ``ramp_start`` and ``ramp_months`` of a segment are
#: correlated about -0.95 a posteriori (both shape early-tenure growth), which a diagonal mass
#: matrix cannot undo.  On the 2,000-account book it lifted the smallest bulk ESS of the full fit
#: from ~420 (ramp_start, barely over the gate's 400) to ~1,000 and cut the leapfrog steps a draw.
NUTS_ADAPTATION = "low_rank"


class SampleResult:
    """What :func:`sample_model` returns: the tree and the two timings (seconds)."""

    def __init__(self, tree: xr.DataTree, compile_seconds: float, sampling_seconds: float):
        self.tree = tree
        self.compile_seconds = compile_seconds
        self.sampling_seconds = sampling_seconds


def _show_progress(progress: bool) -> bool:
    return bool(progress and sys.stderr.isatty())


def compile_nuts(model: pm.Model, var_names: list[str]):
    """nutpie's compiled form of ``model`` (reusable: :func:`sample_model` ``compiled=``)."""
    import nutpie

    return nutpie.compile_pymc_model(model, backend="numba", var_names=var_names)


def sample_model(
    model: pm.Model,
    fit_cfg: FitConfig,
    seed: int,
    var_names: list[str],
    progress: bool = True,
    compiled=None,
) -> SampleResult:
    """Sample ``model`` with ``fit_cfg.method``.

    Parameters
    ----------
    model : pymc.Model
    fit_cfg : FitConfig
        ``method`` (nuts | map | advi), ``draws``, ``tune``, ``chains``, ``target_accept``.
    seed : int
    var_names : list of str
        Variables to keep in the posterior (per-account latents are left out).
    progress : bool
        Show a progress bar when stderr is a terminal.
    compiled : optional
        A :func:`compile_nuts` result for this model, to sample several seeds on one compile.

    Returns
    -------
    SampleResult
        ``tree`` has ``posterior`` and ``sample_stats`` with dims (chain, draw[, segment]).
    """
    show = _show_progress(progress)
    if fit_cfg.method == "nuts":
        import nutpie

        t0 = time.perf_counter()
        if compiled is None:
            compiled = compile_nuts(model, var_names)
        t1 = time.perf_counter()
        log.info(
            "compiled the model in %.1f s; sampling %d chains x (%d tune + %d draws)",
            t1 - t0,
            fit_cfg.chains,
            fit_cfg.tune,
            fit_cfg.draws,
        )
        tree = nutpie.sample(
            compiled,
            draws=fit_cfg.draws,
            tune=fit_cfg.tune,
            chains=fit_cfg.chains,
            cores=min(fit_cfg.chains, os.cpu_count() or 1),
            seed=int(seed),
            save_warmup=False,
            progress_bar=show,
            target_accept=fit_cfg.target_accept,
            adaptation=NUTS_ADAPTATION,
        )
        t2 = time.perf_counter()
        log.info("sampled in %.1f s", t2 - t1)
        tree = xr.DataTree.from_dict(
            {
                "posterior": tree["posterior"].to_dataset(),
                "sample_stats": tree["sample_stats"].to_dataset(),
            }
        )
        return SampleResult(tree, t1 - t0, t2 - t1)
    if fit_cfg.method == "map":
        t0 = time.perf_counter()
        with model:
            found = pm.find_MAP(
                progressbar=show, random_seed=int(seed), return_inferencedata=True, jitter=False
            )
        t1 = time.perf_counter()
        found = found["posterior"].to_dataset()
        point = {name: found[name].to_numpy()[0, 0] for name in var_names}
        posterior = _point_dataset(model, [point], var_names)
        stats = xr.Dataset({"diverging": (("chain", "draw"), np.zeros((1, 1), dtype=bool))})
        return SampleResult(_tree(posterior, stats), 0.0, t1 - t0)
    if fit_cfg.method == "advi":
        t0 = time.perf_counter()
        with model:
            approx = pm.fit(
                n=ADVI_ITERATIONS, method="advi", random_seed=int(seed), progressbar=show
            )
        t1 = time.perf_counter()
        draws = approx.sample(fit_cfg.draws, random_seed=int(seed), return_inferencedata=True)
        posterior = draws["posterior"].to_dataset()[var_names]
        stats = xr.Dataset(
            {
                "diverging": (("chain", "draw"), np.zeros((1, fit_cfg.draws), dtype=bool)),
                "advi_loss": (("advi_step",), np.asarray(approx.hist, dtype=np.float64)),
            }
        )
        return SampleResult(_tree(posterior, stats), 0.0, t1 - t0)
    raise ValueError(f"fit.method must be one of nuts, map, advi; got {fit_cfg.method!r}")


def _tree(posterior: xr.Dataset, stats: xr.Dataset) -> xr.DataTree:
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats})


def _point_dataset(model: pm.Model, points: list[dict], var_names: list[str]) -> xr.Dataset:
    """Points (dicts by variable name) -> a posterior Dataset with chain=1, draw=len(points)."""
    data = {}
    for name in var_names:
        values = np.stack([np.asarray(p[name], dtype=np.float64) for p in points])[None]
        dims = ["chain", "draw", *model.named_vars_to_dims.get(name, ())]
        data[name] = (dims, values)
    coords = {"chain": [0], "draw": np.arange(len(points))}
    coords |= {k: list(v) for k, v in model.coords.items() if k == "segment"}
    return xr.Dataset(data, coords=coords)
