"""The one jit policy of the package.

Every compiled function in :mod:`simengine.kernels` goes through :func:`jit`, so the choices below hold
everywhere (numba-stats keeps the same in its ``_util.py``):

- ``cache=True``: compiled machine code is cached next to the module, so a second process starts in
  well under a second instead of recompiling.
- ``error_model="numpy"``: division by zero gives inf/nan instead of raising, and numba can keep the
  loops free of error branches.
- ``fastmath=False``: results must be bitwise reproducible; fast-math lets LLVM reassociate sums,
  which is deterministic for one binary but not a promise we want to depend on.
- ``nogil=True``: kernels release the GIL so Python threads (a progress bar, a Dask worker) keep running.
- ``parallel`` only where asked for: the draw loop of the top-level kernel.  Parallelism is over draws
  and every draw writes its own slice of the output, so the thread count cannot change a result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba

_POLICY: dict[str, Any] = {"cache": True, "error_model": "numpy", "fastmath": False, "nogil": True}


def _key_cache_on_every_kernel_source() -> bool:
    """Make numba's disk cache of a function in this package's ``kernels`` folder stale when any
    file of that folder changes, not only its own.

    numba checks a cached function against its own source file, but the machine code of a
    caller includes its callees': editing ``passes.py`` alone left ``account.py``'s cached kernel
    running the old passes (a developer hazard: installs rewrite every file).  Two locators (the
    in-tree ``__pycache__`` and ``NUMBA_CACHE_DIR`` ones) answer for this folder's files with a
    hash of all of them.  numba's internal API: a numba that moved it keeps its own locators.
    """
    try:
        from numba.core import caching, config
    except ImportError:  # pragma: no cover - other numba versions
        return False
    folder = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    stamp = digest.digest()

    def ours(py_file: str) -> bool:
        try:
            return Path(py_file).resolve().parent == folder
        except OSError:  # pragma: no cover
            return False

    try:
        user, in_tree = caching.UserProvidedCacheLocator, caching.InTreeCacheLocator
        impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
        locators = impl._locator_classes
    except AttributeError:  # pragma: no cover - other numba versions
        return False

    class KernelsUserProvided(user):
        def get_source_stamp(self):
            return stamp

        @classmethod
        def from_function(cls, py_func, py_file):
            return super().from_function(py_func, py_file) if ours(py_file) else None

    class KernelsInTree(in_tree):
        def get_source_stamp(self):
            return stamp

        @classmethod
        def from_function(cls, py_func, py_file):
            if config.CACHE_DIR or not ours(py_file):
                return None  # NUMBA_CACHE_DIR set: KernelsUserProvided answers
            return super().from_function(py_func, py_file)

    if not any(getattr(c, "__name__", "") == "KernelsInTree" for c in locators):
        locators[:0] = [KernelsUserProvided, KernelsInTree]
    return True


_KERNEL_CACHE_KEYED = _key_cache_on_every_kernel_source()


def jit(fn: Callable | None = None, *, parallel: bool = False):
    """Compile ``fn`` with the package policy; usable as ``@jit`` or ``@jit(parallel=True)``."""
    options = dict(_POLICY, parallel=parallel)

    def wrap(f: Callable) -> Callable:
        return numba.njit(**options)(f)

    return wrap(fn) if fn is not None else wrap


def inline_jit(fn: Callable) -> Callable:
    """Compile ``fn`` with the package policy and ``inline="always"``: numba inlines it into every
    compiled caller at the IR level, so a tiny hot helper costs no call and its constants fold in.
    For the few helpers called once per account-month (the ziggurat's fast path)."""
    return numba.njit(inline="always", **_POLICY)(fn)


def _enable_noalias() -> bool:
    """numba's compiler has a ``noalias`` flag (parfors sets it for its gufuncs) that marks every
    pointer argument ``noalias``, but no decorator option maps to it: add the mapping once.  It is
    numba's internal API, so a numba that moved it gets plain :func:`jit` passes (the same
    results, unvectorised) instead of an import error."""
    try:
        from numba.core.cpu import CPUTargetOptions
        from numba.core.options import TargetOptions

        if not hasattr(CPUTargetOptions, "noalias"):
            CPUTargetOptions.noalias = TargetOptions.Mapping("noalias")
    except (ImportError, AttributeError, TypeError):  # pragma: no cover - other numba versions
        return False
    return True


_NOALIAS = _enable_noalias()


def pass_jit(fn: Callable) -> Callable:
    """Compile a pass over accounts (:mod:`simengine.kernels.passes`) with the package policy and
    its array arguments declared ``noalias``, so LLVM vectorises the loop without runtime overlap
    checks (which it gives up on past a few arrays).  The caller must pass arrays that do not
    overlap (distinct rows of one array are fine)."""
    if not _NOALIAS:  # pragma: no cover - other numba versions
        return numba.njit(**_POLICY)(fn)
    return numba.njit(noalias=True, **_POLICY)(fn)


def set_threads(threads: int) -> int:
    """Set numba's thread count (0 = every core) and return the count in use."""
    n = (
        numba.config.NUMBA_NUM_THREADS
        if threads <= 0
        else min(threads, numba.config.NUMBA_NUM_THREADS)
    )
    numba.set_num_threads(n)
    return n
