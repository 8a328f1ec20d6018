"""Sampling, in one place: NUTS through nutpie, and the quick looks (MAP, ADVI).

Compilation and sampling are timed separately (nutpie compiles the model to numba first).  Chains
run in nutpie's threads, ``min(chains, cores)`` at a time.  Progress is shown on a terminal only.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import xarray as xr

if TYPE_CHECKING:
    from simengine.config import FitConfig

__all__ = [
    "ADVI_ITERATIONS",
    "MAX_RESTARTS",
    "NUTS_ADAPTATION",
    "STUCK_ADVICE",
    "SampleResult",
    "StuckSamplerError",
    "compile_nuts",
    "restart_seed",
    "sample_model",
    "stuck_chains",
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
    """What :func:`sample_model` returns: the tree, the two timings (seconds), the restarts."""

    def __init__(
        self,
        tree: xr.DataTree,
        compile_seconds: float,
        sampling_seconds: float,
        restarts: list[str] | None = None,
        compiled=None,
        compile_cache: str = "none",
    ):
        self.tree = tree
        #: ``hit`` (the compiled model came from the cross-process cache: nothing compiled),
        #: ``miss`` (compiled and saved), ``off`` (compiled, not saved) or ``none`` (no compile:
        #: a compiled model passed in, or MAP / ADVI).
        self.compile_cache = compile_cache
        self.compile_seconds = compile_seconds
        self.sampling_seconds = sampling_seconds
        #: Why each abandoned NUTS run was abandoned (one entry per restart).
        self.restarts = list(restarts or [])
        #: The compiled NUTS model (None for MAP/ADVI), to sample again without compiling.
        self.compiled = compiled


#: A chain is *stuck* when its step size has collapsed next to another chain's: below this
#: fraction of the largest step size among the chains that have finished tuning.  Healthy chains of
#: one posterior tune to step sizes within a factor ~3 of each other; a chain caught in a
#: numerically broken corner (issue 22: ``usage_decline_hazard_ratio`` ~ 1e18, step size ~1e-7,
#: 1,023 leapfrog steps every draw) sits orders of magnitude below.
STUCK_STEP_RATIO = 0.01

#: With no tuned chain to compare against (one chain, or all of them stuck), a chain is stuck when
#: its step size is below this after :data:`STUCK_MIN_DRAWS` draws: a posterior on the unit scale
#: nutpie adapts to needs steps of ~0.05-1; 1e-4 means ~10,000 leapfrog steps to cross it once.
STUCK_STEP_SIZE = 1e-4

#: Draws a chain must have made before its step size is judged (the first draws of warm-up search
#: for a step size and are small on purpose).
STUCK_MIN_DRAWS = 30

#: Fresh starts tried after the first: each with a new sampling seed (new jittered initial points).
MAX_RESTARTS = 2

#: Seconds between two looks at the chains' progress.
WATCH_SECONDS = 1.0


def stuck_chains(step_size: np.ndarray, draws: np.ndarray, tuned: np.ndarray) -> list[int]:
    """Chains whose step size has collapsed (see :data:`STUCK_STEP_RATIO`).

    Parameters
    ----------
    step_size : numpy.ndarray, shape (chain,)
        Each chain's current step size.
    draws : numpy.ndarray, shape (chain,)
        Draws (warm-up included) each chain has made.
    tuned : numpy.ndarray of bool, shape (chain,)
        Whether each chain has finished warm-up.

    Returns
    -------
    list of int
        Indices of the stuck chains (empty: none).
    """
    step_size = np.asarray(step_size, dtype=np.float64)
    judged = np.asarray(draws) >= STUCK_MIN_DRAWS
    reference = step_size[np.asarray(tuned, dtype=bool) & np.isfinite(step_size)]
    floor = STUCK_STEP_SIZE
    if reference.size:
        floor = max(floor, STUCK_STEP_RATIO * float(reference.max()))
    bad = judged & ~(step_size >= floor)  # NaN step sizes count as stuck
    return [int(i) for i in np.flatnonzero(bad)]


class _Watch:
    """Latest per-chain progress reported by nutpie (the callback runs on nutpie's thread)."""

    def __init__(self) -> None:
        self.progress: list = []

    def __call__(self, progress) -> None:
        self.progress = list(progress)

    def stuck(self) -> tuple[list[int], str]:
        progress = [p for p in self.progress if p.started]
        if not progress:
            return [], ""
        step = np.array([p.step_size for p in progress], dtype=np.float64)
        draws = np.array([p.finished_draws for p in progress])
        tuned = np.array([not p.tuning for p in progress])
        bad = stuck_chains(step, draws, tuned)
        if not bad:
            return [], ""
        why = ", ".join(f"chain {i}: step size {step[i]:.2g} after {draws[i]} draws" for i in bad)
        ref = step[tuned]
        if ref.size:
            why += f" (tuned chains: {ref.max():.2g})"
        return bad, why


def _finished(sampler) -> bool:
    """Whether nutpie's background sampler is done (its lock may be busy: then not yet)."""
    try:
        return bool(sampler.is_finished)
    except TimeoutError:
        return False


def _run_nuts(compiled, fit_cfg: FitConfig, seed: int, show: bool, last: bool):
    """One NUTS run, watched: ``(tree, "")``, or ``(tree or None, why)`` when a chain got stuck.

    A stuck run is cancelled; on the ``last`` attempt it is aborted instead and its draws so far
    are returned (None when it was still warming up: nothing to inspect).
    """
    import nutpie

    watch = _Watch()
    sampler = nutpie.sample(
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
        blocking=False,
        progress_callback=watch,
        progress_rate=int(WATCH_SECONDS * 1000),
    )
    while not _finished(sampler):
        time.sleep(WATCH_SECONDS)
        bad, why = watch.stuck()
        if bad:
            if not last:
                sampler.cancel()
                return None, why
            with warnings.catch_warnings():
                # arviz-base warns when an aborted run has fewer draws than chains
                warnings.simplefilter("ignore", UserWarning)
                tree = sampler.abort()
            if tree is None or not tree["posterior"].sizes.get("draw", 0):
                return None, why
            return tree, why
    tree = sampler.wait()
    # A last look at the finished chains (a run shorter than one look is judged here).
    stats = tree["sample_stats"].to_dataset()
    if "step_size" in stats and stats.sizes.get("draw", 0):
        final = stats["step_size"].isel(draw=-1).to_numpy()
        draws = np.full(final.shape, fit_cfg.tune + fit_cfg.draws)
        bad = stuck_chains(final, draws, np.ones(final.shape, dtype=bool))
        if bad:
            why = ", ".join(f"chain {i}: step size {final[i]:.2g}" for i in bad)
            return (tree if last else None), f"{why} (largest: {np.nanmax(final):.2g})"
    return tree, ""


class StuckSamplerError(RuntimeError):
    """Every NUTS run had a stuck chain and the last one had no draws yet to keep."""

    def __init__(self, reasons: list[str]):
        self.reasons = list(reasons)
        super().__init__(
            f"NUTS got stuck on {len(reasons)} fresh start(s) ({reasons[-1]}); " + STUCK_ADVICE
        )


#: What to try when chains keep getting stuck or the gate fails (printed with the failure).
STUCK_ADVICE = (
    "try: another seed (seed=N), a longer warm-up (fit.tune=2000), smaller steps "
    "(fit.target_accept=0.99), fewer models (fit.models=[churn,usage]) to find the part that "
    "misbehaves, and check the posterior's extreme parameters in diagnostics.csv"
)


def restart_seed(seed: int, attempt: int) -> int:
    """The sampling seed of restart ``attempt`` (0: ``seed`` itself), derived by SeedSequence."""
    if attempt == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), attempt]).generate_state(1)[0])


