"""Where a fit's time goes: cost of one log density + gradient, by model part and by term.

Usage::

    PYTHONPATH=$WT python benchmarks/bench_grad_profile.py BOOK [--models churn,usage]
        [--drop POTENTIAL,...] [--evals 400 --rounds 6] [--sample TUNE,DRAWS] [--terms]
        [--profile] [--against-reference]

Builds the fit's joint model of the book in ``BOOK`` (``accounts.csv``, ``usage.csv``,
``use_cases.csv``) exactly as :func:`simengine.fitting.fit_book` does (data as constants),
restricted to ``--models`` (default: all the book supports) and without the Potentials named
in ``--drop`` (the cost of a term is the whole's less the rest's), and reports:

- the compile time of :func:`simengine.fitting.sampling.compile_nuts` (nutpie, numba backend);
- the time of one call of the compiled log density + gradient (the C callback nutpie samples),
  median over ``--rounds`` blocks of ``--evals`` calls at fixed points near the unconstrained
  origin;
- with ``--against-reference``: the same for the model with the usage likelihood per account and
  the first use-case windows padded (the references the tests compare the account-free forms
  with), timed in alternating blocks in this process, so a load change hits both alike;
- with ``--sample``: one nutpie chain of TUNE + DRAWS (the fit's adaptation and target_accept),
  its wall time, leapfrog steps (= gradient evaluations) per draw in warm-up and after, tree depth,
  step size and divergences;
- with ``--terms``: each log-density term (each free variable's prior, each Potential) alone,
  its value and gradient compiled by PyTensor's C backend, time per call;
- with ``--profile``: PyTensor's per-op profile of the whole log density + gradient (C backend).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import time
from pathlib import Path

import numpy as np


def _median_time(fn, evals: int, rounds: int) -> tuple[float, list[float]]:
    per = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(evals):
            fn()
        per.append((time.perf_counter() - t0) / evals)
    return float(np.median(per)), per


def _callback(compiled):
    """The compiled log density + gradient (nutpie's C callback) as a no-argument function that
    evaluates it at the next of 16 fixed points near the unconstrained origin; and n_dim."""
    proto = ctypes.CFUNCTYPE(
        ctypes.c_int64,
        ctypes.c_uint64,
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
        ctypes.POINTER(ctypes.c_double),
        ctypes.c_void_p,
    )
    func = proto(compiled.compiled_logp_func.address)
    user_data = compiled.user_data
    n_dim = int(compiled._n_dim)
    rng = np.random.default_rng(0)
    points = 0.1 * rng.standard_normal((16, n_dim))
    grad = np.zeros(n_dim)
    logp = np.zeros(())
    dptr = ctypes.POINTER(ctypes.c_double)
    state = {"i": 0}

    def evaluate() -> None:
        x = points[state["i"] % len(points)]
        state["i"] += 1
        code = func(
            n_dim,
            x.ctypes.data_as(dptr),
            grad.ctypes.data_as(dptr),
            logp.ctypes.data_as(dptr),
            user_data.ctypes.data,
        )
        if code != 0:
            raise SystemExit(f"log density callback returned {code}")

    return evaluate, n_dim


def _reference_model(book, models, seed):
    """The joint model with the usage and first use-case window likelihoods in their per-account
    and padded forms (the references of ``tests/fitting/test_usage_quadratic_forms.py``)."""
    from unittest import mock

    from simengine.fitting import expansion, usage
    from simengine.fitting.core import build_joint_model
    from tests.fitting import test_usage_quadratic_forms as ref

    with (
        mock.patch.object(usage, "change_quadratic_forms", lambda stats, n: stats),
        mock.patch.object(usage, "_marginal_normal_loglik", ref._per_account_changes),
        mock.patch.object(usage, "_initial_level_loglik", ref._per_cell_initial),
        mock.patch.object(expansion, "_first_windows_loglik", ref._padded_first_windows),
    ):
        return build_joint_model(book, models, seed=seed)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("book", type=Path)
    parser.add_argument("--models", default="")
    parser.add_argument("--evals", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sample", default="", help="TUNE,DRAWS of one nutpie chain")
    parser.add_argument(
        "--target-accept", default="", help="comma list of target_accept to sample (default: fit's)"
    )
    parser.add_argument(
        "--adaptation", default="", help="comma list of nutpie adaptations (default: the fit's)"
    )
    parser.add_argument(
        "--nutpie-options",
        default="",
        help="variants of nutpie settings to sample, ';' between variants, ',' between KEY=VALUE "
        "(dotted keys, e.g. adapt_options.mass_matrix_update_freq=100); '' = the defaults",
    )
    parser.add_argument("--terms", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--drop", default="", help="Potentials to leave out (comma list): the cost of the rest"
    )
    parser.add_argument("--no-nutpie", action="store_true", help="skip the numba compile")
    parser.add_argument(
        "--against-reference",
        action="store_true",
        help="also compile the model with the per-account usage and padded window likelihoods "
        "(the test's references) and time both in alternating blocks in this process",
    )
    args = parser.parse_args()

    from simengine.config import FitConfig
    from simengine.data import load_book
    from simengine.fitting import resolve_models
    from simengine.fitting.core import build_joint_model, kept_variables
    from simengine.fitting.sampling import NUTS_ADAPTATION, compile_nuts

    d = args.book
    book = load_book(d / "accounts.csv", d / "usage.csv", d / "use_cases.csv")
    requested = [m for m in args.models.split(",") if m]
    models = resolve_models(requested, book)
    model, _ = build_joint_model(book, models, seed=args.seed)
    tag = ",".join(models)
    for name in [n for n in args.drop.split(",") if n]:
        (pot,) = [p for p in model.potentials if p.name == name]
        model.potentials.remove(pot)
        tag += f" -{name}"
    n_acc = len(book.accounts)
    print(f"[{tag}] book {d} ({n_acc} accounts, {len(book.usage)} usage rows)", flush=True)
    print(f"[{tag}] load {os.getloadavg()}", flush=True)
    print(
        f"[{tag}] free RVs {len(model.free_RVs)}, potentials {[p.name for p in model.potentials]}",
        flush=True,
    )

    if not args.no_nutpie:
        t0 = time.perf_counter()
        compiled = compile_nuts(model, kept_variables(model))
        print(f"[{tag}] nutpie compile {time.perf_counter() - t0:.1f} s", flush=True)
        evaluate, n_dim = _callback(compiled)
        evaluate()
        if args.against_reference:
            ref_model = _reference_model(book, models, args.seed)
            for pot in [p for p in ref_model.potentials if p.name in args.drop.split(",")]:
                ref_model.potentials.remove(pot)
            reference, _ = _callback(compile_nuts(ref_model, kept_variables(ref_model)))
            reference()
            pairs = [
                (
                    _median_time(evaluate, args.evals, 1)[0],
                    _median_time(reference, args.evals, 1)[0],
                )
                for _ in range(args.rounds)
            ]
            new_med, ref_med = np.median(pairs, axis=0)
            print(
                f"[{tag}] alternating blocks of {args.evals} calls, load {os.getloadavg()}: "
                f"quadratic forms {new_med * 1e6:.0f} us/call, per-account reference "
                f"{ref_med * 1e6:.0f} us/call (ratio {new_med / ref_med:.2f}; blocks "
                + ", ".join(f"{a * 1e6:.0f}/{b * 1e6:.0f}" for a, b in pairs)
                + ")",
                flush=True,
            )
        med, per = _median_time(evaluate, args.evals, args.rounds)
        print(
            f"[{tag}] n_dim {n_dim}; numba logp+grad {med * 1e6:.0f} us/call median "
            f"({1 / med:.0f}/s; blocks {', '.join(f'{p * 1e6:.0f}' for p in per)} us)",
            flush=True,
        )

        if args.sample:
            import nutpie

            tune, draws = (int(v) for v in args.sample.split(","))
            targets = [float(v) for v in args.target_accept.split(",") if v] or [
                FitConfig().target_accept
            ]
            adaptations = [a for a in args.adaptation.split(",") if a] or [NUTS_ADAPTATION]
            variants = [
                dict(kv.split("=") for kv in v.split(",") if kv)
                for v in (args.nutpie_options.split(";") if args.nutpie_options else [""])
            ]
            runs = [(t, a, o) for a in adaptations for t in targets for o in variants]
            for target, adaptation, options in runs:
                extra = {k: (float(v) if "." in v else int(v)) for k, v in options.items()}
                t0 = time.perf_counter()
                tree = nutpie.sample(
                    compiled,
                    draws=draws,
                    tune=tune,
                    chains=1,
                    cores=1,
                    seed=args.seed,
                    save_warmup=True,
                    progress_bar=False,
                    target_accept=target,
                    adaptation=adaptation,
                    **extra,
                )
                wall = time.perf_counter() - t0
                stats = tree["warmup_sample_stats"].to_dataset()
                post = tree["sample_stats"].to_dataset()
                w_steps = stats["n_steps"].to_numpy().ravel()
                p_steps = post["n_steps"].to_numpy().ravel()
                depth = post["depth"].to_numpy().ravel()
                step = post["step_size"].to_numpy().ravel()
                total = int(w_steps.sum() + p_steps.sum())
                print(
                    f"[{tag}] sample 1 chain x ({tune}+{draws}), target_accept {target}, {adaptation} {options or ''}: "
                    f"wall {wall:.1f} s, {total} gradient evals ({total / wall:.0f}/s)",
                    flush=True,
                )
                print(
                    f"[{tag}]   evals/draw warm-up mean {w_steps.mean():.1f}, "
                    f"sampling mean {p_steps.mean():.1f} (median {np.median(p_steps):.0f}, "
                    f"p90 {np.quantile(p_steps, 0.9):.0f}, max {p_steps.max()}); depth "
                    f"{dict(zip(*np.unique(depth, return_counts=True), strict=True))}; step size "
                    f"{step[-1]:.3g}; divergences {int(post['diverging'].to_numpy().sum())}",
                    flush=True,
                )
                try:  # smallest bulk ESS over the kept parameters (noisy on one short chain)
                    from arviz_stats import ess

                    posterior = tree["posterior"].to_dataset()
                    cols = [
                        posterior[v].to_numpy().reshape(1, draws, -1) for v in posterior.data_vars
                    ]
                    low = min(float(ess(c[:, :, j])) for c in cols for j in range(c.shape[2]))
                    print(f"[{tag}]   smallest bulk ESS {low:.0f} of {draws} draws", flush=True)
                except Exception as exc:  # noqa: BLE001
                    print(f"[{tag}]   (ESS not computed: {exc})", flush=True)
                full = FitConfig()
                per_chain = w_steps.mean() * full.tune + p_steps.mean() * full.draws
                print(
                    f"[{tag}]   a default fit ({full.chains} x ({full.tune}+{full.draws})) needs "
                    f"~{per_chain:.0f} evals a chain = ~{per_chain * med:.0f} s a chain at the "
                    f"measured cost",
                    flush=True,
                )

    if args.terms or args.profile:
        import pytensor
        import pytensor.tensor as pt
        from pytensor.compile.mode import Mode

        mode = Mode(linker="cvm_nogc", optimizer="fast_run")
        values = model.value_vars
        ip = model.initial_point()
        rng = np.random.default_rng(0)
        inputs_val = [
            np.asarray(ip[v.name] + 0.1 * rng.standard_normal(np.shape(ip[v.name])), v.dtype)
            for v in values
        ]
        terms = model.logp(sum=False)
        names = [rv.name for rv in model.basic_RVs] + [p.name for p in model.potentials]
        if len(names) != len(terms):
            names = [f"term{i}" for i in range(len(terms))]

        def build(term):
            total = pt.sum(term)
            grads = pytensor.grad(total, values, disconnected_inputs="ignore")
            return [total, *grads]

        if args.terms:
            rows = []
            for name, term in zip(names, terms, strict=True):
                fn = pytensor.function(values, build(term), mode=mode, on_unused_input="ignore")
                fn(*inputs_val)
                ev = max(20, args.evals // 4)
                med, _ = _median_time(lambda fn=fn: fn(*inputs_val), ev, 3)
                shape = pytensor.function(values, term.shape, on_unused_input="ignore")
                size = int(np.prod(shape(*inputs_val))) if term.ndim else 1
                rows.append((med, name, size))
            fn = pytensor.function(values, build(pt.add(*[pt.sum(t) for t in terms])), mode=mode)
            fn(*inputs_val)
            med_all, _ = _median_time(lambda: fn(*inputs_val), max(20, args.evals // 4), 3)
            print(f"[{tag}] C backend, whole logp+grad {med_all * 1e6:.0f} us/call", flush=True)
            for med, name, size in sorted(rows, reverse=True):
                print(
                    f"[{tag}]   term {name:34s} elements {size:8d}  {med * 1e6:8.0f} us/call "
                    f"({med / med_all:5.1%} of whole)",
                    flush=True,
                )
        if args.profile:
            fn = pytensor.function(
                values,
                build(pt.add(*[pt.sum(t) for t in terms])),
                mode=mode,
                profile=True,
            )
            for _ in range(max(50, args.evals // 4)):
                fn(*inputs_val)
            import contextlib
            import io

            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                fn.profile.summary(n_ops_to_print=25, n_apply_to_print=25)
            text = buf.getvalue()
            keep = []
            on = False
            for line in text.splitlines():
                if line.startswith("Class") or line.startswith("Apply"):
                    on = True
                if on:
                    keep.append(line)
                if line.startswith("Here are tips"):
                    break
            print("\n".join(keep[:120]), flush=True)


if __name__ == "__main__":
    main()
