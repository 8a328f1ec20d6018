"""Which models a book supports: ``fit.models`` empty means "what the data supports".

NumPy/pandas only (no PyMC), so the command line can refuse an unsupported model before it writes
anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from simengine.config.schema import MODEL_NAMES
from simengine.data.errors import DataError

if TYPE_CHECKING:
    from simengine.data import Book

__all__ = ["resolve_models", "supported_models"]

_NEEDS = {
    "usage": "a usage table (data.usage) with rows",
    "expansion": "a use_cases table (data.use_cases)",
}


def supported_models(book: Book) -> list[str]:
    """Models the book's tables support: churn always (the accounts table alone is an sBG), usage
    with usage rows, expansion with a use-case table."""
    supported = {"churn"}
    if len(book.usage):
        supported.add("usage")
    if book.use_cases is not None:
        supported.add("expansion")
    return [m for m in MODEL_NAMES if m in supported]


def resolve_models(requested: Sequence[str] | None, book: Book) -> list[str]:
    """The models to fit: ``requested``, or all the book supports when it is empty/None.

    Raises
    ------
    DataError
        (``fit.models``) A requested model is unknown or the book lacks the table it needs.
    """
    supported = supported_models(book)
    if not requested:
        return supported
    for name in requested:
        if name not in MODEL_NAMES:
            raise DataError("fit.models", f"unknown model {name!r}; known: {list(MODEL_NAMES)}")
        if name not in supported:
            raise DataError(
                "fit.models",
                f"model {name!r} needs {_NEEDS[name]}, which this book does not have "
                f"(it supports {supported}; leave fit.models empty to fit those)",
            )
    return [m for m in MODEL_NAMES if m in requested]
