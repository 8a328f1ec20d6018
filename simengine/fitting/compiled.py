"""The compiled model, cached across processes: a refit of the same book does not compile.

nutpie samples two C callbacks: the log density with its gradient, and the map from the
sampler's unconstrained point to the kept variables.  Building them runs PyTensor's graph
rewrites, numba's code generation and LLVM: 20-40 s on 2 cores for the full model, minutes under
load.  Here they are built as nutpie builds them (its ``_make_functions``: the same rewritten
graphs, the book's data folded in as constants, so the same machine code and the same draws) and
saved with **numba's own on-disk cache** (``numba.cfunc(..., cache=True)``), beside a small JSON
of what the sampler needs with them (variable names and shapes).  A later process that builds
the same model computes the same key and loads the two callbacks: no rewriting, no code
generation, no LLVM.

*Key*: SHA-256 of the graphs nutpie compiles (every operation with its properties, every
constant by its bytes, every shared input by its value, the free variables' names and shapes,
the kept variables), the callback source below, the PyTensor settings that change the compiled
code, and the versions of Python, PyTensor, PyMC, nutpie, numba, llvmlite and numpy and numba's
target machine (:func:`model_key`).  The data are in the code, so the data are in the key: the
same book with the same model settings hits (a refit with another seed, the longer run after a
fit just outside the gate, ``simengine run`` refitting, a test suite fitting one book twice);
another book, or another cut-off of the same book, misses and compiles as before.

*Location*: ``$SIMENGINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/simengine``, else
``~/.cache/simengine``; the entries are in ``models/``: per key, numba's index and object code
(``*.nbi``, ``*.nbc``: Python pickles of the compiled machine code, ~5-10 MB a model, holding
the book's data as constants) and ``<key>.json``.  Only files named by the key just computed are
ever read, and pickles run code when loaded: the folder is the user's own machine cache, never a
shared or downloaded one.  Deleting the folder clears it; ``SIMENGINE_COMPILE_CACHE=0`` turns it
off.  PyTensor's own per-operation numba cache stays under its ``base_compiledir``
(``~/.pytensor``).

*Concurrency*: numba writes each file to a temporary name and renames it; the JSON is written
the same way, after both callbacks are saved, so an entry is complete when it is visible.  Two
processes compiling one model at once both compile and write equivalent entries.

A model that cannot be cached (an operation printed with a memory address; a constant over
numba's 1 MB limit for freezing arrays into code, which numba then references by address) is
compiled as before, and the log says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import sys
import tempfile
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

__all__ = ["CACHE_ENV", "OFF_ENV", "STATS", "cache_dir", "compile_model", "model_key"]

log = logging.getLogger(__name__)

#: Environment variable naming the cache folder (default: the user cache dir).
CACHE_ENV = "SIMENGINE_CACHE_DIR"

#: Environment variable turning the cache off (``0``, ``false``, ``off`` or ``no``).
OFF_ENV = "SIMENGINE_COMPILE_CACHE"

#: Bumped when the callback source or the JSON layout changes (old entries are then ignored).
CACHE_FORMAT = 1

#: Columns of the input table (:func:`_input_table`): the array's address, then its shape.
TABLE_WIDTH = 4

#: The C callbacks nutpie calls, as source with no closure (numba hashes a closure's contents
#: into its cache key), the dimensions written in.  The graph's shared inputs (PyMC's dimension
#: lengths) are read from a flat uint64 table of addresses and shapes passed as nutpie's
#: ``user_data``; ``CALL`` (:data:`_CALL_SRC`) reads them and calls PyTensor's compiled graph
#: with the array types nutpie's own callbacks pass it (so the graph compiles to the same code).
_LOGP_SRC = """
def logp_wrapper(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_dim},))
        logp = carray(logp_, ())
        tab = carray(user_data_, ({n_rows}, {width}), U64)
        logp_val, grad = CALL(x, tab)
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
"""

_EXPAND_SRC = """
def expand_wrapper(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = carray(x_, ({n_dim},))
        out = carray(out_, ({n_expanded},))
        tab = carray(user_data_, ({n_rows}, {width}), U64)
        (values,) = CALL(x, tab)
        out[...] = values
    except Exception:  # noqa: BLE001
        return -2
    return 0
"""

_CALL_SRC = """
def call(x, tab):
{extract}
    return INNER(x{args})
"""

#: This process's compiled-model requests: ``hits`` (loaded), ``compiles``, ``uncached``.
STATS = {"hits": 0, "compiles": 0, "uncached": 0}

_REGISTERED: WeakKeyDictionary = WeakKeyDictionary()

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


class _Uncacheable(Exception):
    """The model's graph cannot be keyed reliably."""


def cache_dir() -> Path:
    """The folder holding compiled models (see the module docstring)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "simengine"


def _models_dir() -> Path:
    return cache_dir() / "models"


def _enabled() -> bool:
    return os.environ.get(OFF_ENV, "1").strip().lower() not in {"0", "false", "off", "no"}


def _install_locator() -> None:
    """Put :class:`_ModelCacheLocator` first in numba's locator list (once)."""
    from numba.core.caching import CacheImpl, _CacheLocator

    if any(getattr(c, "_simengine", False) for c in CacheImpl._locator_classes):
        return

    class _ModelCacheLocator(_CacheLocator):
        """Directs numba's cache of a generated callback to :func:`cache_dir`, the model key its
        disambiguator (the function has no source file of its own)."""

        _simengine = True

        def __init__(self, py_func, py_file, key):
            self._py_func = py_func
            self._py_file = py_file
            self._key = key

        def ensure_cache_path(self):
            path = self.get_cache_path()
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()  # raises when not writable

        def get_cache_path(self):
            return _models_dir()

        def get_source_stamp(self):
            return CACHE_FORMAT

        def get_disambiguator(self):
            return self._key

        @classmethod
        def from_function(cls, py_func, py_file):
            key = _REGISTERED.get(py_func)
            return None if key is None else cls(py_func, py_file, key)

    CacheImpl._locator_classes.insert(0, _ModelCacheLocator)


def _versions() -> dict[str, str]:
    import pytensor
    from numba.core.registry import cpu_target

    out = {"python": sys.version, "machine": platform.machine()}
    for name in ("pytensor", "pymc", "nutpie", "numba", "llvmlite", "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            out[name] = "unknown"
    out["codegen"] = repr(cpu_target.target_context.codegen().magic_tuple())
    cfg = pytensor.config
    for name in ("floatX", "numba__fastmath", "optimizer", "optimizer_including",
                 "optimizer_excluding", "optimizer_requiring", "mode", "cast_policy"):  # fmt: skip
        out[f"pytensor.{name}"] = str(getattr(cfg, name, ""))
    return out


def _digest(value) -> str:
    data = np.ascontiguousarray(np.asarray(value))
    return f"{data.dtype.str} {data.shape} {hashlib.sha256(data.tobytes()).hexdigest()}"


def model_key(model, var_names: list[str]) -> str:
    """The cache key of ``model``'s compiled form: hex SHA-256 (see the module docstring).

    Raises
    ------
    _Uncacheable
        When the graph cannot be keyed reliably (an operation printed with a memory address).
    """
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort

    free = [model.rvs_to_values[v] for v in model.free_RVs]
    free_names = {v.name for v in free}
    keep = set(var_names)
    remaining = [
        v for v in model.unobserved_value_vars if v.name not in free_names and v.name in keep
    ]
    outputs = [model.logp(), *remaining]
    h = hashlib.sha256()

    def put(text: str) -> None:
        h.update(text.encode())
        h.update(b"\n")

    put(f"format {CACHE_FORMAT}")
    put(json.dumps(_versions(), sort_keys=True))
    put(_LOGP_SRC + _EXPAND_SRC + _CALL_SRC)
    put(f"check_bounds {model.check_bounds}")
    put(json.dumps(sorted(var_names)))
    point = model.initial_point()
    for v in free:
        put(f"free {v.name} {v.type} {np.shape(point[v.name])}")
    ids: dict = {}

    def ident(var) -> int:
        if var in ids:
            return ids[var]
        ids[var] = len(ids)
        if isinstance(var, SharedVariable):
            put(f"shared {ids[var]} {var.name} {var.type} {_digest(var.get_value())}")
        elif isinstance(var, Constant):
            put(f"const {ids[var]} {var.type} {_digest(var.data)}")
        elif var.owner is None:
            put(f"input {ids[var]} {var.name} {var.type}")
        return ids[var]

    for node in io_toposort([], outputs):
        args = [ident(i) for i in node.inputs]
        op = node.op
        props = op._props_dict() if hasattr(op, "_props_dict") else {}
        text = f"{type(op).__module__}.{type(op).__qualname__} {op} " + " ".join(
            f"{k}={v}" for k, v in props.items()
        )
        if _ADDRESS.search(text):
            raise _Uncacheable(f"operation {type(op).__name__} prints a memory address")
        put(f"apply {text} {args}")
        for out in node.outputs:
            ids[out] = len(ids)
            put(f"out {ids[out]} {out.type} {out.name}")
    put("outputs " + " ".join(str(ident(o)) for o in outputs))
    return h.hexdigest()


def _signatures():
    import numba

    logp = numba.types.int64(
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    expand = numba.types.int64(
        numba.types.uint64,
        numba.types.uint64,
        numba.types.CPointer(numba.types.double),
        numba.types.CPointer(numba.types.double),
        numba.types.voidptr,
    )
    return logp, expand


def _wrapper(template: str, name: str, key: str | None, rows: list[tuple[int, int, str]], inner,
             n_rows: int, **dims):  # fmt: skip
    """The callback of ``template``, registered for numba's cache under ``key`` (None: not).

    ``rows`` are ``(table row, ndim, dtype)`` of the graph's shared inputs in the order
    ``inner`` takes them.
    """
    import numba
    from nutpie.compile_pymc import address_as_void_pointer

    lines, args, env = [], [], {}
    for i, (row, ndim, dtype) in enumerate(rows):
        shape = ", ".join(f"int(tab[{row}, {1 + j}])" for j in range(ndim))
        ptr = f"void_ptr(tab[{row}, 0])"
        if ndim == 0:  # nutpie's own read of a 0-d input: a 1-element array reshaped
            lines.append(f"    a{i} = carray({ptr}, 1, DT{i}).reshape(())")
        else:
            lines.append(f"    a{i} = carray({ptr}, ({shape},), DT{i})")
        args.append(f", a{i}")
        env[f"DT{i}"] = np.dtype(dtype)
    env |= {
        "carray": numba.carray,
        "np": np,
        "U64": np.dtype(np.uint64),
        "void_ptr": address_as_void_pointer,
        "INNER": inner,
        # An importable module: numba names the cache files after it and imports it on a load.
        "__name__": __name__,
    }
    call_src = _CALL_SRC.format(extract="\n".join(lines) or "    pass", args="".join(args))
    helper: dict = {}
    exec(compile(call_src, "<simengine compiled model>", "exec"), env, helper)  # noqa: S102
    env["CALL"] = numba.njit(helper["call"])
    src = template.format(n_rows=n_rows, width=TABLE_WIDTH, **dims)
    local: dict = {}
    exec(compile(src, "<simengine compiled model>", "exec"), env, local)  # noqa: S102
    func = local[name]
    if key is not None:
        _REGISTERED[func] = f"{key}-{name}"
    return func


def _cfunc(func, signature, load_only: bool, cache: bool = True):
    """``numba.cfunc(signature, cache=cache)(func)``; with ``load_only``, None unless the cache
    holds it (nothing is compiled)."""
    import numba
    from numba.core import sigutils
    from numba.core.ccallback import CFunc

    if not load_only:
        return numba.cfunc(signature, cache=cache)(func)
    args, ret = sigutils.normalize_signature(signature)
    cf = CFunc(func, (args, ret), locals={}, options={})
    cf.enable_caching()
    cres = cf._cache.load_overload(cf._sig, cf._targetdescr.target_context)
    if cres is None:
        return None
    cf._cache_hits += 1
    cf._library = cres.library
    cf._wrapper_name = cres.fndesc.llvm_cfunc_wrapper_name
    cf._wrapper_address = cf._library.get_pointer_to_function(cf._wrapper_name)
    return cf


def _initial_point_fn(model):
    """nutpie's default start: PyMC's support point, jittered, on the unconstrained scale."""
    from nutpie.compile_pymc import _wrap_with_lock
    from pymc.initial_point import make_initial_point_fn

    return _wrap_with_lock(
        make_initial_point_fn(
            model=model,
            overrides=None,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )


def _shared_inputs(model) -> dict[str, Any]:
    """The model's shared variables by name (PyMC's dimension lengths and any data)."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import ancestors

    free = [model.rvs_to_values[v] for v in model.free_RVs]
    found = [v for v in ancestors([model.logp(), *model.unobserved_value_vars, *free])
             if isinstance(v, SharedVariable)]  # fmt: skip
    return {v.name: v for v in found}


def _input_table(order: list[str], shared: dict[str, Any]):
    """``(values, keys, table)`` of the shared inputs named in ``order``.

    ``values[f"d{i}"]`` is input ``order[i]`` (a read-only C-contiguous copy) and row ``i`` of
    ``table`` (uint64, :data:`TABLE_WIDTH` columns) holds its address and shape; nutpie hands
    ``table``'s address to the callbacks as its ``user_data``.
    """
    values, keys = {}, {}
    table = np.zeros((max(len(order), 1), TABLE_WIDTH), dtype=np.uint64)
    for i, name in enumerate(order):
        value = np.array(shared[name].get_value(), order="C", copy=True)
        value.flags.writeable = False
        if value.ndim > TABLE_WIDTH - 1:
            raise _Uncacheable(f"shared input {name!r} has {value.ndim} dimensions")
        values[f"d{i}"] = value
        keys[shared[name]] = f"d{i}"
        table[i, 0] = value.ctypes.data
        table[i, 1 : 1 + value.ndim] = value.shape
    return values, keys, table


def _rows(meta: dict, which: str) -> list[tuple[int, int, str]]:
    index = {name: i for i, name in enumerate(meta["inputs"])}
    return [(index[name], *meta["input_types"][name]) for name in meta[f"{which}_inputs"]]


def _assemble(model, meta: dict, logp_cf, expand_cf, table, ip_fn, logp_fn=None, expand_fn=None):
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _prepare_dims_and_coords,
        _rv_dict_to_flat_array_wrapper,
    )

    names = meta["names"]
    shapes = [tuple(s) for s in meta["shapes"]]
    slices = [slice(a, b) for a, b in meta["slices"]]
    shape_info = (names, slices, shapes)
    n_free = meta["n_free"]
    initial = _rv_dict_to_flat_array_wrapper(ip_fn, names=names[:n_free], shapes=shapes[:n_free])
    dims, coords = _prepare_dims_and_coords(model, shape_info, meta["reparameterized"])
    values, keys, user_data = table
    return CompiledPyMCModel(
        _n_dim=meta["n_dim"],
        dims=dims,
        _coords=coords,
        _shapes=dict(zip(names, shapes, strict=True)),
        compiled_logp_func=logp_cf,
        compiled_expand_func=expand_cf,
        initial_point_func=initial,
        shared_data=values,
        shared_var_keys=keys,
        user_data=user_data,
        n_expanded=meta["n_expanded"],
        shape_info=shape_info,
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=meta["reparameterized"],
    )


def _load(model, key: str, meta: dict):
    """The compiled model of ``key`` from the cache, or None when an entry is missing."""
    shared = _shared_inputs(model)
    if not set(meta["inputs"]) <= set(shared):
        return None
    table = _input_table(meta["inputs"], shared)
    n_rows = len(table[2])
    logp_sig, expand_sig = _signatures()
    logp_py = _wrapper(_LOGP_SRC, "logp_wrapper", key, _rows(meta, "logp"), None, n_rows,
                       n_dim=meta["n_dim"])  # fmt: skip
    expand_py = _wrapper(_EXPAND_SRC, "expand_wrapper", key, _rows(meta, "expand"), None, n_rows,
                         n_dim=meta["n_dim"], n_expanded=meta["n_expanded"])  # fmt: skip
    logp_cf = _cfunc(logp_py, logp_sig, load_only=True)
    expand_cf = _cfunc(expand_py, expand_sig, load_only=True)
    if logp_cf is None or expand_cf is None:
        return None
    return _assemble(model, meta, logp_cf, expand_cf, table, _initial_point_fn(model))


def _compile(model, var_names: list[str], key: str | None):
    """Compile as nutpie does; save the callbacks and the entry under ``key`` (None: do not)."""
    import numba
    from nutpie.compile_pymc import _make_functions

    ip_fn = _initial_point_fn(model)
    n_dim, n_expanded, logp_pt, expand_pt, _, shape_info, reparameterized = _make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        pymc_initial_point_fn=ip_fn,
        var_names=var_names,
    )
    names, slices, shapes = shape_info
    order: list[str] = []
    shared: dict[str, Any] = {}
    for var in [*logp_pt.get_shared(), *expand_pt.get_shared()]:
        if var.name in shared and shared[var.name] is not var:
            raise ValueError(f"the model has two shared inputs named {var.name!r}")
        if var.name not in shared:
            order.append(var.name)
            shared[var.name] = var
    table = _input_table(order, shared)
    meta = {
        "format": CACHE_FORMAT,
        "n_dim": int(n_dim),
        "n_expanded": int(n_expanded),
        "n_free": len(model.free_RVs),
        "names": list(names),
        "slices": [[int(s.start), int(s.stop)] for s in slices],
        "shapes": [[int(x) for x in s] for s in shapes],
        "reparameterized": list(reparameterized),
        "inputs": order,
        "input_types": {
            name: [int(table[0][f"d{i}"].ndim), table[0][f"d{i}"].dtype.str]
            for i, name in enumerate(order)
        },
        "logp_inputs": [v.name for v in logp_pt.get_shared()],
        "expand_inputs": [v.name for v in expand_pt.get_shared()],
    }
    n_rows = len(table[2])
    logp_sig, expand_sig = _signatures()
    logp_py = _wrapper(_LOGP_SRC, "logp_wrapper", key, _rows(meta, "logp"), logp_pt.vm.jit_fn,
                       n_rows, n_dim=n_dim)  # fmt: skip
    expand_py = _wrapper(_EXPAND_SRC, "expand_wrapper", key, _rows(meta, "expand"),
                         expand_pt.vm.jit_fn, n_rows, n_dim=n_dim, n_expanded=n_expanded)  # fmt: skip
    with warnings.catch_warnings():
        # numba's "cannot cache ... dynamic globals": checked below, said once in the log
        warnings.filterwarnings("ignore", "Cannot cache compiled function", numba.NumbaWarning)
        logp_cf = _cfunc(logp_py, logp_sig, load_only=False, cache=key is not None)
        expand_cf = _cfunc(expand_py, expand_sig, load_only=False, cache=key is not None)
    compiled = _assemble(
        model, meta, logp_cf, expand_cf, table, ip_fn, logp_fn=logp_pt, expand_fn=expand_pt
    )
    if key is None:
        return compiled, False
    if logp_cf._library.has_dynamic_globals or expand_cf._library.has_dynamic_globals:
        log.info("compiled model not cached: numba references a constant over 1 MB by its address")
        return compiled, False
    _write_json(_models_dir() / f"{key}.json", meta)
    return compiled, True


def _writable(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` atomically (temporary name in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def compile_model(model, var_names: list[str]) -> tuple[Any, str]:
    """nutpie's compiled form of ``model``, loaded from the cache when it was compiled before.

    Parameters
    ----------
    model : pymc.Model
    var_names : list of str
        Variables kept in the trace.

    Returns
    -------
    compiled : nutpie CompiledPyMCModel
        The same callbacks ``nutpie.compile_pymc_model(model, backend="numba")`` builds.
    cache : str
        ``hit`` (loaded: nothing compiled), ``miss`` (compiled and saved) or ``off`` (compiled,
        not saved: the cache is turned off, its folder is not writable, or the model cannot be
        cached; the log says which).
    """
    if not _enabled():
        STATS["uncached"] += 1
        return _compile(model, var_names, None)[0], "off"
    _install_locator()
    folder = _models_dir()
    if not _writable(folder):
        log.warning("compiled-model cache %s is not writable: compiling without it", folder)
        STATS["uncached"] += 1
        return _compile(model, var_names, None)[0], "off"
    t0 = time.perf_counter()
    try:
        key = model_key(model, var_names)
    except _Uncacheable as why:
        log.info("compiled model not cached: %s", why)
        STATS["uncached"] += 1
        return _compile(model, var_names, None)[0], "off"
    entry = folder / f"{key}.json"
    if entry.is_file():
        try:
            meta = json.loads(entry.read_text())
        except (OSError, ValueError):
            meta = None
        if meta is not None and meta.get("format") == CACHE_FORMAT:
            compiled = _load(model, key, meta)
            if compiled is not None:
                STATS["hits"] += 1
                log.info(
                    "compiled model loaded from the cache in %.1f s (%s, key %s)",
                    time.perf_counter() - t0,
                    folder,
                    key[:12],
                )
                return compiled, "hit"
    STATS["compiles"] += 1
    compiled, saved = _compile(model, var_names, key)
    if not saved:
        STATS["uncached"] += 1
    return compiled, "miss" if saved else "off"
