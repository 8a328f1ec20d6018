"""One large run split by draws across Dask workers (``dask.distributed``), bitwise as one process.

The kernel keys every random stream by (seed, absolute draw, account, purpose), never by chunk or
worker, so draws ``a .. b-1`` computed on any worker are the same numbers the single-process run
computes for them.  :func:`simulate_distributed` runs :func:`simengine.api.simulate_config` with its
kernel call replaced by :func:`run_kernel_distributed`: parameters, staffing and go-to-market
drivers are drawn once on the client (cheap, and keyed by draw), the kernel's draw chunks run on
the workers, and the client assembles the dataset exactly as one process does.

>>> from dask.distributed import Client, LocalCluster  # doctest: +SKIP
>>> with LocalCluster(n_workers=4) as cluster, Client(cluster) as client:  # doctest: +SKIP
...     ds = simulate_distributed(load_config(["sim.draws=20000"]), client)

Any Dask cluster works the same way (``dask-jobqueue`` on SLURM/PBS, ``dask-kubernetes``,
``Client("tcp://scheduler:8786")``); the workers need simengine installed.

The one place this module touches the kernel's signature is :func:`kernel_chunk`.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator

import numpy as np
import xarray as xr

__all__ = ["kernel_chunk", "run_kernel_distributed", "simulate_distributed"]

# Serialises kernel calls inside one worker process: the kernel is already parallel over draws,
# and numba's default (workqueue) threading layer aborts on concurrent parallel launches.
_KERNEL_LOCK = threading.Lock()
# simulate_config looks ``run_kernel`` up in simengine.engine at call time; swapping it is guarded.
_SWAP_LOCK = threading.Lock()


def kernel_chunk(
    state, seg_params, month_params, draw_start: int, *, seed, month_of_year0, cohort_months
):
    """Draws ``draw_start .. draw_start + len(seg_params) - 1`` of the kernel: ``(out, cohort)``.

    ``seg_params``/``month_params`` hold only this chunk's draws; ``draw_start`` is the absolute
    index of its first draw, which keys its random streams.
    """
    from simengine.kernels.account import simulate_draws
    from simengine.kernels.layout import OUTPUTS

    draws, n_seg, horizon = month_params.shape[0], month_params.shape[1], month_params.shape[2]
    out = np.zeros((draws, horizon, n_seg, len(OUTPUTS)))
    cohort = np.zeros((draws, horizon, cohort_months))
    with _KERNEL_LOCK:
        simulate_draws(
            np.uint64(seed), draw_start, seg_params, month_params, state.segment, state.tenure,
            state.log_usage, state.hist_revenue, state.commit, state.term_position,
            state.consumed, month_of_year0, out, cohort,
        )  # fmt: skip
    return out, cohort


def run_kernel_distributed(
    state, seg_params, month_params, *, seed, month_of_year0, cohort_months=0, client, chunks=None,
    **_ignored,
):  # fmt: skip
    """:func:`simengine.engine.run_kernel`'s contract, the draws split into ``chunks`` Dask tasks.

    ``chunks`` defaults to twice the workers' threads (some slack for uneven workers).
    """
    from simengine.engine import HISTORY_MONTHS, V_RETENTION_BASE

    draws = seg_params.shape[0]
    if chunks is None:
        chunks = 2 * max(1, sum(client.nthreads().values()))
    size = math.ceil(draws / max(1, min(chunks, draws)))
    bounds = [(a, min(a + size, draws)) for a in range(0, draws, size)]
    state_f = client.scatter(state, broadcast=True)
    futures = [
        client.submit(
            kernel_chunk,
            state_f,
            seg_params[a:b],
            month_params[a:b],
            a,
            seed=seed,
            month_of_year0=month_of_year0,
            cohort_months=cohort_months,
            pure=False,
        )  # fmt: skip
        for a, b in bounds
    ]
    parts = client.gather(futures)
    out = np.concatenate([p[0] for p in parts], axis=0)
    cohort = np.concatenate([p[1] for p in parts], axis=0)
    # As run_kernel: churned-before-as_of accounts stay in the NRR/GRR base for 12 months.
    k = min(HISTORY_MONTHS, out.shape[1])
    out[:, :k, :, V_RETENTION_BASE] += state.churned_base[None, :k, :]
    return out, cohort


@contextlib.contextmanager
def _kernel(client, chunks) -> Iterator[None]:
    import simengine.engine as engine

    with _SWAP_LOCK:
        original = engine.run_kernel

        def distributed(state, seg_params, month_params, **kwargs):
            return run_kernel_distributed(
                state, seg_params, month_params, client=client, chunks=chunks, **kwargs
            )

        engine.run_kernel = distributed
        try:
            yield
        finally:
            engine.run_kernel = original


def simulate_distributed(cfg, client, chunks: int | None = None, book=None) -> xr.Dataset:
    """Run scenario ``cfg`` with the kernel's draws spread over ``client``'s workers.

    Returns the same dataset as ``simulate_config(cfg)``, bit for bit (only ``created_at`` may
    differ, unless ``SOURCE_DATE_EPOCH`` pins it).
    """
    from simengine.api import simulate_config

    with _kernel(client, chunks):
        return simulate_config(cfg, book=book)
