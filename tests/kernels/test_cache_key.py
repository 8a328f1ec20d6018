"""numba's disk cache of a kernel is keyed on every file of ``simengine/kernels``, not only the
kernel's own: the cached machine code of a caller includes its callees'."""

from __future__ import annotations

import hashlib
from pathlib import Path

import simengine.kernels as kernels
from simengine.kernels import _jit
from simengine.kernels.account import simulate_draws
from simengine.kernels.month_revenue import month_pass


def _folder_digest() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(Path(kernels.__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.digest()


def test_every_kernel_cache_is_stamped_with_the_whole_folder():
    assert _jit._KERNEL_CACHE_KEYED
    expected = _folder_digest()
    for fn in (simulate_draws, month_pass):
        locator = fn._cache._impl.locator
        assert type(locator).__name__ in {"KernelsInTree", "KernelsUserProvided"}
        # The stamp numba compares with the cache index: a change to any kernel file (here:
        # passes.py for the caller account.py) makes both caches stale.
        assert locator.get_source_stamp() == expected


def test_functions_outside_the_folder_keep_numba_s_own_locator(tmp_path):
    import numba

    source = tmp_path / "elsewhere.py"
    source.write_text("def f(x):\n    return x + 1\n")
    namespace: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    cached = numba.njit(cache=True)(namespace["f"])
    locator = cached._cache._impl.locator
    assert type(locator).__name__ not in {"KernelsInTree", "KernelsUserProvided"}
