"""Type and check the cells of each input table against the data contract.

Each ``parse_*`` function turns one raw table (as :func:`simengine.data.loader.read_table` read it)
into typed columns, and :func:`check_against_accounts` checks rows against their account.  Each
stops at the first bad cell in file order with a :class:`~simengine.data.errors.DataError` naming
the file, the column and the 1-based data row.  Blank cells of optional columns read as
:data:`BLANK_MEANS` says.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from simengine.data.errors import DataError
from simengine.data.months import format_month, parse_month_column

__all__ = [
    "BLANK_MEANS",
    "check_against_accounts",
    "parse_accounts",
    "parse_use_cases",
    "parse_usage",
]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})

log = logging.getLogger(__name__)

#: Optional columns whose blank cells mean "missing", and what a blank reads as.  A blank commit
#: is no commit (0); a blank revenue is a row without a billed amount (its price comes from the
#: account's other rows, :mod:`simengine.prices`); a blank flag is not recorded as covered /
#: engaged / supported (false).  ``contract_start_month`` is handled by :meth:`_Checker.month`.
BLANK_MEANS: dict[str, object] = {
    "commit_annual": 0.0,
    "revenue": np.nan,
    "csm_covered": False,
    "se_engaged": False,
    "se_supported": False,
}


class _Checker:
    """Parses the columns of one raw table, raising at the first bad cell."""

    def __init__(self, frame: pd.DataFrame, path: Path) -> None:
        self.frame = frame
        self.path = path

    def fail_first(self, column: str, mask: np.ndarray, describe) -> None:
        """Raise for the first row where ``mask`` holds; ``describe(i)`` says what is wrong."""
        if mask.any():
            i = int(np.argmax(mask))
            raise DataError(self.path, describe(i), column=column, row=i + 1)

    def raw(self, column: str, i: int) -> object:
        return self.frame[column].iloc[i]

    def text(self, column: str) -> np.ndarray:
        """Non-empty strings, stripped."""
        series = self.frame[column]
        values = series.astype(object).where(series.notna(), "").astype(str).str.strip()
        values = values.to_numpy(dtype=object)
        self.fail_first(column, values == "", lambda i: f"{column} is empty")
        return values

    def month(self, column: str, required: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Month numbers and a mask of empty cells (empty is an error when ``required``)."""
        numbers, missing, bad = parse_month_column(self.frame[column])
        if required:
            self.fail_first(column, missing, lambda i: "missing value")
        self.fail_first(
            column,
            bad,
            lambda i: f"not a month: {self.raw(column, i)!r} (expected YYYY-MM or a date)",
        )
        return numbers, missing

    def blanks(self, column: str, missing: np.ndarray) -> np.ndarray:
        """Refuse blank cells of a required column; log how many an optional one has."""
        if column not in BLANK_MEANS:
            self.fail_first(column, missing, lambda i: "missing value")
        elif missing.any():
            log.info(
                "%s: %d blank %s cell(s) read as missing (%s)",
                self.path.name,
                int(missing.sum()),
                column,
                BLANK_MEANS[column],
            )
        return missing

    def number(self, column: str) -> np.ndarray:
        """Finite numbers >= 0; blank cells of an optional column read as :data:`BLANK_MEANS`."""
        series = self.frame[column]
        if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(
            series.dtype
        ):
            text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
            missing = (text == "").to_numpy()
            values = pd.to_numeric(text.where(~missing, "0"), errors="coerce")
            values = values.to_numpy(dtype=np.float64)
            self.blanks(column, missing)
            self.fail_first(
                column,
                np.isnan(values) & ~_spelled_nan(text) & ~missing,
                lambda i: f"not a number: {self.raw(column, i)!r}",
            )
        else:
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
            missing = self.blanks(column, series.isna().to_numpy())
        self.fail_first(
            column,
            ~np.isfinite(values) & ~missing,
            lambda i: f"must be finite, got {self.raw(column, i)!r}",
        )
        self.fail_first(column, values < 0, lambda i: f"must be >= 0, got {values[i]:g}")
        if missing.any():
            values = np.where(missing, BLANK_MEANS[column], values)
        return values

    def boolean(self, column: str) -> np.ndarray:
        """true/false, 1/0 or yes/no (any case), or a boolean column."""
        series = self.frame[column]
        if pd.api.types.is_bool_dtype(series.dtype) and not series.isna().any():
            return series.to_numpy(dtype=bool)
        text = series.astype(object).where(series.notna(), "").astype(str).str.strip().str.lower()
        if pd.api.types.is_numeric_dtype(series.dtype):
            text = text.str.removesuffix(".0")  # a Parquet column of 0.0 / 1.0
        missing = self.blanks(column, (text == "").to_numpy())
        truth = text.isin(_TRUE).to_numpy()
        known = truth | text.isin(_FALSE).to_numpy() | missing
        self.fail_first(
            column,
            ~known,
            lambda i: f"not a boolean: {self.raw(column, i)!r} (expected true/false, 1/0, yes/no)",
        )
        return truth

    def unique(self, columns: list[str], keys: pd.DataFrame, what: str) -> None:
        """Raise at the first repeat of a key, naming the row that had it first."""
        repeated = keys.duplicated(keep="first").to_numpy()
        if repeated.any():
            i = int(np.argmax(repeated))
            first = int(np.argmax((keys == keys.iloc[i]).all(axis=1).to_numpy()))
            value = ", ".join(repr(str(self.raw(c, i)).strip()) for c in columns)
            raise DataError(
                self.path,
                f"duplicate {what} ({value}); first seen in row {first + 1}",
                column=columns[-1],
                row=i + 1,
            )


