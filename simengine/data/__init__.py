"""The data layer: the input-table contract, its loader and validator, and the synthetic book.

Months are int64 month numbers ``year * 12 + (month - 1)`` everywhere inside the package
(:mod:`simengine.data.months`); files carry ``YYYY-MM``.
"""

from simengine.data.book import (
    Book,
    ObservationWindow,
    book_hash,
    observation_window,
    observed_lifetimes,
)
from simengine.data.errors import DataError
from simengine.data.loader import book_from_config, load_book
from simengine.data.months import format_month, month_number
from simengine.data.synth import SyntheticBook, default_book, generate_book
from simengine.data.synth_truth import DEFAULT_TRUTH, SynthTruth
from simengine.data.writer import write_book

__all__ = [
    "DEFAULT_TRUTH",
    "Book",
    "DataError",
    "ObservationWindow",
    "SynthTruth",
    "SyntheticBook",
    "book_from_config",
    "book_hash",
    "default_book",
    "format_month",
    "generate_book",
    "load_book",
    "month_number",
    "observation_window",
    "observed_lifetimes",
    "write_book",
]
