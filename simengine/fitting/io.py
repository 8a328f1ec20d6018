"""Posterior files: atomic save, checked load.  No PyMC import (``simengine run`` uses this)."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from simengine.atomic import atomic_path

__all__ = ["PosteriorError", "load_posterior", "save_posterior"]


class PosteriorError(ValueError):
    """A posterior file is missing, unreadable, incomplete or fitted to other data (one line)."""


def save_posterior(tree: xr.DataTree, path: str | os.PathLike[str]) -> Path:
    """Write ``tree`` to ``path`` (netCDF4 via h5netcdf) atomically.

    The file is written under a temporary name in the same folder and renamed over ``path``, so a
    reader never sees half a file and a failed write leaves any old file in place.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    with atomic_path(path) as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def load_posterior(path: str | os.PathLike[str], expected_hash: str | None = None) -> xr.DataTree:
    """Open a posterior written by :func:`save_posterior` (or any ArviZ DataTree netCDF).

    Parameters
    ----------
    path : str or path-like
    expected_hash : str, optional
        ``book_hash`` of the data about to be simulated; refused if the file was fitted to other
        data.

    Returns
    -------
    xarray.DataTree
        Loaded into memory (the file is closed).

    Raises
    ------
    PosteriorError
        Missing or unreadable file, no ``posterior`` group, or a data-hash mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise PosteriorError(f"{path}: posterior file not found")
    try:
        with xr.open_datatree(path, engine="h5netcdf") as opened:
            tree = opened.load()
    except Exception as err:  # noqa: BLE001 - any reader failure is "unreadable"
        raise PosteriorError(
            f"{path}: cannot read posterior file: {type(err).__name__}: "
            f"{' '.join(str(err).split())}"
        ) from None
    if "posterior" not in tree.children or not tree["posterior"].data_vars:
        raise PosteriorError(f"{path}: no 'posterior' group with variables in the file")
    if expected_hash is not None:
        found = tree.attrs.get("data_hash", tree["posterior"].attrs.get("data_hash"))
        if found != expected_hash:
            raise PosteriorError(
                f"{path.name} was fitted to data with hash {found}, but the data "
                f"has hash {expected_hash}"
            )
    return tree
