"""Atomic writes: a reader never sees half a file, and a failed write leaves nothing behind.

The finished file gets the mode the user's umask asks for (``0o666 & ~umask``, e.g. 0644), like
a file written with ``open``: the temporary file is created 0600, which would otherwise stick.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "umask_mode"]


def umask_mode() -> int:
    """The mode a new regular file gets under the process's umask (``0o666 & ~umask``)."""
    mask = os.umask(0)  # reading the umask means setting it; put it back at once
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The temporary file lives in the same folder (so the rename is atomic on one filesystem) and
    keeps ``path``'s suffix (so writers that go by suffix, like matplotlib, pick the right format).
    On any error it is removed and the error propagates.

    Examples
    --------
    >>> with atomic_path("out/forecast.nc") as tmp:  # doctest: +SKIP
    ...     ds.to_netcdf(tmp, engine="h5netcdf")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, umask_mode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
