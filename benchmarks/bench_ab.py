"""The kernel of the working tree against the kernel of a git revision, in one process.

Run ``python benchmarks/bench_ab.py --rev main`` (``--draws``: per call, ``--rounds``,
``--threads``).  On a shared machine whose speed drifts by tens of percent within minutes, two
processes timed one after the other cannot resolve a change of a few percent; two kernels timed
call by call in the same process can.  The revision's ``simengine`` is exported with ``git
archive`` into a temporary folder under another package name, and both kernels run the default
book's inputs (captured from ``simulate_config``), alternating call by call, each call on the same
draws for both.  Printed: each kernel's CPU milliseconds per draw (min and median), the median of
the paired ratios new / old, and the largest relative difference of their outputs (those both
kernels return, of the same shape).

``--no-cells`` runs the working tree's kernel without cohort cells (``cohort_cells=False``, as a
sweep's job does), the revision's as it runs by default: a sweep job's kernel then against before.
Each kernel gets only the keyword arguments its ``run_kernel`` takes.

The kernel whose package is imported first ran up to ~17% faster at 20 draws a call (an A/A test
read 1.18x one way round and 0.85x the other; ~1.02x at 100 draws a call), so the comparison runs
twice, once in each import order, in two processes, and reports the geometric mean of the two
ratios.
"""

from __future__ import annotations

import argparse
import math
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OLD = "simengine_ab_old"


