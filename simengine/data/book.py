"""The book of accounts: the validated input every later stage reads.

A :class:`Book` holds the three contract tables (see ``DESIGN.md``, *Input tables*) in one fixed
in-memory form, whichever file format they came from: months are int64 month numbers
(:mod:`simengine.data.months`), ids are strings, rows are sorted.  :func:`book_hash` fingerprints
that form, so a posterior fitted on a book can refuse to be used with another one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simengine.data.months import format_month

__all__ = [
    "ACCOUNT_COLUMNS",
    "REQUIRED_COLUMNS",
    "USAGE_COLUMNS",
    "USE_CASE_COLUMNS",
    "Book",
    "ObservationWindow",
    "book_hash",
    "observation_window",
    "observed_lifetimes",
]

#: Export shapes :attr:`Book.export_shape` tells apart.
FULL_EXPORT = "full"
SURVIVORS_EXPORT = "survivors-only"

# Column -> in-memory dtype, in the fixed order the Book keeps (and hashes) them.
ACCOUNT_COLUMNS: dict[str, str] = {
    "account_id": "str",
    "segment": "str",
    "start_month": "int64",
    "churn_month": "Int64",
    "csm_covered": "bool",
    "se_engaged": "bool",
    "commit_annual": "float64",
    "contract_start_month": "Int64",
}
USAGE_COLUMNS: dict[str, str] = {
    "account_id": "str",
    "month": "int64",
    "usage": "float64",
    "revenue": "float64",
}
USE_CASE_COLUMNS: dict[str, str] = {
    "account_id": "str",
    "use_case_id": "str",
    "start_month": "int64",
    "se_supported": "bool",
}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "segment", "start_month", "churn_month"),
    "usage": ("account_id", "month", "usage"),
    "use_cases": ("account_id", "use_case_id", "start_month", "se_supported"),
}
# Row order of each table: its unique key.
SORT_KEYS: dict[str, list[str]] = {
    "accounts": ["account_id"],
    "usage": ["account_id", "month"],
    "use_cases": ["account_id", "use_case_id"],
}
SCHEMAS: dict[str, dict[str, str]] = {
    "accounts": ACCOUNT_COLUMNS,
    "usage": USAGE_COLUMNS,
    "use_cases": USE_CASE_COLUMNS,
}


def canonical_table(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Put a table in the Book's fixed form: known columns in schema order, typed, rows sorted.

    Parameters
    ----------
    frame : pandas.DataFrame
        Already validated values of one table; unknown columns are dropped.
    table : {"accounts", "usage", "use_cases"}

    Returns
    -------
    pandas.DataFrame
        A new frame with a fresh ``RangeIndex``.
    """
    schema = SCHEMAS[table]
    columns = [c for c in schema if c in frame.columns]
    out = frame.loc[:, columns].astype({c: schema[c] for c in columns})
    return out.sort_values(SORT_KEYS[table], kind="stable", ignore_index=True)


