"""The per-process caches of runs that share a book (a sweep's jobs, a notebook's scenarios).

Four of them, each keyed so that a stale value cannot be returned: the posterior tree read from
file and its diagnostics gate (by path and modification stamp), the embedded books' data hashes (by
the book object itself) and what a run derives from its book alone (by the book's content hash).
Callers treat every value as read-only.
"""

from __future__ import annotations

import functools

__all__ = [
    "book_hash_of",
    "book_state_of",
    "derived",
    "gate_of",
    "known_hash",
    "posterior_of",
    "price_key",
]


@functools.lru_cache(maxsize=4)
def posterior_of(path: str, stamp: tuple[int, int], expected_hash: str):
    """``fitting.load_posterior``, cached by file and modification stamp: a sweep, or a notebook
    running many scenarios, reads the posterior once.  Callers treat the tree as read-only."""
    from simengine.fitting import load_posterior

    del stamp  # part of the cache key only
    return load_posterior(path, expected_hash=expected_hash)


@functools.lru_cache(maxsize=8)
def gate_of(path: str, stamp: tuple[int, int], expected_hash: str, gate: tuple) -> tuple[str, ...]:
    """``check_gate`` of the cached tree, cached by file, stamp and the gate's three settings: the
    diagnostics table (ArviZ R-hat/ESS over every parameter) costs ~1.5 s, once per sweep, not per job."""
    from simengine.config import FitConfig
    from simengine.fitting import check_gate

    max_rhat, min_ess_bulk, max_divergences = gate
    fit_cfg = FitConfig(
        max_rhat=max_rhat, min_ess_bulk=min_ess_bulk, max_divergences=max_divergences
    )
    return tuple(check_gate(posterior_of(path, stamp, expected_hash), fit_cfg))


# Books the jobs of one process share (a sweep's basic launcher, a notebook): book_hash, keyed by
# the book object itself (the embedded book is cached and read-only).  Two entries: a sweep uses
# one.  What a run derives from a book is remembered by derived below.
_BOOK_HASHES: dict[int, tuple[object, str]] = {}


def book_hash_of(book) -> str:
    """:func:`simengine.data.book_hash` of ``book``; an embedded book's remembered."""
    from simengine.data import book_hash

    # Only the embedded (synthetic, cached, read-only) books are remembered by identity: a book a
    # user passes in may be edited in place between calls, and a stale hash would reuse the
    # wrong posterior check and kernel state.
    embedded = str(getattr(book, "source", {}).get("accounts", "")).startswith("synthetic(")
    hit = _BOOK_HASHES.get(id(book)) if embedded else None
    if hit is not None and hit[0] is book:
        return hit[1]
    value = book_hash(book)
    if not embedded:
        return value
    if len(_BOOK_HASHES) >= 2:
        _BOOK_HASHES.clear()
    _BOOK_HASHES[id(book)] = (book, value)
    return value


def price_key(account_price) -> str:
    """A key for a price Series (its values and account ids) or a segment -> price mapping."""
    import hashlib

    import numpy as np

    if hasattr(account_price, "to_numpy"):
        return hashlib.sha256(
            np.ascontiguousarray(account_price.to_numpy(dtype=float)).tobytes()
            + "\x00".join(map(str, account_price.index)).encode()
        ).hexdigest()
    return repr(sorted(dict(account_price).items()))


# What a run derives from its book alone (the kernel's per-account arrays, prices, observed
# history, usage signals), keyed by the book's data hash (a content hash: safe for any book) and
# the derivation's other inputs.  A sweep's jobs share them; callers treat the values as
# read-only.  Bounded: a few books' worth.
_DERIVED: dict[tuple, object] = {}
_DERIVED_MAX = 16


def derived(key: tuple, compute):
    """``compute()``, remembered under ``key`` (which starts with the book's data hash)."""
    if key in _DERIVED:
        return _DERIVED[key]
    value = compute()
    if len(_DERIVED) >= _DERIVED_MAX:
        _DERIVED.pop(next(iter(_DERIVED)))  # oldest first
    _DERIVED[key] = value
    return value


def known_hash(book, data_hash: str | None) -> str | None:
    """The book's data hash when it costs nothing: given, or an embedded book's (cached)."""
    if data_hash is not None:
        return data_hash
    if str(getattr(book, "source", {}).get("accounts", "")).startswith("synthetic("):
        return book_hash_of(book)
    return None


def book_state_of(book, data_hash: str, segments: tuple[str, ...], account_price, rules=None):
    """:func:`engine.book_state`, cached by data hash, segments, the prices' bytes and the churn
    rules (the kernel only reads the arrays, so jobs on the same book share them)."""
    from simengine.engine import book_state

    key = (data_hash, "state", segments, price_key(account_price), rules)
    return derived(key, lambda: book_state(book, segments, account_price, rules))
