"""The compiled model is cached across processes: a second fit compiles nothing, same draws."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from simengine.data import generate_book, write_book

pytest.importorskip("nutpie")

#: A small churn-only fit: the point is the compile, not the posterior (the gate is relaxed).
FIT = [
    "fit.models=[churn]", "fit.draws=100", "fit.tune=100", "fit.chains=1", "fit.allow_bad=true",
    "sim.progress=false",
]  # fmt: skip


@pytest.mark.slow  # two fits in fresh processes, one a cold compile: ~75 s at load 2-3
def test_second_fit_in_a_fresh_process_compiles_nothing(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("SIMENGINE_CACHE_DIR", str(tmp_path / "cache"))
    book = generate_book(n_accounts=200, history_months=24, seed=5).book
    data = [f"data.{t}={p}" for t, p in write_book(book, tmp_path / "book").items()]
    trees = []
    for run in ("cold", "warm"):
        # A cold fit with PyTensor's per-op cache empty too (a CI clone) can take minutes on a
        # loaded 2-core machine, past run_cli's default 300 s.
        proc = cli("fit", *data, *FIT, "seed=7", f"hydra.run.dir={tmp_path / run}", timeout=900)
        assert proc.returncode == 0, proc.stderr
        trees.append(xr.open_datatree(tmp_path / run / "posterior.nc"))
    cold, warm = trees
    assert cold.attrs["compile_cache"] == "miss"
    assert warm.attrs["compile_cache"] == "hit"
    assert any((tmp_path / "cache" / "models").glob("*.json"))
    # Loading is rebuilding the PyMC model, hashing its graph and reading the object code: ~1-3 s
    # on a quiet machine; the cold compile of this model is ~15-60 s.  A quarter of the cold
    # figure leaves room for load without letting a compile pass.
    assert warm.attrs["compile_seconds"] < 0.25 * cold.attrs["compile_seconds"]
    # The same machine code and the same seed: bitwise the same draws.
    for name, values in cold["posterior"].data_vars.items():
        np.testing.assert_array_equal(warm["posterior"][name].values, values.values, err_msg=name)


def test_the_key_holds_the_data_and_the_settings():
    from simengine.fitting.compiled import model_key
    from simengine.fitting.core import build_joint_model, kept_variables

    def key(book, configs=None):
        model, _ = build_joint_model(book, ["churn"], 0, configs)
        return model_key(model, kept_variables(model))

    book = generate_book(n_accounts=150, history_months=24, seed=1).book
    same = generate_book(n_accounts=150, history_months=24, seed=1).book
    other = generate_book(n_accounts=150, history_months=24, seed=2).book
    assert key(book) == key(same)  # the same book built again: a hit
    assert key(other) != key(book)  # other data are other constants in the code: a miss
    assert key(book, {"churn": {"use_anniversary": False}}) != key(book)  # other settings


def _tiny_model(n_obs: int):
    import pymc as pm

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.linspace(-1.0, 1.0, n_obs))
    return model


def test_what_cannot_be_cached_is_compiled_as_before(tmp_path, monkeypatch, caplog):
    from simengine.fitting.compiled import compile_model

    # A cache folder that cannot be made (a file stands where its parent should be; permission
    # bits would not stop root): a warning, then a plain compile.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SIMENGINE_CACHE_DIR", str(tmp_path / "file" / "cache"))
    with caplog.at_level("WARNING", logger="simengine.fitting.compiled"):
        compiled, cache = compile_model(_tiny_model(3), ["mu"])
    assert cache == "off" and compiled.n_dim == 1
    assert "not writable" in caplog.text
    # Data over numba's 1 MB limit for constants frozen into code (200,000 float64 = 1.6 MB):
    # numba then holds the array's address, which no other process can load; nothing is saved.
    monkeypatch.setenv("SIMENGINE_CACHE_DIR", str(tmp_path / "cache"))
    compiled, cache = compile_model(_tiny_model(200_000), ["mu"])
    assert cache == "off"
    assert not list((tmp_path / "cache" / "models").glob("*.json"))
