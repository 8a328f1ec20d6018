"""The provenance attrs of a run's forecast dataset, built in one place.

:func:`run_attrs` is every attr :func:`simengine.pipeline.simulate_block` gives the forecast (seed,
config and its hash, version, the book's data hash and source, the posterior's provenance, the
rules and assumptions the run used, the scenario and config groups, the company), in the order
``forecast.nc`` stores them; :func:`gtm_attrs` adds the staffing plan's quotas.  The config-group
choices come from the running Hydra job or, for the Python API, from :func:`group_choices`.
"""

from __future__ import annotations

import functools

from simengine.config import Config, currency_of
from simengine.config.hashing import yaml_hash
from simengine.config.scenarios import ScenarioFile
from simengine.version import __version__

__all__ = ["DEFAULT_SCENARIO", "choice_attrs", "group_choices", "gtm_attrs", "run_attrs"]


def run_attrs(
    cfg: Config,
    book,
    *,
    resolved: str,
    data_hash: str,
    account_months: int,
    existing_accounts: int,
    params,
    prices_source: str,
    fit_attrs: dict,
    rules,
    neutral: tuple[str, ...],
    choices: dict[str, str | None] | None,
    scenario: ScenarioFile | None,
    own_history: tuple[str, ...],
) -> dict:
    """The attrs of the forecast dataset of the run ``cfg`` on ``book``, in their stored order.

    Parameters
    ----------
    resolved : str
        ``config_yaml(cfg)``: the ``config`` attr and its hash ``config_hash``.
    account_months : int
        Account-months the kernel simulated (active accounts summed over draws and months).
    existing_accounts : int
        Accounts of the book active at ``as_of``.
    params : simengine.params.Parameters
        Its ``fitted``, ``default_segments``, ``use_cases_off``, ``overrides`` and ``notes``.
    prices_source : str
        Where the run's prices come from (``checked.prices.source``).
    fit_attrs : dict
        The posterior's provenance (``parameters``, ``posterior``, ...).
    rules : simengine.bookstats.ChurnRules
        The churn rules simulated (their own attrs).
    neutral : tuple of str
        Effects held neutral (``neutral_effects``).
    choices : dict or None
        The config-group options (:func:`group_choices`); None reads the running Hydra job's.
    scenario : ScenarioFile or None
        The scenario file run (``scenario_file``).
    own_history : tuple of str
        Segments whose new logos continue the book's fitted history (``new_logo_process``).
    """
    from simengine.data import format_month

    attrs = {
        "seed": cfg.seed,
        "config": resolved,
        "config_hash": yaml_hash(resolved),
        "simengine_version": __version__,
        "data_hash": data_hash,
        "data_source": "; ".join(f"{k}={v}" for k, v in book.source.items()),
        "as_of": format_month(book.as_of),
        "account_months": account_months,
        "existing_accounts": existing_accounts,
        "fitted_parameters": ", ".join(params.fitted) or "none",
        "default_segments": ", ".join(params.default_segments),
        "market": cfg.market.new_logos,
        "currency": currency_of(cfg.data) or "",
        "fiscal_year_start": int(cfg.data.fiscal_year_start),
        "prices": prices_source,
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
    return attrs


def gtm_attrs(cfg: Config, quotas) -> dict:
    """The staffing plan, comp plan and quotas of a capacity run (``quotas``: the calibrated
    :func:`simengine.gtm.comp.calibrate_quotas`), added after the forecast's own attrs."""
    return dict(
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
