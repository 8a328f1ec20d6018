"""Compile seconds and gradient speed: nutpie's own compile (main) against the compiled-model cache.

One book, the full model as ``simengine fit`` builds it (default models, seed 20261122):

    python benchmarks/bench_compile.py BOOK_DIR --variant main      # nutpie.compile_pymc_model
    python benchmarks/bench_compile.py BOOK_DIR --variant cache     # fitting.compiled (miss or hit)
    python benchmarks/bench_compile.py BOOK_DIR --ab 8              # both in one process, timed in turns

Each prints one JSON line: compile seconds, the cache's verdict, the log density at a fixed point
(the two compiled forms must agree bitwise) and log density + gradient evaluations per second
(``--ab``: ``turns`` turns of 300 evaluations each, the two alternating, medians).  For a cold
figure run with an empty ``SIMENGINE_CACHE_DIR`` and, to leave PyTensor's own per-operation cache
out too, ``PYTENSOR_FLAGS=base_compiledir=<empty folder>``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time

import numpy as np

EVALS = 300


def _model(book_dir: str):
    from simengine.data import load_book
    from simengine.fitting.core import build_joint_model, kept_variables
    from simengine.fitting.select import resolve_models

    book = load_book(
        f"{book_dir}/accounts.csv", f"{book_dir}/usage.csv", f"{book_dir}/use_cases.csv"
    )
    model, _ = build_joint_model(book, resolve_models([], book), 20261122)
    return model, kept_variables(model)


def _compile(model, names, variant: str):
    t0 = time.perf_counter()
    if variant == "main":
        import nutpie

        compiled, cache = nutpie.compile_pymc_model(model, backend="numba", var_names=names), "-"
    else:
        from simengine.fitting.compiled import compile_model

        compiled, cache = compile_model(model, names)
    return compiled, cache, time.perf_counter() - t0


def _evaluator(compiled):
    """``f(x) -> (logp, grad)`` calling the compiled C callback as nutpie does."""
    fn = compiled.compiled_logp_func.ctypes
    n = compiled.n_dim
    out = np.zeros(n)
    logp = np.zeros(())
    user = compiled.user_data.ctypes.data

    def f(x):
        code = fn(
            ctypes.c_uint64(n),
            x.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            logp.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
            ctypes.c_void_p(user),
        )
        assert code == 0, code
        return float(logp), out

    return f


def _rate(f, x) -> float:
    t0 = time.perf_counter()
    for _ in range(EVALS):
        f(x)
    return EVALS / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book")
    parser.add_argument("--variant", choices=["main", "cache"], default="cache")
    parser.add_argument("--ab", type=int, default=0, help="turns of main against cache")
    args = parser.parse_args()
    t0 = time.perf_counter()
    model, names = _model(args.book)
    build = time.perf_counter() - t0
    variants = ["main", "cache"] if args.ab else [args.variant]
    done = {v: _compile(model, names, v) for v in variants}
    x = np.asarray(done[variants[0]][0].initial_point_func(0), dtype=np.float64)
    result = {"book": args.book, "build_s": round(build, 2)}
    for v, (compiled, cache, seconds) in done.items():
        f = _evaluator(compiled)
        lp, grad = f(x)
        result[v] = {
            "compile_s": round(seconds, 2),
            "cache": cache,
            "logp": repr(lp),
            "grad_sha": hash(grad.tobytes()),
        }
    if args.ab:
        rates: dict[str, list[float]] = {v: [] for v in variants}
        fs = {v: _evaluator(done[v][0]) for v in variants}
        for _ in range(args.ab):
            for v in variants:
                rates[v].append(_rate(fs[v], x))
        for v in variants:
            result[v]["evals_per_s"] = round(float(np.median(rates[v])), 1)
        ratio = np.array(rates["cache"]) / np.array(rates["main"])
        result["ratio_median"] = round(float(np.median(ratio)), 3)
        result["ratio_range"] = [round(float(ratio.min()), 3), round(float(ratio.max()), 3)]
    else:
        result[variants[0]]["evals_per_s"] = round(_rate(_evaluator(done[variants[0]][0]), x), 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