def export_revision(rev: str) -> Path:
    """``simengine`` of ``rev`` as the package ``OLD``, in a folder kept per commit (so numba's
    disk cache of its kernels is reused by the next comparison against the same commit)."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True,
        text=True,
    )  # fmt: skip
    if sha.returncode != 0:
        raise SystemExit(f"bench_ab: --rev {rev}: not a commit of {REPO}")
    into = Path(tempfile.gettempdir()) / f"simengine-bench-ab-{sha.stdout.strip()[:12]}"
    if (into / OLD / "engine.py").exists():
        return into
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", rev, "simengine"], cwd=REPO, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "simengine").rename(into / OLD)
    # Only the imports (and dotted names) move to the other package name.
    dotted = re.compile(r"\bsimengine\.")
    bare = re.compile(r"^(\s*)(from|import) simengine\b", re.MULTILINE)
    for path in (into / OLD).rglob("*.py"):
        text = bare.sub(rf"\1\2 {OLD}", dotted.sub(f"{OLD}.", path.read_text()))
        path.write_text(text)
    return into


def capture_inputs(draws: int, path: Path) -> None:
    """The default book's kernel arguments for ``draws`` draws (this tree's package), pickled to
    ``path``."""
    from bench_core import default_book_kernel_inputs

    args, kwargs = default_book_kernel_inputs(draws, "sim.threads=1")
    path.write_bytes(pickle.dumps({"args": args, "kwargs": kwargs}))


def child(
    inputs: Path, old_dir: Path, old_first: bool, draws: int, rounds: int, threads: int,
    cells: bool = True,
):  # fmt: skip
    """One import order: alternate the two kernels call by call; print a JSON-ish result line."""
    import importlib
    import inspect

    import numpy as np

    sys.path[:0] = [str(REPO), str(old_dir)]  # this tree's simengine, whatever is installed
    order = (OLD, "simengine") if old_first else ("simengine", OLD)
    engines = {name: importlib.import_module(f"{name}.engine") for name in order}
    layout = importlib.import_module("simengine.kernels.layout")
    captured = pickle.loads(inputs.read_bytes())
    book, params, capacity = captured["args"]
    kwargs = dict(captured["kwargs"], threads=threads, progress=False)
    kwargs["account_sink"] = lambda *a, **k: None  # the per-account record on, its sink a no-op
    if not cells:
        kwargs["cohort_cells"] = False
    # Each kernel its own keywords (a revision before ``cohort_cells`` keeps its cells).
    kw = {}
    for name in order:
        accepted = inspect.signature(engines[name].run_kernel).parameters
        kw[name] = {k: v for k, v in kwargs.items() if k in accepted}
    total = params[0].shape[0]

    def part(d0: int, n: int):
        return (
            layout.Params(params[0][d0 : d0 + n], params[1][d0 : d0 + n]),
            layout.Capacity(*(c[d0 : d0 + n] for c in capacity)),
        )

    for name in order:  # compile or load from numba's cache
        engines[name].run_kernel(book, *part(0, 2), **kw[name])
    first = {name: engines[name].run_kernel(book, *part(0, draws), **kw[name]) for name in order}
    worst = 0.0
    for field in first["simengine"]._fields:
        if field not in first[OLD]._fields:
            continue
        a, b = (
            np.asarray(getattr(first[OLD], field)),
            np.asarray(getattr(first["simengine"], field)),
        )
        if a.shape != b.shape:
            continue
        scale = np.maximum(np.abs(a), np.abs(b))
        rel = np.where(scale > 1e-9, np.abs(a - b) / np.where(scale > 0, scale, 1.0), 0.0)
        worst = max(worst, float(np.nanmax(rel, initial=0.0)))
    times = {name: [] for name in order}
    for r in range(rounds):
        d0 = (r * draws) % max(1, total - draws)
        for name in order if r % 2 == 0 else order[::-1]:
            c0 = time.process_time()
            engines[name].run_kernel(book, *part(d0, draws), **kw[name])
            times[name].append((time.process_time() - c0) / draws * 1e3)
    ratios = [n / o for n, o in zip(times["simengine"], times[OLD], strict=True)]
    print(
        "RESULT",
        statistics.median(ratios),
        min(times[OLD]),
        statistics.median(times[OLD]),
        min(times["simengine"]),
        statistics.median(times["simengine"]),
        worst,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="main", help="git revision to compare against")
    parser.add_argument("--draws", type=int, default=100, help="draws per call")
    parser.add_argument("--rounds", type=int, default=12, help="calls of each kernel per order")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--no-cells", action="store_true", help="the working tree's kernel without cohort cells"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        inputs, old_dir, old_first = args.child
        child(Path(inputs), Path(old_dir), old_first == "1", args.draws, args.rounds, args.threads,
              not args.no_cells)  # fmt: skip
        return
    old_dir = export_revision(args.rev)
    sys.path.insert(0, str(REPO))  # the working tree's simengine, whatever is installed
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.pkl"
        capture_inputs(4 * args.draws, inputs)
        print(
            f"kernel of the working tree (new) against {args.rev} (old): default book, "
            f"{args.draws} draws a call, {args.rounds} calls each, {args.threads} thread(s), "
            f"{'new without cohort cells, ' if args.no_cells else ''}CPU ms per draw"
        )
        ratios = []
        for old_first in (True, False):
            out = subprocess.run(
                [sys.executable, __file__, "--draws", str(args.draws), "--rounds",
                 str(args.rounds), "--threads", str(args.threads),
                 *(["--no-cells"] if args.no_cells else []), "--child", str(inputs),
                 str(old_dir), "1" if old_first else "0"],
                cwd=REPO, capture_output=True, text=True,
            )  # fmt: skip
            lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
            if out.returncode != 0 or not lines:
                raise SystemExit(out.stderr[-3000:])
            ratio, o_min, o_med, n_min, n_med, worst = map(float, lines[-1].split()[1:])
            ratios.append(ratio)
            print(
                f"  {'old' if old_first else 'new'} imported first: old {o_min:.3f} / {o_med:.3f}"
                f" (min / median), new {n_min:.3f} / {n_med:.3f}; median paired new/old "
                f"{ratio:.3f}; outputs differ by <= {worst:.1e} relative"
            )
        print(f"new / old, geometric mean of both orders: {math.sqrt(ratios[0] * ratios[1]):.3f}")


if __name__ == "__main__":
    main()
