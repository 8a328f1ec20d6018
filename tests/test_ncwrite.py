"""``simengine.ncwrite``: the h5py writer lays ``forecast.nc`` out as h5netcdf does, object by object.

The check is on the HDF5 objects themselves (every dataset's type, shape, fill value, layout,
creation-order flags, data, user attributes in order, and the netCDF-4 bookkeeping attributes
with references resolved to names), so any reader of h5netcdf's files reads ours the same way;
xarray reads both back identical (h5netcdf engine, and netCDF-C through the netCDF4 engine where
that package is installed).
"""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from simengine.ncwrite import Unsupported, write_dataset
from simengine.results import write_netcdf

#: Attributes netCDF-4 keeps for itself: compared as a set (h5netcdf deletes and re-creates some,
#: which moves them in the creation order; readers look them up by name).
HIDDEN = {"REFERENCE_LIST", "CLASS", "DIMENSION_LIST", "NAME", "_Netcdf4Dimid",
          "_Netcdf4Coordinates"}  # fmt: skip


def _value(f, v):
    if isinstance(v, h5py.Reference):
        return f[v].name
    if isinstance(v, np.ndarray) and v.dtype.names:  # REFERENCE_LIST: (dataset, dim) rows
        return sorted(tuple(_value(f, x) for x in row) for row in v.tolist())
    if isinstance(v, np.ndarray) and v.dtype.kind == "O":
        return [_value(f, x) for x in v.tolist()]
    if isinstance(v, np.ndarray):
        return (str(v.dtype), v.shape, v.tobytes())
    return (type(v).__name__, repr(v))


def _attrs(f, obj):
    user, hidden = [], {}
    for k in obj.attrs:
        if k == "_NCProperties":  # names the writing library: checked on its own
            continue
        a = obj.attrs.get_id(k)
        item = (k, str(a.dtype), a.shape, a.get_type().get_class(), _value(f, obj.attrs[k]))
        if k in HIDDEN:
            hidden[k] = item
        else:
            user.append(item)
    return user, sorted(hidden.items())


def describe(path) -> list:
    """Every HDF5 object of a netCDF-4 file as comparable values (see the module docstring)."""
    with h5py.File(path, "r") as f:
        plist = f.id.get_create_plist()
        out = [(plist.get_link_creation_order(), plist.get_attr_creation_order(), f.libver),
               _attrs(f, f)]  # fmt: skip
        for name in f:  # link creation order
            d = f[name]
            p = d.id.get_create_plist()
            data = list(d[...].ravel()) if d.dtype.kind == "O" else d[...].tobytes()
            out.append((name, str(d.dtype), h5py.check_string_dtype(d.dtype), d.shape,
                        d.maxshape, d.chunks, d.compression, repr(d.fillvalue), p.get_layout(),
                        p.get_attr_creation_order(), p.get_fill_time(), p.get_alloc_time(),
                        _attrs(f, d), data))  # fmt: skip
        assert bytes(f.attrs["_NCProperties"]).startswith(b"version=2,")
    return out


def _mixed() -> xr.Dataset:
    """Every kind of variable a run writes, plus a dimension without coordinates and scalars."""
    rng = np.random.default_rng(3)
    months = pd.date_range("2026-11-01", periods=4, freq="MS")
    revenue = rng.lognormal(size=(5, 4, 2))
    revenue[0, 0, 0] = np.nan
    ds = xr.Dataset(
        {
            "revenue": (("draw", "month", "segment"), revenue, {"units": "currency", "n": 3}),
            "accounts": (("draw", "month", "segment"), rng.integers(0, 9, (5, 4, 2))),
            "noise": (("draw", "k"), rng.normal(size=(5, 3)).astype(np.float32)),
            "label": ("account", np.array(["x", "yé", "z"], dtype=object)),
            "share": ("account", [0.1, np.nan, 0.3], {"description": "a share"}),
            "total": ((), 4.5),
            "count": ((), np.int32(7)),
            "flag": ("draw", np.array([True, False, True, True, False])),  # int8 + dtype attr
        },
        coords={
            "draw": np.arange(5),
            "month": months,
            "segment": ["smb", "enterprise"],
            "account": ["A1", "A2", "A3"],
            "account_segment": ("account", ["smb", "smb", "enterprise"]),
        },
        attrs={
            "seed": 7,
            "ratio": 0.25,
            "config": "a: 1\nb: [2]",
            "ids": [1, 2, 3],
            "empty": "",
            "f32": np.float32(1.5),
        },  # fmt: skip
    )
    ds["month"].attrs["description"] = "forecast month"
    return ds


@pytest.fixture(scope="module")
def run_dataset():
    """A real run (go-to-market on, cohorts and per-account forecast): every variable kind."""
    from simengine.api import simulate

    from .conftest import SMALL

    return simulate(SMALL)


