"""One scenario run, top to bottom: config -> book -> posterior -> prices -> params -> kernel -> dataset.

:func:`check_run` does everything that can refuse a run before any work (the posterior's data hash
and diagnostics gate, dead keys, the first forecast month); :func:`simulate_config` runs it.  The
CLI's pre-check and :func:`simengine.simulate` both call :func:`check_run`, so the command line and
Python refuse the same configs with the same one-line message.

Around it: :mod:`simengine.run_posterior` finds and checks the posterior (the given one, the
embedded one, or ``run``'s own cached fit of a user's book), :mod:`simengine.run_cache` holds what
the jobs of one process share (the posterior read once, its gate, what a run derives from its
book), and :mod:`simengine.run_attrs` builds the forecast's provenance attrs.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass

import xarray as xr

from simengine.config import (
    Config,
    ConfigError,
    RunFacts,
    check_live,
    config_yaml,
)
from simengine.config.company import check_company_live
from simengine.config.compose import attribute, default_config
from simengine.config.scenarios import ScenarioFile
from simengine.kernels.layout import V_ACTIVE, Params
from simengine.run_attrs import gtm_attrs, run_attrs
from simengine.run_cache import book_hash_of, book_state_of, derived, known_hash, price_key
from simengine.run_posterior import ASSUMPTIONS, fit_log, load_checked_posterior

log = logging.getLogger("simengine")

__all__ = [
    "CheckedRun",
    "check_run",
    "fit_log",
    "simulate_block",
    "simulate_config",
]


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
    known = known_hash(book, data_hash)
    unit_price = dict(cfg.market.unit_price)
    if known is None:
        prices = account_prices(book, unit_price)
    else:  # every job of a sweep on this book prices it the same way
        key = (known, "prices", tuple(sorted(unit_price.items())))
        prices = derived(key, lambda: account_prices(book, unit_price))
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


def usage_rules(checked: CheckedRun):
    """The usage-change rule the run's set-up applies: the one the posterior records (the fit's),
    the default without a posterior (:class:`simengine.bookstats.changes.UsageRules`)."""
    from simengine.bookstats.changes import UsageRules

    return _recorded_rules(checked, UsageRules)


def churn_rules(checked: CheckedRun):
    """The churn rules the run simulates: those the posterior records (the fit's), the defaults
    without a posterior (:class:`simengine.bookstats.ChurnRules`)."""
    from simengine.bookstats import ChurnRules

    return _recorded_rules(checked, ChurnRules)


def _recorded_rules(checked: CheckedRun, rules_class):
    """``rules_class.from_attrs`` of the run's posterior; its defaults without one."""
    if checked.tree is None:
        return rules_class()
    attrs = dict(checked.tree["posterior"].attrs) | dict(checked.tree.attrs)
    try:
        return rules_class.from_attrs(attrs)
    except ValueError as exc:
        raise ConfigError(f"config key 'fit.posterior' = {checked.path!r}: {exc}") from None


def simulate_config(
    cfg: Config,
    book=None,
    scenario: ScenarioFile | None = None,
    kernel=None,
    resolved: str | None = None,
    choices: dict[str, str | None] | None = None,
    *,
    cohort_cells: bool = True,
) -> xr.Dataset:
    """Run the scenario ``cfg`` (already validated) and return the forecast dataset.

    ``resolved`` is ``config_yaml(cfg)`` when the caller has it already (``simengine run`` hashes
    it to decide whether a sweep's job is done): the YAML dump costs 0.05-0.2 s a job.

    ``choices``: the config-group options the run composed
    (:func:`simengine.run_attrs.group_choices`); None reads them from the running Hydra job, or
    from ``scenario`` alone.  They become the attrs ``scenario`` (its name, ``"default"`` when
    none) and ``config_groups``.

    ``cohort_cells``: False keeps no ``cohort_revenue`` (a sweep's job writes none; every other
    variable, ``expansion_multiple`` included, is the same bits).

    ``kernel`` replaces :func:`simengine.engine.run_kernel` (same signature and result), e.g.
    :func:`simengine.distributed.run_kernel_distributed` to spread the draws over Dask workers.

    A fixed number of draws; ``sim.draws=auto`` is :func:`simengine.auto_draws.simulate_run`'s
    (which calls this module's :func:`simulate_block`, so the dependency runs one way).
    """
    return simulate_block(
        cfg, book, scenario, kernel, resolved, choices=choices, cohort_cells=cohort_cells
    )[0]


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
    cohort_cells: bool = True,
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
    ``0 .. sim.draws - 1``; ``choices`` and ``cohort_cells`` as there.
    """
    from simengine.accounts_forecast import AccountForecast
    from simengine.data import book_from_config
    from simengine.engine import month_of_year, month_starts, run_kernel
    from simengine.params import build_parameters
    from simengine.results import make_dataset

    if book is None:
        book = book_from_config(cfg.data, need_usage=True)
    data_hash = book_hash_of(book)
    checked = check_run(cfg, book, scenario, data_hash)
    segments = checked.segments
    posterior, post_segments, fit_attrs = _posterior_draws(cfg, checked)
    rules = churn_rules(checked)
    change_rules = usage_rules(checked)
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
    state = book_state_of(book, data_hash, segments, checked.prices.account, rules, change_rules)
    gtm = _new_logo_plan(cfg, params, book, state, checked)
    if draws_from:
        params = _later_draws(params, draws_from, n_draws)
        gtm = gtm.later_draws(draws_from, n_draws)
    signals = derived((data_hash, "usage_signals"), lambda: AccountForecast.book_signals(book))
    accounts = AccountForecast(book, state, n_draws, signals=signals, accumulator=accumulator)
    out, cohort, coverage, later_revenue, _ = (kernel or run_kernel)(
        state,
        Params(params.seg_params, params.month_params),
        gtm.drivers.capacity if gtm.drivers is not None else None,
        draw_start=draws_from,
        seed=cfg.seed,
        month_of_year0=month_of_year(first),
        cohort_months=cfg.sim.cohort_months,
        cohort_cells=cohort_cells,
        threads=cfg.sim.threads,
        chunk_draws=cfg.sim.chunk_draws,
        progress=cfg.sim.progress,
        account_sink=accounts.add,
    )
    attrs = run_attrs(
        cfg,
        book,
        resolved=config_yaml(cfg) if resolved is None else resolved,
        data_hash=data_hash,
        account_months=int(out[..., V_ACTIVE].sum()),
        existing_accounts=state.n_accounts,
        params=params,
        prices_source=checked.prices.source,
        fit_attrs=fit_attrs,
        rules=rules,
        usage_rules=change_rules,
        neutral=neutral,
        choices=choices,
        scenario=scenario,
        own_history=gtm.own_history,
    )
    ds = make_dataset(
        out,
        cohort,
        later_revenue,
        months=month_starts(first, cfg.sim.horizon_months),
        segments=segments,
        attrs=attrs,
    )
    if draws_from:
        ds = ds.assign_coords(draw=ds["draw"].copy(data=ds["draw"].values + draws_from))
    ds = ds.merge(accounts.to_dataset(), combine_attrs="override")
    ds = _with_history(ds, book, data_hash, segments, checked.prices.account)
    if gtm.staffing is not None:
        ds = _with_gtm(ds, cfg, segments, gtm, coverage)
    return ds, accounts.accumulator


@dataclass
class _NewLogoPlan:
    """Where a run's new logos come from: a staffing plan (``market=capacity``: the plan, its
    simulated staffing paths and the drivers they give) or the book's fitted history
    (``market=rate``: the segments that continue it, ``own_history``)."""

    plan: object = None
    staffing: object = None
    drivers: object = None
    own_history: tuple[str, ...] = ()

    def later_draws(self, start: int, draws: int) -> _NewLogoPlan:
        """The same plan with draws ``start .. draws - 1`` of its staffing and drivers."""
        if self.staffing is None:
            return self
        return dataclasses.replace(
            self,
            staffing=_later_draws(self.staffing, start, draws),
            drivers=_later_draws(self.drivers, start, draws),
        )


def _new_logo_plan(cfg: Config, params, book, state, checked: CheckedRun) -> _NewLogoPlan:
    """The run's :class:`_NewLogoPlan`, for all ``cfg.sim.draws`` draws (``params`` of the rate
    market are filled with the book's fitted history in place)."""
    from simengine.gtm.drivers import today_coverage

    segments = checked.segments
    coverage_today = today_coverage(state, checked.tree, segments)
    if cfg.market.new_logos == "capacity":
        from simengine.config.company import resolve_plan, today_plan
        from simengine.gtm import apply_drivers, simulate_plan

        today = today_plan(cfg.company)
        plan = resolve_plan(cfg.staffing, cfg.company)
        draws, horizon = cfg.sim.draws, cfg.sim.horizon_months
        staffing = simulate_plan(plan, draws, horizon, cfg.seed, today=today)
        reference = simulate_plan(today, draws, horizon, cfg.seed)
        drivers = apply_drivers(cfg, params, staffing, book, reference, coverage_today)
        return _NewLogoPlan(plan, staffing, drivers)
    from simengine.newlogos import apply_rate_history

    own_history = apply_rate_history(cfg, params, book, coverage_today)
    if cfg.data.accounts is not None and not cfg.company.team:
        log.info(
            "no company.team: new logos continue this book's fitted history (market=rate), "
            "no go-to-market outputs; describe today's team (company.team.<role>.headcount, "
            "...) to plan staffing"
        )
    return _NewLogoPlan(own_history=own_history)


