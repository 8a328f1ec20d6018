"""One scenario run, top to bottom: config -> book -> posterior -> prices -> params -> kernel -> dataset.

:func:`check_run` does everything that can refuse a run before any work (the posterior's data hash
and diagnostics gate, dead keys, the first forecast month); :func:`simulate_config` runs it.  The
CLI's pre-check and :func:`simengine.simulate` both call :func:`check_run`, so the command line and
Python refuse the same configs with the same one-line message.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import xarray as xr

from simengine.config import (
    Config,
    ConfigError,
    RunFacts,
    check_live,
    config_yaml,
    currency_of,
)
from simengine.config.company import check_company_live
from simengine.config.compose import attribute, default_config
from simengine.config.hashing import yaml_hash
from simengine.config.scenarios import ScenarioFile
from simengine.kernels.layout import V_ACTIVE, Params
from simengine.version import __version__

log = logging.getLogger("simengine")
#: The fit ``run`` makes of a user's book (minutes): the CLI shows these lines while it pre-checks.
fit_log = logging.getLogger("simengine.own_fit")

__all__ = [
    "ASSUMPTIONS",
    "CheckedRun",
    "check_run",
    "fit_cache_path",
    "group_choices",
    "load_checked_posterior",
    "simulate_block",
    "simulate_config",
]


@functools.lru_cache(maxsize=4)
def _load_posterior(path: str, stamp: tuple[int, int], expected_hash: str):
    """``fitting.load_posterior``, cached by file and modification stamp: a sweep, or a notebook
    running many scenarios, reads the posterior once.  Callers treat the tree as read-only."""
    from simengine.fitting import load_posterior

    del stamp  # part of the cache key only
    return load_posterior(path, expected_hash=expected_hash)


@functools.lru_cache(maxsize=8)
def _gate(path: str, stamp: tuple[int, int], expected_hash: str, gate: tuple) -> tuple[str, ...]:
    """``check_gate`` of the cached tree, cached by file, stamp and the gate's three settings: the
    diagnostics table (ArviZ R-hat/ESS over every parameter) costs ~1.5 s, once per sweep, not per job."""
    from simengine.config import FitConfig
    from simengine.fitting import check_gate

    max_rhat, min_ess_bulk, max_divergences = gate
    fit_cfg = FitConfig(
        max_rhat=max_rhat, min_ess_bulk=min_ess_bulk, max_divergences=max_divergences
    )
    return tuple(check_gate(_load_posterior(path, stamp, expected_hash), fit_cfg))


# Books the jobs of one process share (a sweep's basic launcher, a notebook): book_hash, keyed by
# the book object itself (the embedded book is cached and read-only).  Two entries: a sweep uses
# one.  What a run derives from a book is remembered by _derived below.
_BOOK_HASHES: dict[int, tuple[object, str]] = {}


def _book_hash(book) -> str:
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


def _price_key(account_price) -> str:
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


def _derived(key: tuple, compute):
    """``compute()``, remembered under ``key`` (which starts with the book's data hash)."""
    if key in _DERIVED:
        return _DERIVED[key]
    value = compute()
    if len(_DERIVED) >= _DERIVED_MAX:
        _DERIVED.pop(next(iter(_DERIVED)))  # oldest first
    _DERIVED[key] = value
    return value


def _known_hash(book, data_hash: str | None) -> str | None:
    """The book's data hash when it costs nothing: given, or an embedded book's (cached)."""
    if data_hash is not None:
        return data_hash
    if str(getattr(book, "source", {}).get("accounts", "")).startswith("synthetic("):
        return _book_hash(book)
    return None


def _book_state(book, data_hash: str, segments: tuple[str, ...], account_price, rules=None):
    """:func:`engine.book_state`, cached by data hash, segments, the prices' bytes and the churn
    rules (the kernel only reads the arrays, so jobs on the same book share them)."""
    from simengine.engine import book_state

    key = (data_hash, "state", segments, _price_key(account_price), rules)
    return _derived(key, lambda: book_state(book, segments, account_price, rules))


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
        path, own = _own_fit(cfg, book, data_hash or _book_hash(book)), True
    if path is None:
        return None, None, False, []

    from simengine.fitting import PosteriorError

    stat = Path(path).stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    expected = data_hash or _book_hash(book)
    try:
        tree = _load_posterior(str(path), stamp, expected)
    except PosteriorError:
        if not embedded:
            raise
        # The embedded posterior belongs to the default synthetic book; another synthetic book
        # (different size or seed) is simulated from assumptions instead.
        log.info("the embedded posterior belongs to the default synthetic book; using assumptions")
        return None, None, False, []
    gate = (cfg.fit.max_rhat, cfg.fit.min_ess_bulk, cfg.fit.max_divergences)
    problems = list(_gate(str(path), stamp, expected, gate))
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


@dataclass
class CheckedRun:
    """What :func:`check_run` found: the posterior tree (or None), its provenance, the prices."""

    tree: object
    path: str | None
    embedded: bool
    problems: list
    prices: object
    segments: tuple[str, ...]


def _posterior_segments(tree) -> tuple[str, ...]:
    post = tree["posterior"]
    return tuple(str(s) for s in post["segment"].values) if "segment" in post.coords else ()


def _fitted(tree, segments: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """Parameter name -> book segments whose value the posterior supplies."""
    if tree is None:
        return {}
    from simengine.fitting.draws import PARAMETER_NAMES

    post = tree["posterior"]
    in_post = set(_posterior_segments(tree))
    out = {}
    for name in PARAMETER_NAMES:
        if name in post.data_vars:
            per_segment = "segment" in post[name].dims
            out[name] = frozenset(s for s in segments if not per_segment or s in in_post)
    if "ramp_log" in out:
        # The fitted onboarding curve replaces the two-parameter ramp it was built from.
        for name in ("ramp_start", "ramp_months"):
            out[name] = out.get(name, frozenset()) | out["ramp_log"]
    return out


def check_run(
    cfg: Config,
    book,
    scenario: ScenarioFile | None = None,
    data_hash: str | None = None,
    fit_missing: bool = True,
) -> CheckedRun:
    """Refuse ``cfg`` on ``book`` before any work: posterior gate, dead keys, months, prices.

    ``fit_missing``: fit a user's book that has no posterior (:func:`load_checked_posterior`);
    False checks the rest as if it had none (the backtest's pre-check: the backtest fits its own).
    """
    from simengine.prices import account_prices

    segments = tuple(book.segments)
    known = _known_hash(book, data_hash)
    unit_price = dict(cfg.market.unit_price)
    if known is None:
        prices = account_prices(book, unit_price)
    else:  # every job of a sweep on this book prices it the same way
        key = (known, "prices", tuple(sorted(unit_price.items())))
        prices = _derived(key, lambda: account_prices(book, unit_price))
    facts = RunFacts(
        segments=segments,
        first_month=int(book.as_of) + 1,
        last_month=int(book.as_of) + cfg.sim.horizon_months,
        data_priced=prices.data_priced,
        fitted={},
        use_cases=book.has_use_cases,
    )
    reference = default_config(cfg.market.new_logos)
    try:
        if cfg.fit.posterior is None and cfg.data.accounts is not None:
            # A user's book may be fitted next (minutes): first refuse what no fit can make
            # live (a fitted parameter only adds refusals), so a typo costs no fit.
            check_live(cfg, reference, facts)
        check_company_live(cfg, segments)
        tree, path, embedded, problems = load_checked_posterior(cfg, book, data_hash, fit_missing)
        facts = dataclasses.replace(facts, fitted=_fitted(tree, segments))
        check_live(cfg, reference, facts)
    except ConfigError as exc:
        raise attribute(exc, scenario) from None
    return CheckedRun(tree, path, embedded, problems, prices, segments)


def _posterior_draws(cfg: Config, checked: CheckedRun):
    """Joint posterior draws for the run, or None; plus provenance attrs."""
    if checked.tree is None:
        if cfg.fit.posterior == ASSUMPTIONS and cfg.data.accounts is not None:
            # Asked for: the example company's assumptions on a book of the user's own.
            what = (
                "assumptions of the example company (fit.posterior=none; not fitted to this book)"
            )
        else:
            what = "assumptions (config defaults, not fitted)"
        return None, (), {"parameters": what}
    from simengine.fitting import posterior_draws

    present = [s for s in checked.segments if s in _posterior_segments(checked.tree)]
    draws = posterior_draws(checked.tree, cfg.sim.draws, cfg.seed, present)
    tree = checked.tree
    own = cfg.fit.posterior is None and cfg.data.accounts is not None
    note = (
        " (embedded default)"
        if checked.embedded
        else " (run's cached fit of this book)"
        if own
        else ""
    )
    attrs = {
        "parameters": "fitted posterior" + note,
        "posterior": str(checked.path),
        "posterior_data_hash": str(tree.attrs.get("data_hash", "")),
        "posterior_created_at": str(tree.attrs.get("created_at", "")),
        "posterior_method": str(tree.attrs.get("method", "")),
    }
    if checked.problems:
        attrs["posterior_gate"] = "; ".join(checked.problems)
    return draws, tuple(present), attrs


def assumed_effects(cfg: Config, posterior) -> tuple[str, ...]:
    """Churn hazard ratios held at 1 for this run: ``csm_hazard_ratio`` when the posterior's
    churn rates were fitted on a book without ``csm_covered`` (so they are the book's churn at its
    own coverage, whatever it was: an assumed coverage effect on top would count coverage twice
    and bias every account's churn down) and the config does not set the ratio itself."""
    if posterior is None or "churn_alpha" not in posterior or "csm_hazard_ratio" in posterior:
        return ()
    if cfg.market.new_logos == "capacity":
        # The go-to-market model acts on the change from today's coverage (gtm.drivers), which the
        # fitted rates already hold: the ratio moves only what changes, so nothing is counted twice.
        return ()
    default = default_config(cfg.market.new_logos).model.csm_hazard_ratio
    return ("csm_hazard_ratio",) if cfg.model.csm_hazard_ratio == default else ()


def _company_attr(cfg: Config) -> str:
    """Whose team the run's plans are relative to, in words (the ``company`` attr)."""
    team = cfg.company.team
    if not team:
        return "not described (market=rate: new logos continue the book's fitted history)"
    heads = ", ".join(f"{t.headcount} {r}" for r, t in team.items() if t.headcount)
    whose = "example company" if cfg.data.accounts is None else "company.team"
    self_serve = [s for s, c in cfg.company.channels.items() if c == "self_serve"]
    tail = f"; self-serve segments: {', '.join(self_serve)}" if self_serve else ""
    return f"{whose}: {heads or 'no heads'}{tail}"


def churn_rules(checked: CheckedRun):
    """The churn rules the run simulates: those the posterior records (the fit's), the defaults
    without a posterior (:class:`simengine.bookstats.ChurnRules`)."""
    from simengine.bookstats import ChurnRules

    if checked.tree is None:
        return ChurnRules()
    attrs = dict(checked.tree["posterior"].attrs) | dict(checked.tree.attrs)
    try:
        return ChurnRules.from_attrs(attrs)
    except ValueError as exc:
        raise ConfigError(f"config key 'fit.posterior' = {checked.path!r}: {exc}") from None


#: The name a run without ``scenario=NAME`` records as its scenario.
DEFAULT_SCENARIO = "default"


@functools.lru_cache(maxsize=1)
def _config_defaults() -> dict[str, str | None]:
    """The group choices ``configs/config.yaml``'s defaults list makes, in its order."""
    import yaml

    from simengine.config import CONFIG_DIR

    with open(CONFIG_DIR / "config.yaml", encoding="utf-8") as f:
        defaults = yaml.safe_load(f).get("defaults", [])
    return {
        str(k): (None if v is None else str(v))
        for entry in defaults
        if isinstance(entry, dict)
        for k, v in entry.items()
        if not str(k).startswith(("hydra", "override"))
    }


def group_choices(overrides=(), scenario: ScenarioFile | None = None) -> dict[str, str | None]:
    """The config-group options a composition picks (``{"market": "capacity", "staffing":
    "balanced", ..., "scenario": None}``), as Hydra resolves them: ``configs/config.yaml``'s
    defaults, then the scenario file's own picks, then the overrides' group choices (the command
    line wins over a scenario file).  For runs composed outside a Hydra app (the Python API),
    which has no ``hydra.runtime.choices`` to read."""
    choices = dict(_config_defaults())  # a copy: the cached one stays as read
    if scenario is not None:
        choices.update(scenario.groups)
        choices["scenario"] = scenario.path.stem
    for o in overrides:
        key, sep, value = str(o).partition("=")
        key = key.lstrip("+~")
        if sep and key in choices and "." not in key:
            choices[key] = None if value.strip() in ("", "null") else value.strip()
    return choices


def _run_choices(scenario: ScenarioFile | None) -> dict[str, str | None]:
    """The group choices of the running Hydra job (``simengine run``, each job of a sweep), else
    those :func:`group_choices` infers from the scenario file alone."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        runtime = HydraConfig.get().runtime.choices
        return {str(k): v for k, v in runtime.items() if not str(k).startswith("hydra")}
    return group_choices((), scenario)


def choice_attrs(choices: dict[str, str | None]) -> dict[str, str]:
    """``scenario`` (its name, :data:`DEFAULT_SCENARIO` when none) and ``config_groups`` (every
    other group's option, ``"market=capacity, staffing=balanced, comp=hybrid"``) for attrs."""
    name = choices.get("scenario") or DEFAULT_SCENARIO
    order = list(_config_defaults())  # the defaults list's order, whoever composed them
    keys = sorted(choices, key=lambda k: order.index(k) if k in order else len(order))
    groups = ", ".join(f"{k}={choices[k]}" for k in keys if k != "scenario" and choices[k])
    return {"scenario": str(name), "config_groups": groups}


def simulate_config(
    cfg: Config,
    book=None,
    scenario: ScenarioFile | None = None,
    kernel=None,
    resolved: str | None = None,
    choices: dict[str, str | None] | None = None,
) -> xr.Dataset:
    """Run the scenario ``cfg`` (already validated) and return the forecast dataset.

    ``resolved`` is ``config_yaml(cfg)`` when the caller has it already (``simengine run`` hashes
    it to decide whether a sweep's job is done): the YAML dump costs 0.05-0.2 s a job.

    ``choices``: the config-group options the run composed (:func:`group_choices`); None reads
    them from the running Hydra job, or from ``scenario`` alone.  They become the attrs
    ``scenario`` (its name, ``"default"`` when none) and ``config_groups``.

    ``kernel`` replaces :func:`simengine.engine.run_kernel` (same signature and result), e.g.
    :func:`simengine.distributed.run_kernel_distributed` to spread the draws over Dask workers.

    A fixed number of draws; ``sim.draws=auto`` is :func:`simengine.auto_draws.simulate_run`'s
    (which calls this module's :func:`simulate_block`, so the dependency runs one way).
    """
    return simulate_block(cfg, book, scenario, kernel, resolved, choices=choices)[0]


def _later_draws(obj, start: int, draws: int):
    """``obj`` (a dataclass whose arrays over draws have the draw first) with draws ``start ..
    draws - 1`` only: the parameters, staffing paths and drivers of a block of draws."""
    import numpy as np

    if start == 0:
        return obj
    later = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, np.ndarray) and value.ndim and value.shape[0] == draws:
            later[f.name] = value[start:]
    return dataclasses.replace(obj, **later)


def simulate_block(
    cfg: Config,
    book=None,
    scenario: ScenarioFile | None = None,
    kernel=None,
    resolved: str | None = None,
    *,
    draws_from: int = 0,
    accumulator=None,
    choices: dict[str, str | None] | None = None,
):
    """Draws ``draws_from .. cfg.sim.draws - 1`` of the run ``cfg``: ``(dataset, accumulator)``.

    Every random stream is keyed by absolute draw (posterior draws are a seeded permutation's
    first ``cfg.sim.draws``, assumption draws the first values of their own streams, the kernel's
    streams keyed by draw), so the block's draws are bitwise draws ``draws_from ..`` of a run of
    ``cfg.sim.draws`` draws.  Parameters, staffing and drivers are drawn for all draws and the
    block's taken (cheap next to the kernel).  The dataset's ``draw`` coordinate counts from
    ``draws_from``; its per-account forecast (dim ``account``) comes from ``accumulator`` (a
    :class:`simengine.accounts_forecast.AccountAccumulator` holding draws ``0 .. draws_from -
    1``, continued here; a new one when None) and covers every draw so far; its attr
    ``account_months`` counts the block's draws only.  :func:`simulate_config` is the block
    ``0 .. sim.draws - 1``; ``choices`` as there.
    """
    from simengine.accounts_forecast import AccountForecast
    from simengine.actuals import observed_actuals
    from simengine.data import book_from_config, format_month
    from simengine.engine import month_of_year, month_starts, run_kernel
    from simengine.history import HISTORY_VARIABLE, observed_retention, observed_revenue
    from simengine.params import build_parameters
    from simengine.results import make_dataset

    if book is None:
        book = book_from_config(cfg.data, need_usage=True)
    data_hash = _book_hash(book)
    checked = check_run(cfg, book, scenario, data_hash)
    segments = checked.segments
    posterior, post_segments, fit_attrs = _posterior_draws(cfg, checked)
    rules = churn_rules(checked)
    neutral = assumed_effects(cfg, posterior)
    first = int(book.as_of) + 1
    params = build_parameters(
        cfg,
        segments,
        posterior,
        post_segments,
        new_logo_price=checked.prices.new_logo,
        first_month=first,
        use_cases=book.has_use_cases,
        rules=rules,
        neutral=neutral,
    )
    n_draws = cfg.sim.draws
    if not 0 <= draws_from < n_draws:
        raise ValueError(f"draws_from = {draws_from}: the run has {n_draws} draws")
    for note in params.notes:
        warnings.warn(note, stacklevel=2)
    for key, value in params.overrides.items():
        log.warning("%s = %s replaces the fitted or assumed value", key, value)
    state = _book_state(book, data_hash, segments, checked.prices.account, rules)
    staffing = drivers = None
    from simengine.gtm.drivers import today_coverage

    coverage_today = today_coverage(state, checked.tree, segments)
    own_history: tuple[str, ...] = ()
    if cfg.market.new_logos == "capacity":
        from simengine.config.company import resolve_plan, today_plan
        from simengine.gtm import apply_drivers, simulate_plan

        today = today_plan(cfg.company)
        plan = resolve_plan(cfg.staffing, cfg.company)
        draws, horizon = cfg.sim.draws, cfg.sim.horizon_months
        staffing = simulate_plan(plan, draws, horizon, cfg.seed, today=today)
        reference = simulate_plan(today, draws, horizon, cfg.seed)
        drivers = apply_drivers(cfg, params, staffing, book, reference, coverage_today)
    else:
        from simengine.newlogos import apply_rate_history

        own_history = apply_rate_history(cfg, params, book, coverage_today)
        if cfg.data.accounts is not None and not cfg.company.team:
            log.info(
                "no company.team: new logos continue this book's fitted history (market=rate), "
                "no go-to-market outputs; describe today's team (company.team.<role>.headcount, "
                "...) to plan staffing"
            )
    if draws_from:
        params = _later_draws(params, draws_from, n_draws)
        if staffing is not None:
            staffing = _later_draws(staffing, draws_from, n_draws)
            drivers = _later_draws(drivers, draws_from, n_draws)
    signals = _derived((data_hash, "usage_signals"), lambda: AccountForecast.book_signals(book))
    accounts = AccountForecast(book, state, n_draws, signals=signals, accumulator=accumulator)
    out, cohort, coverage, _ = (kernel or run_kernel)(
        state,
        Params(params.seg_params, params.month_params),
        drivers.capacity if drivers is not None else None,
        draw_start=draws_from,
        seed=cfg.seed,
        month_of_year0=month_of_year(first),
        cohort_months=cfg.sim.cohort_months,
        threads=cfg.sim.threads,
        chunk_draws=cfg.sim.chunk_draws,
        progress=cfg.sim.progress,
        account_sink=accounts.add,
    )
    resolved = config_yaml(cfg) if resolved is None else resolved
    attrs = {
        "seed": cfg.seed,
        "config": resolved,
        "config_hash": yaml_hash(resolved),
        "simengine_version": __version__,
        "data_hash": data_hash,
        "data_source": "; ".join(f"{k}={v}" for k, v in book.source.items()),
        "as_of": format_month(book.as_of),
        "account_months": int(out[..., V_ACTIVE].sum()),
        "existing_accounts": state.n_accounts,
        "fitted_parameters": ", ".join(params.fitted) or "none",
        "default_segments": ", ".join(params.default_segments),
        "market": cfg.market.new_logos,
        "currency": currency_of(cfg.data) or "",
        "fiscal_year_start": int(cfg.data.fiscal_year_start),
        "prices": checked.prices.source,
        "use_case_process": (
            f"off for {', '.join(params.use_cases_off)} (no use_cases table; "
            "model.override.<segment>.use_case_rate turns it on)"
            if params.use_cases_off
            else "on"
        ),
        "overrides": "; ".join(f"{k} = {v}" for k, v in params.overrides.items()),
        **fit_attrs,
        **rules.to_attrs(),
        "neutral_effects": ", ".join(neutral) or "none",
        **choice_attrs(_run_choices(scenario) if choices is None else choices),
    }
    if scenario is not None:
        attrs["scenario_file"] = str(scenario.path)
    if params.notes:
        attrs["notes"] = " | ".join(params.notes)
    attrs["company"] = _company_attr(cfg)
    if own_history:
        attrs["new_logo_process"] = f"fitted history of the book for {', '.join(own_history)}"
    ds = make_dataset(
        out,
        cohort,
        months=month_starts(first, cfg.sim.horizon_months),
        segments=segments,
        attrs=attrs,
    )
    if draws_from:
        ds = ds.assign_coords(draw=ds["draw"].copy(data=ds["draw"].values + draws_from))
    ds = ds.merge(accounts.to_dataset(), combine_attrs="override")
    # The months the forecast continues, for charts that show history and forecast on one axis.
    history = _derived(
        (data_hash, HISTORY_VARIABLE, segments, _price_key(checked.prices.account)),
        lambda: observed_revenue(book, checked.prices.account, segments),
    )
    ds[HISTORY_VARIABLE] = history.copy(deep=True)  # the dataset is the caller's to change
    retention = _derived(
        (data_hash, "history_retention", segments, _price_key(checked.prices.account)),
        lambda: observed_retention(book, checked.prices.account, segments),
    )
    ds = ds.merge(retention.copy(deep=True), combine_attrs="override")
    # The book's own counts and retention before as_of: the rollups' actuals (simengine.actuals).
    actuals = _derived(
        (data_hash, "actuals", segments, _price_key(checked.prices.account)),
        lambda: observed_actuals(book, checked.prices.account, segments),
    )
    ds = ds.merge(actuals.copy(deep=True), combine_attrs="drop_conflicts")
    if staffing is not None:
        from simengine.config.company import sales_led
        from simengine.gtm import costs
        from simengine.gtm.comp import calibrate_quotas
        from simengine.results import add_gtm

        # Only the three totals costs() reads, of the sales-led segments (self-serve sign-ups are
        # nobody's bookings); a sum of the whole dataset costs ~0.04 s.
        sold = [s for s, led in zip(segments, sales_led(cfg.company, segments), strict=True) if led]
        parts = ds[["bookings", "new_logo_revenue", "existing_expansion_revenue"]]
        total = parts.sel(segment=sold).sum("segment")
        base = [total[k].transpose("draw", "month").values
                for k in ("bookings", "new_logo_revenue", "existing_expansion_revenue")]  # fmt: skip
        quotas = calibrate_quotas(cfg.comp, drivers, *base)
        cost = costs(cfg.comp, plan, staffing, *base, quotas=quotas)
        ds = add_gtm(ds, staffing, drivers, cost, coverage)
        ds.attrs.update(
            staffing=cfg.staffing.name,
            comp=cfg.comp.plan,
            # Per ramped AE-month, by forecast year (the first year's also as a number).
            bookings_quota=quotas.by_year("bookings")[0],
            consumption_quota=quotas.by_year("consumption")[0],
            quotas_by_year="bookings "
            + ", ".join(repr(q) for q in quotas.by_year("bookings"))
            + "; consumption "
            + ", ".join(repr(q) for q in quotas.by_year("consumption")),
            quotas=(
                "today's production: today's team held attains 100% each forecast year"
                if quotas.calibrated
                else "config"
            ),
        )
    return ds, accounts.accumulator