@pytest.mark.parametrize("which", ["mixed", "run"])
def test_layout_matches_h5netcdf(tmp_path, which, request):
    ds = _mixed() if which == "mixed" else request.getfixturevalue("run_dataset")
    ds.to_netcdf(tmp_path / "ref.nc", engine="h5netcdf")
    write_dataset(ds, tmp_path / "fast.nc")
    ref, fast = describe(tmp_path / "ref.nc"), describe(tmp_path / "fast.nc")
    assert [o[0] for o in ref[2:]] == [o[0] for o in fast[2:]]  # same objects, same order
    for a, b in zip(ref, fast, strict=True):
        assert a == b
    with (
        xr.open_dataset(tmp_path / "ref.nc", engine="h5netcdf") as a,
        xr.open_dataset(tmp_path / "fast.nc", engine="h5netcdf") as b,
    ):
        xr.testing.assert_identical(a.load(), b.load())
        assert list(a.variables) == list(b.variables) and list(a.attrs) == list(b.attrs)
        xr.testing.assert_identical(b, ds)


def test_netcdf_c_reads_the_same(tmp_path, run_dataset):
    """netCDF-C (through netCDF4-python) sees the same dimensions, variables, attributes, data."""
    netCDF4 = pytest.importorskip("netCDF4")

    def view(path):
        with netCDF4.Dataset(path) as f:
            out = [[(d.name, len(d), d.isunlimited()) for d in f.dimensions.values()],
                   [(k, repr(f.getncattr(k))) for k in f.ncattrs() if k != "_NCProperties"]]  # fmt: skip
            for name, v in f.variables.items():
                v.set_auto_maskandscale(False)
                data = list(v[...].ravel()) if v.dtype is str else v[...].tobytes()
                out.append((name, v.dimensions, str(v.dtype), v.shape, v.chunking(),
                            [(k, repr(v.getncattr(k))) for k in v.ncattrs()], data))  # fmt: skip
            return out

    for ds in (_mixed(), run_dataset):
        ds.to_netcdf(tmp_path / "ref.nc", engine="h5netcdf")
        write_dataset(ds, tmp_path / "fast.nc")
        assert view(tmp_path / "ref.nc") == view(tmp_path / "fast.nc")
        with xr.open_dataset(tmp_path / "fast.nc", engine="netcdf4") as back:
            xr.testing.assert_identical(back.load(), ds)


def test_same_dataset_same_bytes(tmp_path):
    ds = _mixed()
    write_netcdf(ds, tmp_path / "a.nc")
    write_netcdf(ds, tmp_path / "b.nc")
    digest = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("a.nc", "b.nc")]
    assert digest[0] == digest[1]
    assert b"simengine=" in (tmp_path / "a.nc").read_bytes()  # the fast writer wrote it


@pytest.mark.parametrize(
    "change",
    [
        lambda ds: ds["revenue"].encoding.update(zlib=True, complevel=4),
        lambda ds: ds.encoding.update(unlimited_dims={"draw"}),
        lambda ds: ds.assign(k=("draw", np.arange(5.0))),  # h5netcdf's _nc4_non_coord_ case
        lambda ds: ds.isel(account=slice(0, 0)),
        lambda ds: ds.chunk({"draw": 2}),  # a lazy sweep merge: written chunk by chunk
        lambda ds: ds.assign_attrs({"": 1}),  # xarray's own checks refuse these three
        lambda ds: ds.assign_attrs(k=None),
        lambda ds: ds.assign_attrs(CLASS="x"),
    ],
    ids=[
        "compression",
        "unlimited",
        "name-clash",
        "empty-dimension",
        "dask",
        "attr-name",
        "attr-none",
        "attr-reserved",
    ],  # fmt: skip
)
def test_other_layouts_go_to_h5netcdf(tmp_path, change):
    """What the writer does not lay out it refuses before creating the file; write_netcdf then
    writes it with h5netcdf, which applies the encoding (or raises its own error)."""
    ds = _mixed()
    ds = change(ds) or ds
    with pytest.raises(Unsupported):
        write_dataset(ds, tmp_path / "x.nc")
    assert not (tmp_path / "x.nc").exists()
    try:
        ds.to_netcdf(tmp_path / "ref.nc", engine="h5netcdf")
    except Exception as exc:  # h5netcdf refuses it too: write_netcdf raises the same
        with pytest.raises(type(exc)):
            write_netcdf(ds, tmp_path / "out.nc")
        return
    write_netcdf(ds, tmp_path / "out.nc")
    assert describe(tmp_path / "out.nc") == describe(tmp_path / "ref.nc")