@dataclass(frozen=True, eq=False)
class Book:
    """The account book: accounts, their monthly usage and use cases, observed up to ``as_of``.

    Build one with :func:`simengine.data.load_book` or :func:`simengine.data.generate_book`; both
    return tables in the fixed form described below.  The frames are shared, not copied: treat them
    as read-only (the embedded default book is cached).

    Parameters
    ----------
    accounts : pandas.DataFrame, one row per account
        ``account_id`` (str), ``segment`` (str), ``start_month`` (int64 month number),
        ``churn_month`` (Int64; ``pd.NA`` while active); optional ``csm_covered`` and
        ``se_engaged`` (bool), ``commit_annual`` (float64, currency, 0 without a commit) and
        ``contract_start_month`` (Int64).  Sorted by ``account_id``.
    usage : pandas.DataFrame, one row per account-month
        ``account_id`` (str), ``month`` (int64), ``usage`` (float64, units >= 0); optional
        ``revenue`` (float64).  Sorted by ``account_id``, ``month``.
    use_cases : pandas.DataFrame or None
        ``account_id``, ``use_case_id`` (str), ``start_month`` (int64), ``se_supported`` (bool).
        Sorted by ``account_id``, ``use_case_id``.
    as_of : int
        The last observed month number.  Nothing after it is in the three tables (see
        :func:`simengine.data.load_book`: a later ``churn_month`` than ``as_of + 1`` reads as active,
        later rows are moved to the ``future_*`` tables).
    source : dict of str to str
        Where each table came from: a path, or ``"synthetic(seed=..., n_accounts=...)"``.
    observed_from : int, optional
        First month of the churn observation window (``data.observed_from``).  ``None`` means
        the default, which depends on the :attr:`export_shape`: the first start month of a full
        export, the first usage month of a survivors-only one (:attr:`default_window_start`).
        Accounts that started before it and were still customers in it are left-truncated.
    future_accounts, future_usage, future_use_cases : pandas.DataFrame, optional
        What an explicit earlier ``as_of`` cut off, kept for scoring a backtest and never read by
        the fit or the simulation's starting state: the original rows of accounts that started
        after ``as_of`` or whose ``churn_month`` was moved (churn later than ``as_of + 1``), and
        usage / use-case rows after ``as_of``.  ``None`` when nothing was cut.

    Notes
    -----
    Two books are equal when their tables, ``as_of`` and observation window are equal; ``source``
    and the ``future_*`` tables do not take part (a book written to CSV and read back equals the
    original, and a fit cannot depend on the rows after ``as_of``).
    """

    accounts: pd.DataFrame
    usage: pd.DataFrame
    use_cases: pd.DataFrame | None
    as_of: int
    source: dict[str, str] = field(default_factory=dict)
    observed_from: int | None = None
    future_accounts: pd.DataFrame | None = None
    future_usage: pd.DataFrame | None = None
    future_use_cases: pd.DataFrame | None = None

    @property
    def segments(self) -> tuple[str, ...]:
        """Sorted unique segment names."""
        return tuple(sorted(self.accounts["segment"].unique().tolist()))

    @property
    def first_usage_month(self) -> int:
        """The first month with a usage row; without usage rows, the first start month."""
        if len(self.usage):
            return int(self.usage["month"].min())
        return int(self.accounts["start_month"].min())

    @property
    def export_shape(self) -> str:
        """Which export the accounts table is, detected from the data: ``"full"`` or
        ``"survivors-only"``.

        A *full* export lists every account ever acquired, including those that churned before
        the first usage month (they have no usage rows); a *survivors-only* export lists only the
        accounts still customers in the first usage month (and those that started later).  The
        book is survivors-only when some accounts started before the first usage month and none of
        them had churned by then; otherwise it is full (a book without usage rows, or one whose
        accounts all start inside the usage window, truncates nobody either way).
        """
        first = self.first_usage_month
        start = self.accounts["start_month"].to_numpy(np.int64)
        before = start < first
        if not len(self.usage) or not before.any():
            return FULL_EXPORT
        churn = self.accounts["churn_month"].to_numpy(np.float64, na_value=np.inf)
        return FULL_EXPORT if (before & (churn <= first)).any() else SURVIVORS_EXPORT

    @property
    def default_window_start(self) -> int:
        """The churn observation window's start without ``observed_from``: the first start month of
        a full export (every account is seen from its start; nobody is truncated), the first
        usage month of a survivors-only one (the accounts that predate it are left-truncated)."""
        if self.export_shape == FULL_EXPORT:
            return int(self.accounts["start_month"].min())
        return self.first_usage_month

    @property
    def window_start(self) -> int:
        """First month of the churn observation window: ``observed_from``, else the default rule.

        The churn likelihood and the new-logo counts read it; the usage and use-case models read
        :attr:`usage_window_start`."""
        return self.default_window_start if self.observed_from is None else int(self.observed_from)

    @property
    def usage_window_start(self) -> int:
        """First month the usage models read: the later of the first usage month and
        :attr:`window_start` (months before the first usage row have no usage to read)."""
        return max(self.window_start, self.first_usage_month)

    @property
    def has_use_cases(self) -> bool:
        """Whether the book came with a use-case table."""
        return self.use_cases is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Book):
            return NotImplemented
        if self.as_of != other.as_of or (self.use_cases is None) != (other.use_cases is None):
            return False
        if self.window_start != other.window_start:
            return False
        same_cases = self.use_cases is None or self.use_cases.equals(other.use_cases)
        same_tables = self.accounts.equals(other.accounts) and self.usage.equals(other.usage)
        return same_tables and same_cases

    __hash__ = None  # mutable frames inside: not usable as a dict key

    def __repr__(self) -> str:
        n_cases = 0 if self.use_cases is None else len(self.use_cases)
        return (
            f"Book({len(self.accounts)} accounts, {len(self.usage)} account-months, "
            f"{n_cases} use cases, segments={self.segments}, as_of={format_month(self.as_of)})"
        )


def _serialise(frame: pd.DataFrame, table: str) -> bytes:
    """Text form of one table that does not depend on the file format it was read from."""
    frame = canonical_table(frame, table)
    text = frame.copy()
    for column, dtype in SCHEMAS[table].items():
        if column not in text.columns:
            continue
        if dtype == "bool":
            text[column] = np.where(frame[column].to_numpy(), "true", "false")
        elif dtype == "Int64":
            text[column] = frame[column].astype("string").fillna("")
    # 12 significant digits: equal for values that went through a CSV file and back, and immune to
    # last-bit differences between float parsers.
    body = text.to_csv(index=False, float_format="%.12g", lineterminator="\n")
    return f"[{table}]\n".encode() + body.encode()


