"""The posterior a run uses: the one given, the embedded one, or ``run``'s own cached fit of a
user's book, read once a process and checked (data hash, diagnostics gate) before any work."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from simengine.config import Config, ConfigError
from simengine.run_cache import book_hash_of, gate_of, posterior_of
from simengine.version import __version__

log = logging.getLogger("simengine")
#: The fit ``run`` makes of a user's book (minutes): the CLI shows these lines while it pre-checks.
fit_log = logging.getLogger("simengine.own_fit")

__all__ = ["ASSUMPTIONS", "fit_cache_path", "fit_log", "load_checked_posterior"]


#: ``fit.posterior`` value that asks for the example company's assumptions instead of a fit.
ASSUMPTIONS = "none"

#: ``fit.*`` keys that do not change the posterior a fit writes (where it goes, whether ``run``
#: may fit, the gate that accepts or refuses it): left out of the cache key.
_NOT_FIT_SETTINGS = frozenset(
    {"posterior", "auto", "cache_dir", "allow_bad", "max_rhat", "min_ess_bulk", "max_divergences"}
)


def fit_cache_path(cfg: Config, data_hash: str) -> Path:
    """Where ``run`` keeps its fit of a user's book: ``fit.cache_dir/<key>/posterior.nc``.

    The key hashes what the posterior depends on: the book's data hash (``as_of`` and
    ``data.observed_from`` included), ``seed``, the package version and the fit settings
    (``fit.models``, ``method``, ``draws``, ``tune``, ``chains``, ...; not the gate's thresholds).
    Another setting or another book is another fit; the same ones reuse it.
    """
    import hashlib
    import json

    settings = {k: v for k, v in dataclasses.asdict(cfg.fit).items() if k not in _NOT_FIT_SETTINGS}
    key = json.dumps(
        {"data": data_hash, "seed": int(cfg.seed), "version": __version__, "fit": settings},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cfg.fit.cache_dir).expanduser() / digest / "posterior.nc"


def _own_fit(cfg: Config, book, data_hash: str) -> str:
    """The posterior of a user's book run without ``fit.posterior``: the cached fit, else a new
    fit written to the cache (:func:`fit_cache_path`); ConfigError when ``fit.auto`` is off."""
    path = fit_cache_path(cfg, data_hash)
    if path.is_file():
        log.info("reusing the cached fit of this book: %s (no fit needed)", path)
        return str(path)
    if not cfg.fit.auto:
        raise ConfigError(
            f"config key 'fit.auto' = False: data.accounts = {cfg.data.accounts!r} has no "
            "posterior (no fit.posterior, no cached fit); fit it first (simengine fit "
            "data.accounts=... data.usage=..., then fit.posterior=<run folder>/posterior.nc), "
            "let run fit it (fit.auto=true), or simulate the example company's assumptions "
            "(fit.posterior=none)"
        )
    from simengine.fitting import fit_to_folder

    fit_log.info(
        "no fit.posterior: fitting this book (fit.models=%s, %d x %d draws); the posterior is "
        "cached at %s and reused next time",
        list(cfg.fit.models) or "auto", cfg.fit.chains, cfg.fit.draws, path,
    )  # fmt: skip
    fit_to_folder(cfg, book, path.parent)
    fit_log.info("wrote the fit of this book: %s", path)
    return str(path)


def load_checked_posterior(
    cfg: Config, book, data_hash: str | None = None, fit_missing: bool = True
):
    """The posterior a run of ``cfg`` on ``book`` uses, checked: ``(tree, path, embedded, problems)``.

    ``fit.posterior`` must match the book's data hash and pass the diagnostics gate (unless
    ``fit.allow_bad``); otherwise :class:`PosteriorError` / :class:`ConfigError` says why in one
    line.  Without ``fit.posterior`` the embedded default book uses the shipped posterior (another
    synthetic book has none: ``tree`` is None) and a user's book (``data.accounts``) its own fit,
    cached (:func:`fit_cache_path`; fitted now unless ``fit_missing`` is False, which then returns
    no tree, or ``fit.auto`` is off, which refuses).  ``fit.posterior=none`` uses no posterior:
    the config's assumptions.
    """
    from simengine.fitting.default import DEFAULT_POSTERIOR

    path = cfg.fit.posterior
    embedded = own = False
    if path == ASSUMPTIONS:
        return None, None, False, []
    if path is None and cfg.data.accounts is None and DEFAULT_POSTERIOR.exists():
        path, embedded = str(DEFAULT_POSTERIOR), True
    if path is None and cfg.data.accounts is not None:
        if not fit_missing:
            return None, None, False, []
        path, own = _own_fit(cfg, book, data_hash or book_hash_of(book)), True
    if path is None:
        return None, None, False, []

    from simengine.fitting import PosteriorError

    stat = Path(path).stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    expected = data_hash or book_hash_of(book)
    try:
        tree = posterior_of(str(path), stamp, expected)
    except PosteriorError:
        if not embedded:
            raise
        # The embedded posterior belongs to the default synthetic book; another synthetic book
        # (different size or seed) is simulated from assumptions instead.
        log.info("the embedded posterior belongs to the default synthetic book; using assumptions")
        return None, None, False, []
    gate = (cfg.fit.max_rhat, cfg.fit.min_ess_bulk, cfg.fit.max_divergences)
    problems = list(gate_of(str(path), stamp, expected, gate))
    if problems and not cfg.fit.allow_bad:
        if own:
            raise ConfigError(
                f"config key 'fit.draws' = {cfg.fit.draws}: the fit of this book ({path}) fails "
                f"the diagnostics gate ({'; '.join(problems)}); refit with more draws or chains "
                "(fit.draws=..., fit.chains=...: another setting is another fit), or pass "
                "fit.allow_bad=true to use it anyway"
            )
        raise ConfigError(
            f"config key 'fit.posterior' = {path!r}: posterior fails the diagnostics gate "
            f"({'; '.join(problems)}); refit, or pass fit.allow_bad=true to use it anyway"
        )
    return tree, path, embedded, problems