def _show_progress(progress: bool) -> bool:
    return bool(progress and sys.stderr.isatty())


def compile_nuts(model: pm.Model, var_names: list[str]):
    """nutpie's compiled form of ``model`` (reusable: :func:`sample_model` ``compiled=``).

    nutpie's numba backend through :func:`simengine.fitting.compiled.compile_model`: loaded
    from the cross-process cache when the same model (same book, same settings) was compiled
    before.
    """
    from simengine.fitting.compiled import compile_model

    return compile_model(model, var_names)[0]


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
        from simengine.fitting.compiled import compile_model

        t0 = time.perf_counter()
        cache = "none"
        if compiled is None:
            compiled, cache = compile_model(model, var_names)
        t1 = time.perf_counter()
        log.info(
            "compiled the model in %.1f s (compile cache: %s); sampling %d chains x "
            "(%d tune + %d draws)",
            t1 - t0,
            cache,
            fit_cfg.chains,
            fit_cfg.tune,
            fit_cfg.draws,
        )
        restarts: list[str] = []
        for attempt in range(MAX_RESTARTS + 1):
            last = attempt == MAX_RESTARTS
            tree, why = _run_nuts(compiled, fit_cfg, restart_seed(seed, attempt), show, last)
            if not why:
                break
            restarts.append(why)
            log.warning(
                "a chain got stuck (%s); %s",
                why,
                "restarting every chain from fresh jittered starts with a new seed "
                f"(restart {attempt + 1} of {MAX_RESTARTS})"
                if not last
                else "no restarts left: keeping the draws made so far for inspection",
            )
        if tree is None:
            raise StuckSamplerError(restarts)
        t2 = time.perf_counter()
        log.info("sampled in %.1f s", t2 - t1)
        tree = xr.DataTree.from_dict(
            {
                "posterior": tree["posterior"].to_dataset(),
                "sample_stats": tree["sample_stats"].to_dataset(),
            }
        )
        return SampleResult(tree, t1 - t0, t2 - t1, restarts, compiled, cache)
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