def book_hash(book: Book) -> str:
    """SHA-256 fingerprint of a book's data.

    Parameters
    ----------
    book : Book

    Returns
    -------
    str
        64 hex digits.  Equal for the same data read from CSV or Parquet: rows are sorted by key,
        columns are in schema order, floats are written with 12 significant digits, months as
        month numbers.  ``source`` and the ``future_*`` tables do not take part; ``observed_from``
        does when it differs from the default (:attr:`Book.default_window_start`, a function of
        the data).
    """
    digest = hashlib.sha256()
    digest.update(f"as_of={int(book.as_of)}\n".encode())
    if book.window_start != book.default_window_start:
        # Only a window that differs from the data's own default changes the fingerprint: setting
        # ``observed_from`` to the default window is the same book, with the same hash (and fit).
        digest.update(f"observed_from={book.window_start}\n".encode())
    digest.update(_serialise(book.accounts, "accounts"))
    digest.update(_serialise(book.usage, "usage"))
    if book.use_cases is not None:
        digest.update(_serialise(book.use_cases, "use_cases"))
    return digest.hexdigest()


def observed_lifetimes(book: Book) -> pd.DataFrame:
    """Each account's observed churn periods, as the churn model reads them.

    Parameters
    ----------
    book : Book

    Returns
    -------
    pandas.DataFrame, one row per account (in ``book.accounts`` order)
        ``account_id``, ``segment``, ``periods`` (int64: month boundaries observed,
        ``churn_month - start_month`` for a churned account, ``as_of - start_month`` for an active
        one), ``churned`` (bool: the last observed boundary was a churn) and ``entry`` (int64:
        boundaries survived before the observation window, ``window_start - start_month`` for an
        account that started before it and was still a customer in it, else 0: the likelihood
        conditions on surviving those).

        A ``churn_month`` of ``as_of + 1`` (the export convention "first month without the
        customer" for a churn right after the last observed month) is a churn at a boundary not
        yet observed: censored at ``as_of`` (``periods = as_of - start_month``, not churned).  A
        ``churn_month == start_month`` (failed onboarding) has ``periods == 0`` and churned.
    """
    accounts = book.accounts
    start = accounts["start_month"].to_numpy(dtype=np.int64)
    churn = accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)
    churned = churn <= book.as_of
    end = np.where(churned, np.nan_to_num(churn, posinf=0), book.as_of).astype(np.int64)
    window = book.window_start
    truncated = (start < window) & (churn > window)
    return pd.DataFrame(
        {
            "account_id": accounts["account_id"],
            "segment": accounts["segment"],
            "periods": end - start,
            "churned": churned,
            "entry": np.where(truncated, np.minimum(window, book.as_of) - start, 0),
        }
    )


@dataclass(frozen=True)
class ObservationWindow:
    """How a book's churn history is observed: the export shape and the window it implies.

    Attributes
    ----------
    shape : {"full", "survivors-only"}
        :attr:`Book.export_shape`, as detected from the data.
    start : int
        :attr:`Book.window_start` (month number).
    set_by : {"detected", "data.observed_from"}
        Whether ``data.observed_from`` set the window (it overrides the detected shape's default).
    first_usage_month : int
    churned_before_usage : int
        Accounts that started and churned before the first usage month (the mark of a full
        export).
    truncated : dict of str to int
        Left-truncated accounts per segment: started before the window and still customers in it.
    """

    shape: str
    start: int
    set_by: str
    first_usage_month: int
    churned_before_usage: int
    truncated: dict[str, int]

    def line(self) -> str:
        """The decision in one line, for the log and the fit's console summary."""
        from simengine.data.months import format_month

        truncated = ", ".join(f"{seg} {n}" for seg, n in self.truncated.items())
        how = (
            "set by data.observed_from"
            if self.set_by != "detected"
            else ("first start month" if self.shape == FULL_EXPORT else "first usage month")
        )
        return (
            f"export shape: {self.shape} ({self.churned_before_usage} accounts churned before the "
            f"first usage month {format_month(self.first_usage_month)}); churn window from "
            f"{format_month(self.start)} ({how}); left-truncated accounts: {truncated}"
        )

    def attrs(self) -> dict[str, str | int]:
        """Provenance attrs for a posterior (and its ``observed_data``)."""
        return {
            "export_shape": self.shape,
            "observed_from": int(self.start),
            "observed_from_set_by": self.set_by,
            "truncated_accounts": ", ".join(f"{s}={n}" for s, n in self.truncated.items()),
            "observation_window": self.line(),
        }


def observation_window(book: Book) -> ObservationWindow:
    """The book's export shape, churn window and left-truncated accounts per segment."""
    accounts = book.accounts
    first = book.first_usage_month
    start = accounts["start_month"].to_numpy(np.int64)
    churn = accounts["churn_month"].to_numpy(np.float64, na_value=np.inf)
    entry = observed_lifetimes(book)["entry"].to_numpy()
    segment = accounts["segment"].to_numpy()
    return ObservationWindow(
        shape=book.export_shape,
        start=int(book.window_start),
        set_by="detected" if book.observed_from is None else "data.observed_from",
        first_usage_month=first,
        churned_before_usage=int(((start < first) & (churn <= first)).sum())
        if len(book.usage)
        else 0,
        truncated={seg: int(((segment == seg) & (entry > 0)).sum()) for seg in book.segments},
    )
