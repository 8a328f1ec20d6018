"""Fingerprints of what simengine computes, to prove a refactor changed no number.

Runs, as a user would (the CLI as a subprocess, fixed seeds):

1. ``simengine run`` on the embedded book (its shipped posterior), 200 draws;
2. ``simengine fit`` of a book written outside the project (``../shared/books/eu_saas_book.py``,
   seed 31, scale 0.25), a short NUTS run;
3. ``simengine run`` of that book from the fit just made, 200 draws.

and hashes every array of every NetCDF output (values and coordinates, attrs that carry no time
or path) and every CSV byte for byte.  ``--write FILE`` records the hashes; ``--check FILE``
recomputes them and lists every output that differs (exit 1 when one does).

    python benchmarks/fingerprint.py --write benchmarks/fingerprint.json
    python benchmarks/fingerprint.py --check benchmarks/fingerprint.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
EU_BOOK = ROOT.parent / "shared" / "books" / "eu_saas_book.py"
FIT = [
    "fit.draws=300",
    "fit.tune=300",
    "fit.chains=2",
    "fit.allow_bad=true",
]
RUN = ["sim.draws=200", "sim.horizon_months=24"]


def _cli(args: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "simengine", *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"simengine {' '.join(args[:1])} failed:\n{proc.stderr[-3000:]}")


def _hash_array(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    if a.dtype.kind == "O":
        return hashlib.sha256(repr(a.tolist()).encode()).hexdigest()[:16]
    return hashlib.sha256(a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()).hexdigest()[
        :16
    ]


def _hash_dataset(ds: xr.Dataset, prefix: str, out: dict[str, str]) -> None:
    for name in sorted(ds.variables):
        out[f"{prefix}{name}"] = _hash_array(ds[name].values)


def _fingerprint_dir(path: Path, tag: str, out: dict[str, str]) -> None:
    for f in sorted(path.rglob("*")):
        rel = f"{tag}/{f.relative_to(path)}"
        if f.suffix == ".nc":
            tree = xr.open_datatree(f)
            for node in tree.subtree:
                if node.ds is not None and node.ds.variables:
                    _hash_dataset(node.to_dataset(), f"{rel}:{node.path}:", out)
            tree.close()
        elif f.suffix == ".csv":
            out[rel] = hashlib.sha256(f.read_bytes()).hexdigest()[:16]


def fingerprint() -> dict[str, str]:
    """Every output's hashes, keyed ``<step>/<file>[:<group>:<variable>]``."""
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run1 = tmp / "run_embedded"
        _cli(["run", *RUN, f"hydra.run.dir={run1}"])
        _fingerprint_dir(run1, "run_embedded", out)

        book = tmp / "book"
        subprocess.run([sys.executable, str(EU_BOOK), str(book), "31", "0.25"], check=True)
        data = [
            f"data.accounts={book / 'accounts.csv'}",
            f"data.usage={book / 'usage.csv'}",
            f"data.use_cases={book / 'use_cases.csv'}",
        ]
        fit = tmp / "fit"
        _cli(["fit", *data, *FIT, "seed=7", f"hydra.run.dir={fit}"])
        _fingerprint_dir(fit, "fit_eu", out)
        run2 = tmp / "run_eu"
        _cli(
            [
                "run",
                *data,
                *RUN,
                "fit.allow_bad=true",
                f"fit.posterior={fit / 'posterior.nc'}",
                f"hydra.run.dir={run2}",
            ]
        )
        _fingerprint_dir(run2, "run_eu", out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    args = parser.parse_args()
    got = fingerprint()
    if args.write:
        args.write.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"{len(got)} fingerprints written to {args.write}")
        return
    want = json.loads(args.check.read_text())
    differ = sorted(k for k in want.keys() & got.keys() if want[k] != got[k])
    missing = sorted(want.keys() - got.keys())
    added = sorted(got.keys() - want.keys())
    for k in differ:
        print(f"DIFFERS  {k}")
    for k in missing:
        print(f"MISSING  {k}")
    for k in added:
        print(f"NEW      {k}")
    same = len(want.keys() & got.keys()) - len(differ)
    print(f"{same} identical, {len(differ)} differ, {len(missing)} missing, {len(added)} new")
    sys.exit(1 if differ or missing else 0)


if __name__ == "__main__":
    main()
