"""Bad input files, shared by the loader tests and the command-line tests.

Each :class:`BadCase` starts from a small valid synthetic book written with ``write_book``, breaks
one cell, column or file, and says which file, column and 1-based data row the error must name.
The corruptions pick their rows from the data (the first churned account, the first account with
two use cases ...) so they stay valid if the generator changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from simengine.data import format_month, generate_book, month_number, write_book

# 40 accounts over 12 months: has churned accounts, accounts with several use cases, and writes in
# a few milliseconds.
SMALL_BOOK = generate_book(n_accounts=40, history_months=12, seed=7).book

Tables = dict[str, pd.DataFrame]


@dataclass(frozen=True)
class BadCase:
    """One broken input and the error it must produce."""

    name: str
    table: str  # the file the error must name
    column: str | None  # the column it must name (None: file-level error)
    # Mutates the raw tables (cells as read from the file) and returns the 1-based row at fault.
    corrupt: Callable[[Tables], int | None] = lambda tables: None
    # File-level damage after the tables are written (delete, rename, overwrite).
    damage: Callable[[dict[str, Path]], None] | None = None
    fmt: str = "csv"
    load_kwargs: dict = field(default_factory=dict)
    cli_overrides: tuple[str, ...] = ()
    cli: bool = True  # also run through the command line (needs only overrides it can express)


def write_bad_book(case: BadCase, folder: Path) -> tuple[dict[str, Path], int | None]:
    """Write the small book into ``folder`` broken as ``case`` says; return paths and bad row."""
    paths = write_book(SMALL_BOOK, folder, fmt=case.fmt)
    if case.fmt == "csv":
        tables = {t: pd.read_csv(p, dtype=str, keep_default_na=False) for t, p in paths.items()}
    else:
        tables = {t: pd.read_parquet(p) for t, p in paths.items()}
    row = case.corrupt(tables)
    for table, frame in tables.items():
        if case.fmt == "csv":
            frame.to_csv(paths[table], index=False)
        else:
            frame.to_parquet(paths[table], index=False)
    if case.damage is not None:
        case.damage(paths)
    return paths, row


def _set(table: str, column: str, row: int, value: object) -> Callable[[Tables], int]:
    """Corruption: put ``value`` into one cell (``row`` is 1-based)."""

    def corrupt(tables: Tables) -> int:
        frame = tables[table]
        if frame[column].dtype != object and not isinstance(value, type(frame[column].iloc[0])):
            frame[column] = frame[column].astype(object)
        frame.loc[row - 1, column] = value
        return row

    return corrupt


def _drop_column(table: str, column: str) -> Callable[[Tables], None]:
    def corrupt(tables: Tables) -> None:
        tables[table] = tables[table].drop(columns=column)

    return corrupt


def _first_churned(tables: Tables) -> int:
    churn = tables["accounts"]["churn_month"].astype(str)
    return int(np.flatnonzero((churn != "") & (churn != "None"))[0])


def _churn_before_start(tables: Tables) -> int:
    # churn_month == start_month is a failed onboarding (accepted); before it is impossible.
    accounts = tables["accounts"]
    i = _first_churned(tables)
    accounts.loc[i, "churn_month"] = format_month(month_number(accounts.loc[i, "start_month"]) - 1)
    return i + 1


def _duplicate_account(tables: Tables) -> int:
    tables["accounts"].loc[5, "account_id"] = tables["accounts"].loc[1, "account_id"]
    return 6


def _duplicate_usage_month(tables: Tables) -> int:
    usage = tables["usage"]
    same = usage["account_id"].to_numpy()[1:] == usage["account_id"].to_numpy()[:-1]
    i = int(np.flatnonzero(same)[2]) + 1  # a row whose account also has the row above
    usage.loc[i, "month"] = usage.loc[i - 1, "month"]
    return i + 1


def _usage_before_start(tables: Tables) -> int:
    usage = tables["usage"]
    i = 0  # the first usage row of the first account: its start month
    usage.loc[i, "month"] = format_month(month_number(usage.loc[i, "month"]) - 1)
    return i + 1


def _usage_at_churn(tables: Tables) -> int:
    accounts, usage = tables["accounts"], tables["usage"]
    account = accounts.loc[_first_churned(tables)]
    i = int(np.flatnonzero(usage["account_id"].to_numpy() == account["account_id"])[-1])
    usage.loc[i, "month"] = account["churn_month"]  # its last active month moved onto the churn
    return i + 1


def _duplicate_use_case(tables: Tables) -> int:
    cases = tables["use_cases"]
    same = cases["account_id"].to_numpy()[1:] == cases["account_id"].to_numpy()[:-1]
    i = int(np.flatnonzero(same)[0]) + 1
    cases.loc[i, "use_case_id"] = cases.loc[i - 1, "use_case_id"]
    return i + 1


def _empty_usage(tables: Tables) -> None:
    tables["usage"] = tables["usage"].iloc[:0]


def _delete(table: str) -> Callable[[dict[str, Path]], None]:
    return lambda paths: paths[table].unlink()


def _rename_txt(paths: dict[str, Path]) -> None:
    target = paths["usage"].with_suffix(".txt")
    paths["usage"].rename(target)
    paths["usage"] = target


def _garbage(paths: dict[str, Path]) -> None:
    paths["accounts"].write_bytes(b"this is not a parquet file\n" * 10)


ALLOWED = ("enterprise", "mid_market", "smb")

BAD_CASES = [
    BadCase("missing_file", "accounts", None, damage=_delete("accounts")),
    BadCase("unknown_suffix", "usage", None, damage=_rename_txt),
    BadCase("missing_column", "accounts", "segment", _drop_column("accounts", "segment")),
    BadCase("missing_usage_column", "usage", "usage", _drop_column("usage", "usage")),
    BadCase("empty_table", "usage", None, _empty_usage),
    BadCase("empty_account_id", "accounts", "account_id", _set("accounts", "account_id", 3, "")),
    BadCase("empty_segment", "accounts", "segment", _set("accounts", "segment", 2, " ")),
    BadCase(
        "unknown_segment",
        "accounts",
        "segment",
        _set("accounts", "segment", 4, "retail"),
        load_kwargs={"segments": ALLOWED},
        cli=False,
    ),
    BadCase(
        "bad_start_month", "accounts", "start_month", _set("accounts", "start_month", 4, "2026-13")
    ),
    BadCase(
        "missing_start_month", "accounts", "start_month", _set("accounts", "start_month", 5, "")
    ),
    BadCase("churn_before_start", "accounts", "churn_month", _churn_before_start),
    BadCase("duplicate_account", "accounts", "account_id", _duplicate_account),
    BadCase("bad_boolean", "accounts", "csm_covered", _set("accounts", "csm_covered", 7, "maybe")),
    BadCase(
        "negative_commit", "accounts", "commit_annual", _set("accounts", "commit_annual", 8, "-100")
    ),
    BadCase("usage_not_a_number", "usage", "usage", _set("usage", "usage", 10, "abc")),
    BadCase("negative_usage", "usage", "usage", _set("usage", "usage", 11, "-1.5")),
    BadCase("infinite_usage", "usage", "usage", _set("usage", "usage", 12, "inf")),
    BadCase("missing_usage", "usage", "usage", _set("usage", "usage", 13, "")),
    BadCase("bad_usage_month", "usage", "month", _set("usage", "month", 14, "not-a-month")),
    BadCase("duplicate_usage_month", "usage", "month", _duplicate_usage_month),
    BadCase("unknown_account", "usage", "account_id", _set("usage", "account_id", 15, "ZZZ9")),
    BadCase("usage_before_start", "usage", "month", _usage_before_start),
    BadCase("usage_at_churn", "usage", "month", _usage_at_churn),
    BadCase("duplicate_use_case", "use_cases", "use_case_id", _duplicate_use_case),
    BadCase(
        "use_case_unknown_account",
        "use_cases",
        "account_id",
        _set("use_cases", "account_id", 2, "ZZZ9"),
    ),
    BadCase(
        "bad_se_supported", "use_cases", "se_supported", _set("use_cases", "se_supported", 3, "2")
    ),
    BadCase("unreadable_parquet", "accounts", None, damage=_garbage, fmt="parquet"),
    BadCase(
        "parquet_negative_usage", "usage", "usage", _set("usage", "usage", 4, -2.0), fmt="parquet"
    ),
    BadCase(
        "parquet_bad_month", "usage", "month", _set("usage", "month", 6, "2026-00"), fmt="parquet"
    ),
]

# The command line reports every DataError through the same few lines of code, and each case there
# costs a fresh process (~1.5 s of imports), so the CLI test runs one case per kind of check (file,
# column, cell type, range, key, cross-table, as_of; CSV and Parquet) and leaves these variations of
# a kind already covered to the loader test.
_LOADER_ONLY = {
    "missing_usage_column", "empty_segment", "missing_start_month", "infinite_usage",
    "missing_usage", "duplicate_usage_month", "usage_before_start", "use_case_unknown_account",
    "bad_se_supported", "parquet_bad_month",
}  # fmt: skip
BAD_CASES = [replace(c, cli=False) if c.name in _LOADER_ONLY else c for c in BAD_CASES]
