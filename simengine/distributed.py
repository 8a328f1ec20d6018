"""One large run split by draws across Dask workers (``dask.distributed``), bitwise as one process.

The kernel keys every random stream by (seed, absolute draw, account, purpose), never by chunk or
worker, so draws ``a .. b-1`` computed on any worker are the same numbers the single-process run
computes for them.  :func:`simulate_distributed` runs :func:`simengine.pipeline.simulate_config`
with its kernel call replaced by :func:`run_kernel_distributed`: parameters, staffing and go-to-market
drivers are drawn once on the client (cheap, and keyed by draw), the kernel's draw chunks run on
the workers, and the client assembles the dataset exactly as one process does.

>>> from dask.distributed import Client, LocalCluster  # doctest: +SKIP
>>> with LocalCluster(n_workers=4) as cluster, Client(cluster) as client:  # doctest: +SKIP
...     ds = simulate_distributed(load_config(["sim.draws=20000"]), client)

Any Dask cluster works the same way (``dask-jobqueue`` on SLURM/PBS, ``dask-kubernetes``,
``Client("tcp://scheduler:8786")``); the workers need simengine installed.

Each worker calls :func:`simengine.engine.run_kernel` on its chunk with ``draw_start``.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import xarray as xr

__all__ = ["kernel_chunk", "run_kernel_distributed", "simulate_distributed"]

# Serialises kernel calls inside one worker process: the kernel is already parallel over draws,
# and numba's default (workqueue) threading layer aborts on concurrent parallel launches.
_KERNEL_LOCK = threading.Lock()


def kernel_chunk(state, params, capacity, draw_start: int, record_accounts=False, **kwargs):
    """Draws ``draw_start .. draw_start + len(params.seg_params) - 1`` of the kernel: ``Outputs``.

    ``params``/``capacity`` hold only this chunk's draws; ``draw_start`` is the absolute index of
    its first draw, which keys its random streams (:func:`simengine.engine.run_kernel`).
    """
    from simengine.engine import run_kernel

    records = []
    with _KERNEL_LOCK:
        out = run_kernel(
            state, params, capacity, draw_start=draw_start,
            account_sink=(lambda r: records.append(r.copy())) if record_accounts else None,
            **kwargs,
        )  # fmt: skip
    # The chunk's per-account record goes back whole; the client folds it in draw order.
    return out._replace(accounts=np.concatenate(records)) if records else out


def run_kernel_distributed(state, params, capacity=None, *, client, chunks=None, **kwargs):
    """:func:`simengine.engine.run_kernel`'s contract, the draws split into ``chunks`` Dask tasks.

    ``chunks`` defaults to twice the workers' threads (some slack for uneven workers).
    """
    from simengine.kernels.layout import Capacity, Outputs, Params, unlimited_capacity

    draws, horizon = params.month_params.shape[0], params.month_params.shape[2]
    if capacity is None:
        capacity = unlimited_capacity(draws, horizon)
    if chunks is None:
        chunks = 2 * max(1, sum(client.nthreads().values()))
    size = math.ceil(draws / max(1, min(chunks, draws)))
    bounds = [(a, min(a + size, draws)) for a in range(0, draws, size)]
    account_sink = kwargs.pop("account_sink", None)
    offset = kwargs.pop("draw_start", 0)  # a block of a longer run (sim.draws=auto)
    kwargs = {**kwargs, "progress": False, "record_accounts": account_sink is not None}
    state_f = client.scatter(state, broadcast=True)
    futures = [
        client.submit(
            kernel_chunk,
            state_f,
            Params(*(x[a:b] for x in params)),
            Capacity(*(x[a:b] for x in capacity)),
            offset + a,
            pure=False,
            **kwargs,
        )
        for a, b in bounds
    ]
    parts = []
    for future in futures:  # in draw order, one chunk's account record in memory at a time
        part = future.result()
        if account_sink is not None:
            account_sink(part.accounts)
        parts.append(part[:4])  # all but the per-account record
        future.release()
    return Outputs(*(np.concatenate(field, axis=0) for field in zip(*parts, strict=True)))


def simulate_distributed(cfg, client, chunks: int | None = None, book=None) -> xr.Dataset:
    """Run scenario ``cfg`` with the kernel's draws spread over ``client``'s workers.

    Returns the same dataset as ``simulate_config(cfg)``, bit for bit (only ``created_at`` may
    differ, unless ``SOURCE_DATE_EPOCH`` pins it).
    """
    from simengine.pipeline import simulate_config

    def kernel(state, params, capacity=None, **kwargs):
        return run_kernel_distributed(
            state, params, capacity, client=client, chunks=chunks, **kwargs
        )

    return simulate_config(cfg, book=book, kernel=kernel)
