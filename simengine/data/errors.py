"""The one exception bad input data raises.

The command line turns a :class:`DataError` into exit code 2 and prints ``str(error)`` on stderr, so
the message is a single line that names the file, the column and the 1-based data row.
"""

from __future__ import annotations

from os import PathLike

__all__ = ["DataError"]


class DataError(ValueError):
    """An input table is missing, unreadable or breaks the data contract.

    Parameters
    ----------
    path : str or os.PathLike
        The file at fault (or the setting, e.g. ``"as_of"``, when no file is).
    message : str
        What is wrong, e.g. ``"usage must be >= 0, got -3.5"``.
    column : str, optional
        The column at fault; ``None`` for file-level errors (missing file, unknown suffix).
    row : int, optional
        The 1-based data row (the first row under the header is row 1); ``None`` when the error is
        about a column or the whole file.

    Attributes
    ----------
    path, column, row, message
        As given; ``path`` is a ``str``.

    Examples
    --------
    >>> str(DataError("usage.csv", "usage must be >= 0, got -1.0", column="usage", row=7))
    "usage.csv: column 'usage', row 7: usage must be >= 0, got -1.0"
    """

    def __init__(
        self,
        path: str | PathLike[str],
        message: str,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.path = str(path)
        self.column = column
        self.row = row
        # The CLI prints exactly one line: fold any newline a parser put into its message.
        self.message = " ".join(str(message).split())
        super().__init__(self._line())

    def _line(self) -> str:
        where = [self.path]
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        head = where[0] if len(where) == 1 else where[0] + ": " + ", ".join(where[1:])
        return f"{head}: {self.message}"

    def __str__(self) -> str:
        return self._line()

    def __reduce__(self):  # keep the attributes when pickled (joblib / multiprocessing launchers)
        return (type(self), (self.path, self.message, self.column, self.row))
