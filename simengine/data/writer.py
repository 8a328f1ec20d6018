"""Write a book to files in the contract's format: the inverse of :func:`~simengine.data.load_book`.

Used to hand the synthetic book to people and tools that expect files, and by the tests, which
corrupt a written book cell by cell.  Months are written as ``YYYY-MM``, an active account's
``churn_month`` as an empty cell, booleans as ``true``/``false`` in CSV; floats keep every digit,
so a written book loads back equal and with the same :func:`~simengine.data.book_hash`.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import pandas as pd

from simengine.atomic import atomic_path
from simengine.data.book import SCHEMAS, Book
from simengine.data.months import format_months

__all__ = ["write_book"]

_EXTENSIONS = {"csv": "csv", "parquet": "parquet"}


def _file_form(frame: pd.DataFrame, table: str, fmt: str) -> pd.DataFrame:
    """The table as it goes into a file: months as text, booleans as words in CSV."""
    out = frame.copy()
    for column, dtype in SCHEMAS[table].items():
        if column not in out.columns:
            continue
        if column.endswith("month"):
            out[column] = format_months(frame[column]).to_numpy(dtype=object)
        elif dtype == "bool" and fmt == "csv":
            out[column] = frame[column].map({True: "true", False: "false"})
    return out


def _write_atomic(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    # A reader never sees half a file: write beside the target, then rename over it.
    with atomic_path(path) as temp:
        if fmt == "csv":
            frame.to_csv(temp, index=False, lineterminator="\n")
        else:
            frame.to_parquet(temp, index=False)


def write_book(book: Book, folder: str | PathLike[str], fmt: str = "csv") -> dict[str, Path]:
    """Write ``accounts``, ``usage`` and (if present) ``use_cases`` into ``folder``.

    Parameters
    ----------
    book : Book
    folder : str or os.PathLike
        Created if missing; existing files of the same names are replaced.
    fmt : {"csv", "parquet"}

    Returns
    -------
    dict of str to pathlib.Path
        Table name -> file written (``accounts.csv``, ...).
    """
    if fmt not in _EXTENSIONS:
        raise ValueError(f"fmt must be 'csv' or 'parquet', got {fmt!r}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tables = {"accounts": book.accounts, "usage": book.usage}
    if book.use_cases is not None:
        tables["use_cases"] = book.use_cases
    written = {}
    for table, frame in tables.items():
        path = folder / f"{table}.{_EXTENSIONS[fmt]}"
        _write_atomic(_file_form(frame, table, fmt), path, fmt)
        written[table] = path
    return written
