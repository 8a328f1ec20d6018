"""``forecast.nc`` through h5py: the netCDF-4 file h5netcdf writes, without its per-variable cost.

``Dataset.to_netcdf(engine="h5netcdf")`` spends ~5 ms on each variable in h5netcdf's bookkeeping
(dimension look-ups through ``h5py.Group.__getitem__``, a dummy dimension scale per dimension that
is deleted and re-created when its coordinate variable arrives, scale references detached and
re-attached): ~0.35 CPU-s for the 73 variables of a run, against ~0.03 s for the bytes.
:func:`write_dataset` keeps xarray's side of the write (CF encoding of times, ``coordinates``
attributes, text as variable-length UTF-8, ``_FillValue``: the same ``xarray.backends`` calls
``to_netcdf`` makes) and lays the encoded variables out as h5netcdf does, with each HDF5 object
made once:

- the root group and every dataset track attribute (and the root link) creation order;
- a dimension with a coordinate variable is that variable, made an HDF5 dimension scale named
  after it; one without is a float32 scale named ``"This is a netCDF dimension but not a netCDF
  variable.%10d"``, created before the variables;
- ``_Netcdf4Dimid`` (int32, the dimension's id: order of first appearance) on every scale and,
  as netCDF-C does once data is written, on every variable with dimensions (its first
  dimension's id); ``_Netcdf4Coordinates`` (int32 ids of its dimensions) on every variable with
  dimensions; ``DIMENSION_LIST`` / ``REFERENCE_LIST`` from HDF5's own ``H5DSattach_scale``;
- ``_FillValue`` as a one-element array of the variable's type, user attributes in order
  (non-text scalars as one-element arrays), ``_NCProperties`` (``version=2``) last on the root.

Two things differ from h5netcdf's file: the order of the internal attributes (h5netcdf deletes
and re-creates some; readers look them up by name) and ``_NCProperties``, which names this writer.
A dataset with anything else (unlimited or empty dimensions, a variable named like a dimension
it does not index, compression or chunk encodings, enums, dask-backed data, names or attributes
xarray refuses) raises :class:`Unsupported` before the file is created, and the caller writes it
with h5netcdf.  ``tests/test_ncwrite.py`` checks the layout object by object against h5netcdf's
file, and the read-back through xarray (h5netcdf, and netCDF-C's netCDF4 engine where installed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["Unsupported", "write_dataset"]

#: HDF5 attributes the netCDF-4 format reserves (h5netcdf refuses them as user attributes).
_RESERVED = frozenset(
    ("REFERENCE_LIST", "CLASS", "DIMENSION_LIST", "NAME", "_Netcdf4Dimid",
     "_Netcdf4Coordinates", "_nc3_strict", "_NCProperties")
)  # fmt: skip
_NOT_A_VARIABLE = b"This is a netCDF dimension but not a netCDF variable."
#: Encoding keys that leave the HDF5 layout as h5netcdf's default (no filters, no chunks).
_NEUTRAL_ENCODING = {"chunks": None, "chunksizes": None, "zlib": False, "complevel": 0,
                     "shuffle": False, "fletcher32": False, "compression": None,
                     "compression_opts": None, "contiguous": True}  # fmt: skip


class Unsupported(Exception):
    """The dataset needs a netCDF feature this writer does not lay out (write it with h5netcdf)."""


def _encoded(ds):
    """``ds``'s variables and attributes as xarray hands them to the h5netcdf store."""
    from xarray import conventions
    from xarray.backends.common import WritableCFDataStore
    from xarray.backends.netCDF4_ import _encode_nc4_variable

    class _Encoder(WritableCFDataStore):  # only the encode step of a netCDF-4 store
        __slots__ = ()

        def encode_variable(self, variable, name=None):
            return _encode_nc4_variable(variable, name=name)

    variables, attrs = conventions.encode_dataset_coordinates(ds)
    return _Encoder().encode(variables, attrs)


def _attrs(attrs: dict) -> dict:
    """Attributes as h5netcdf stores them; names xarray or netCDF-4 refuse go to their checks."""
    if any(not isinstance(k, str) or not k or k in _RESERVED for k in attrs):
        raise Unsupported("an attribute name xarray or netCDF-4 refuses")
    return {k: _attr_value(a) for k, a in attrs.items()}


def _attr_value(value):
    """An attribute as h5netcdf stores it (non-text scalars as one-element arrays)."""
    dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    if dtype.kind not in "iufSUO" or (dtype.kind == "O" and not isinstance(value, str)):
        raise Unsupported(f"attribute of dtype {dtype}")
    if np.isscalar(value) and dtype.kind not in "SU":
        return np.atleast_1d(value)
    return value