def _with_history(ds: xr.Dataset, book, data_hash: str, segments, account_price) -> xr.Dataset:
    """``ds`` with the book's months before the forecast: observed revenue (for charts that show
    history and forecast on one axis), retention, and the counts and retention the rollups report
    as actuals (:mod:`simengine.actuals`).  Each is derived from the book once a process."""
    from simengine.actuals import observed_actuals
    from simengine.history import HISTORY_VARIABLE, observed_retention, observed_revenue

    prices = price_key(account_price)
    history = derived(
        (data_hash, HISTORY_VARIABLE, segments, prices),
        lambda: observed_revenue(book, account_price, segments),
    )
    ds[HISTORY_VARIABLE] = history.copy(deep=True)  # the dataset is the caller's to change
    retention = derived(
        (data_hash, "history_retention", segments, prices),
        lambda: observed_retention(book, account_price, segments),
    )
    ds = ds.merge(retention.copy(deep=True), combine_attrs="override")
    actuals = derived(
        (data_hash, "actuals", segments, prices),
        lambda: observed_actuals(book, account_price, segments),
    )
    return ds.merge(actuals.copy(deep=True), combine_attrs="drop_conflicts")


def _with_gtm(ds: xr.Dataset, cfg: Config, segments, gtm: _NewLogoPlan, coverage) -> xr.Dataset:
    """``ds`` with the go-to-market outputs of a capacity run: staffing, drivers, costs at the
    calibrated quotas, and their attrs (:func:`simengine.run_attrs.gtm_attrs`)."""
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
    quotas = calibrate_quotas(cfg.comp, gtm.drivers, *base)
    cost = costs(cfg.comp, gtm.plan, gtm.staffing, *base, quotas=quotas)
    ds = add_gtm(ds, gtm.staffing, gtm.drivers, cost, coverage)
    ds.attrs.update(gtm_attrs(cfg, quotas))
    return ds