def _spelled_nan(text: pd.Series) -> np.ndarray:
    """Cells that spell out NaN: parsed, then reported as not finite rather than not a number."""
    return text.str.lower().isin({"nan", "-nan", "+nan"}).to_numpy()


def parse_accounts(frame: pd.DataFrame, path: Path, allowlist: set[str] | None) -> pd.DataFrame:
    check = _Checker(frame, path)
    out = pd.DataFrame({"account_id": check.text("account_id")})
    segment = check.text("segment")
    if allowlist is not None:
        known = ", ".join(sorted(allowlist))
        check.fail_first(
            "segment",
            ~np.isin(segment.astype(str), sorted(allowlist)),
            lambda i: f"unknown segment {segment[i]!r}; known segments: {known}",
        )
    out["segment"] = segment
    out["start_month"], _ = check.month("start_month")
    churn, active = check.month("churn_month", required=False)
    check.fail_first(
        "churn_month",
        ~active & (churn < out["start_month"].to_numpy()),
        lambda i: (
            f"churn_month {format_month(churn[i])} is before start_month "
            f"{format_month(out['start_month'].iloc[i])} (churn_month is the first month without "
            "the customer; equal to start_month is a failed onboarding)"
        ),
    )
    out["churn_month"] = pd.arrays.IntegerArray(churn, active)
    for column in ("csm_covered", "se_engaged"):
        if column in frame.columns:
            out[column] = check.boolean(column)
    if "commit_annual" in frame.columns:
        out["commit_annual"] = check.number("commit_annual")
    if "contract_start_month" in frame.columns:
        contract, none = check.month("contract_start_month", required=False)
        out["contract_start_month"] = pd.arrays.IntegerArray(contract, none)
    check.unique(["account_id"], out[["account_id"]], "account_id")
    return out


def parse_usage(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    check = _Checker(frame, path)
    out = pd.DataFrame({"account_id": check.text("account_id")})
    out["month"], _ = check.month("month")
    out["usage"] = check.number("usage")
    if "revenue" in frame.columns:
        out["revenue"] = check.number("revenue")
    check.unique(["account_id", "month"], out[["account_id", "month"]], "(account_id, month)")
    return out


def parse_use_cases(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    check = _Checker(frame, path)
    out = pd.DataFrame({"account_id": check.text("account_id")})
    out["use_case_id"] = check.text("use_case_id")
    out["start_month"], _ = check.month("start_month")
    out["se_supported"] = check.boolean("se_supported")
    check.unique(
        ["account_id", "use_case_id"],
        out[["account_id", "use_case_id"]],
        "(account_id, use_case_id)",
    )
    return out


def check_against_accounts(
    table: pd.DataFrame, path: Path, month_column: str, accounts: pd.DataFrame, accounts_path: Path
) -> None:
    """Every row's account exists, and its month lies in the account's [start, churn) window."""
    check = _Checker(table, path)
    index = pd.Index(accounts["account_id"])
    position = index.get_indexer(table["account_id"])
    ids = table["account_id"].to_numpy()
    check.fail_first(
        "account_id",
        position < 0,
        lambda i: f"account_id {ids[i]!r} is not in {accounts_path.name}",
    )
    month = table[month_column].to_numpy()
    start = accounts["start_month"].to_numpy()[position]
    churn = accounts["churn_month"].to_numpy(dtype=np.float64, na_value=np.inf)[position]
    check.fail_first(
        month_column,
        month < start,
        lambda i: (
            f"{month_column} {format_month(month[i])} is before the start_month "
            f"{format_month(start[i])} of account {ids[i]!r}"
        ),
    )
    check.fail_first(
        month_column,
        month >= churn,
        lambda i: (
            f"{month_column} {format_month(month[i])} is at or after the churn_month "
            f"{format_month(int(churn[i]))} of account {ids[i]!r}"
        ),
    )