def _plan(ds):
    """Check ``ds`` and return (dims {name: (id, size)}, [(name, variable, h5 dtype, fill)], attrs)."""
    import h5py
    from xarray.backends.netCDF4_ import _get_datatype

    if getattr(ds, "encoding", {}).get("unlimited_dims"):
        raise Unsupported("unlimited dimensions")
    if any(v.chunks is not None for v in ds.variables.values()):
        # Lazy (dask) data, e.g. a sweep merged by xarray: h5netcdf writes it chunk by chunk.
        raise Unsupported("dask-backed variables")
    variables, attrs = _encoded(ds)
    dims: dict[str, tuple[int, int]] = {}
    for v in variables.values():
        for d, n in v.sizes.items():
            dims.setdefault(d, (len(dims), n))
    if any(n == 0 for _, n in dims.values()):
        raise Unsupported("an empty dimension (h5netcdf chunks those)")
    plan = []
    for name, v in variables.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise Unsupported(f"variable name {name!r}")
        if name in dims and v.dims != (name,):
            raise Unsupported(f"{name!r}: a variable named like a dimension it does not index")
        extra = {k: e for k, e in v.encoding.items() if k not in ("source", "original_shape")}
        if any(_NEUTRAL_ENCODING.get(k, object()) != e for k, e in extra.items()):
            raise Unsupported(f"{name!r}: encoding {sorted(extra)}")
        dtype = _get_datatype(v, nc_format="NETCDF4")
        if dtype is str:
            dtype = h5py.string_dtype()
        elif np.dtype(dtype).kind not in "iuf" or np.dtype(dtype).metadata:
            raise Unsupported(f"{name!r}: dtype {dtype}")
        v_attrs = dict(v.attrs)
        fill = v_attrs.pop("_FillValue", None)
        if fill is not None and dtype.kind not in "iuf":
            raise Unsupported(f"{name!r}: a text fill value")
        plan.append((name, v, np.dtype(dtype), fill, _attrs(v_attrs)))
    return dims, plan, _attrs(attrs)


def write_dataset(ds, path: str | Path) -> Path:
    """Write ``ds`` (an ``xarray.Dataset``) to ``path`` as netCDF-4 (module docstring).

    Raises :class:`Unsupported`, before creating ``path``, for a dataset outside the layout this
    writer knows; the caller then writes it with ``to_netcdf(engine="h5netcdf")``.
    """
    import h5py
    from h5py import h5ds

    from simengine.version import __version__

    dims, plan, root_attrs = _plan(ds)
    with h5py.File(path, "w", track_order=True) as f:
        for k, a in root_attrs.items():
            f.attrs[k] = a
        scales = {}
        # Dimensions without a coordinate variable: a float32 scale each, created first.
        own = {name for name, v, *_ in plan if v.dims == (name,)}
        for d, (dimid, size) in dims.items():
            if d not in own:
                s = f.create_dataset(d, (size,), dtype=">f4", track_order=True)
                s.attrs["_Netcdf4Dimid"] = np.array(dimid, dtype=np.int32)
                h5ds.set_scale(s.id, _NOT_A_VARIABLE + f"{size:10}".encode("ascii"))
                scales[d] = s
        made = []
        for name, v, dtype, fill, v_attrs in plan:
            h5fill = None if fill is None else np.asarray(fill, dtype=dtype)
            out = f.create_dataset(name, v.shape, dtype=dtype, fillvalue=h5fill, track_order=True)
            if name in dims:  # a coordinate variable: the dimension's scale
                out.attrs["_Netcdf4Dimid"] = np.array(dims[name][0], dtype=np.int32)
                h5ds.set_scale(out.id, name.encode())
                scales[name] = out
            if v.dims:
                out.attrs["_Netcdf4Coordinates"] = np.array([dims[d][0] for d in v.dims], np.int32)
                if name not in dims:
                    out.attrs["_Netcdf4Dimid"] = np.array(dims[v.dims[0]][0], dtype=np.int32)
            if fill is not None:
                out.attrs["_FillValue"] = np.atleast_1d(h5fill)
            for k, a in v_attrs.items():
                out.attrs[k] = a
            data = np.asarray(v.values)
            if data.size:
                out[...] = data
            made.append((name, out, v.dims))
        for name, out, v_dims in made:
            if name not in dims:
                for i, d in enumerate(v_dims):
                    h5ds.attach_scale(out.id, scales[d].id, i)
        props = (
            f"version=2,simengine={__version__},hdf5={h5py.version.hdf5_version},"
            f"h5py={h5py.__version__}"
        )
        f.attrs["_NCProperties"] = np.array(props, dtype=h5py.string_dtype("ascii", len(props)))
    return Path(path)
