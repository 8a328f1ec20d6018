"""Compose the Hydra config tree exactly as the CLI does, with the scenario folders given.

:func:`compose_run` is the one path every entry point takes (``simengine run``'s pre-check,
``simengine.simulate``, ``simengine.fit``): it checks the selected scenario file (data only, keys of
the schema), registers the scenario folders, lets a segment of the user's own book be named without
Hydra's ``+`` syntax, composes, and turns the result into a validated :class:`Config`
(:func:`to_config`: today's company filled in, then :func:`simengine.config.validation.validate`).
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Sequence
from pathlib import Path

from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from simengine.config.company import (
    GTM_SECTIONS,
    complete_company,
    fill_company,
    leaves,
    no_company,
    validate_company,
)
from simengine.config.messages import closest, from_omegaconf, unknown_key
from simengine.config.scenarios import (
    CONFIG_DIR,
    ScenarioFile,
    find_scenario,
    load_scenario,
    register_configs,
    scenario_dirs,
    selected_scenario,
)
from simengine.config.schema import CapacityMarket, Config, ConfigError, MarketConfig
from simengine.config.validation import validate

__all__ = [
    "compose",
    "compose_run",
    "default_config",
    "load_config",
    "missing_scenario",
    "open_segment_maps",
    "to_config",
]

#: Maps keyed by segment (or role): an override may add a key to them without Hydra's `+`.
SEGMENT_MAPS = (
    "model.segments.",
    "model.override.",
    "adjust.segments.",
    "market.unit_price.",
    "market.new_logo_mix.",
    "market.new_logo_rate.",
    "company.team.",  # today's team: roles, and the segments' channels
    "company.channels.",
)


def open_segment_maps(overrides: Sequence[str]) -> list[str]:
    """Prefix ``++`` (add or replace) to overrides of keys inside a segment map.

    ``market.unit_price.startup=1.2`` then works for a book whose segment ``startup`` the shipped
    config does not name; whether the segment exists in the book is checked later
    (:mod:`simengine.config.live`), with a message naming the key.
    """
    out = []
    for o in overrides:
        if not o.startswith(("+", "~")) and o.startswith(SEGMENT_MAPS) and "=" in o:
            o = "++" + o
        out.append(o)
    return out


def compose(overrides: Sequence[str] = (), scenarios: Sequence[str | Path] = ()) -> DictConfig:
    """Compose the config tree with ``overrides`` and extra scenario folders (no run folder)."""
    return _compose(overrides, scenarios)[0]


def _compose(
    overrides: Sequence[str], scenarios: Sequence[str | Path]
) -> tuple[DictConfig, ScenarioFile | None]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    dirs = scenario_dirs(scenarios)
    scenario = None
    name = selected_scenario(overrides)
    if name is not None:
        path = find_scenario(name, dirs)
        if path is None:
            raise missing_scenario(name, dirs)
        scenario = _load_scenario(path)
    _register(dirs)
    opened = open_segment_maps(overrides)
    try:
        cfg = _compose_values(opened)
        if cfg is None:
            with (
                _own_hydra(),
                initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"),
            ):
                cfg = hydra_compose(config_name="config", overrides=opened)
    except (HydraException, OmegaConfBaseException) as exc:
        better = from_omegaconf(exc)
        if better is None:
            raise
        raise better from None
    for o in opened:
        key = o.split("=", 1)[0]
        if o.startswith("+") and not key.lstrip("+").startswith(("hydra.", "hydra/")):
            # `+key=value` / `++key=value` add keys even inside a structured node.
            check_schema_key(cfg, key.lstrip("+"))
    return cfg, scenario


def missing_scenario(name: str, dirs: Sequence[Path]) -> ConfigError:
    """``scenario=NAME`` with no ``NAME.yaml``: the folders searched, close names, ``--scenarios``."""
    names = sorted({p.stem for d in dirs for p in Path(d).glob("*.yaml")})
    near = closest(name, names)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}? " if near else ""
    return ConfigError(
        f"config key 'scenario' = {name!r}: no file {name}.yaml in "
        f"{', '.join(str(d) for d in dirs)}; {hint}(scenarios: {', '.join(names)}); "
        f"for a file in a folder of your own add --scenarios DIR "
        f"(simengine run --scenarios DIR scenario={name})"
    )


def _stamp(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=64)
def _load_scenario_cached(stamp: tuple[str, int, int]) -> ScenarioFile:
    return load_scenario(Path(stamp[0]))


def _load_scenario(path: Path) -> ScenarioFile:
    """:func:`load_scenario`, remembered by file and modification stamp (a sweep composes the
    same scenario file once per job; an edited file is read again).  Treat it as read-only."""
    return _load_scenario_cached(_stamp(Path(path)))


#: What the last :func:`_register` put into Hydra's ConfigStore: the folders' scenario files with
#: their stamps, and the ConfigStore's scenario table it made (``None`` before the first call).
_REGISTERED: list = [None, None]


def _register(dirs: Sequence[Path]) -> None:
    """:func:`register_configs`, skipped when the same scenario files (same stamps) are still the
    ones registered: checking and registering every scenario file costs ~0.15 s, once per job of
    a sweep otherwise.  Any other registration since (another folder) replaces the ConfigStore's
    scenario table, so the identity check below sees it and registers again."""
    from hydra.core.config_store import ConfigStore

    files = tuple(_stamp(p) for folder in dirs for p in sorted(Path(folder).glob("*.yaml")))
    key = (tuple(str(d) for d in dirs), files)
    table = ConfigStore.instance().repo.get("scenario")
    if _REGISTERED[0] == key and _REGISTERED[1] is table and table is not None:
        return
    register_configs(dirs)
    _REGISTERED[:] = [key, ConfigStore.instance().repo.get("scenario")]


#: Composed configs by their group choices (see :func:`_compose_values`); a few entries.
_BASES: dict[tuple, DictConfig] = {}


def _compose_values(overrides: Sequence[str]) -> DictConfig | None:
    """Compose as Hydra does, reusing the composition of the same group choices.

    Hydra composes in two steps: the defaults list (which only group overrides such as
    ``staffing=se_heavy`` or ``scenario=downturn`` change) is merged into a config, then every
    other override is applied to it in order (``ConfigLoaderImpl._apply_overrides_to_config``,
    after the root is set to struct mode).  The first step is ~90% of the ~0.1 s a compose costs,
    and a sweep of values (``staffing.ae_per_se=1,2,...``) repeats it for every job; this
    remembers it by the group overrides and the registered scenario files and runs only the
    second step, with Hydra's own function.  Returns None (compose in full) for what it does not
    cover: sweeps, ``hydra`` keys, dict values.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.config_store import ConfigStore

    try:  # Hydra's internal second step: a Hydra that moved it composes in full instead
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        apply_overrides = ConfigLoaderImpl._apply_overrides_to_config
    except (ImportError, AttributeError):  # pragma: no cover - other Hydra versions
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    stored = ConfigStore.instance().repo
    groups, values = [], []
    for o in parsed:
        key = o.key_or_group
        if o.is_sweep_override() or key.split("/")[0].split(".")[0] == "hydra":
            return None
        if isinstance(o.value(), dict):
            return None
        is_group = "." not in key and ((CONFIG_DIR / key).is_dir() or key in stored)
        (groups if is_group else values).append(o)
    table = stored.get("scenario")
    key = (_REGISTERED[0], id(table), tuple(o.input_line for o in groups))
    base = _BASES.get(key)
    if base is None:
        with _own_hydra(), initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            base = hydra_compose(config_name="config", overrides=[o.input_line for o in groups])
        if len(_BASES) >= 8:
            _BASES.clear()
        _BASES[key] = base
    cfg = copy.deepcopy(base)
    apply_overrides(values, cfg)
    return cfg


@contextlib.contextmanager
def _own_hydra():
    """Compose even inside a running Hydra app (a launcher's worker process composes the default
    config for the dead-key check): set the app's global Hydra aside and put it back after."""
    from hydra.core.global_hydra import GlobalHydra

    gh = GlobalHydra.instance()
    saved = gh.hydra if gh.is_initialized() else None
    if saved is not None:
        gh.clear()
    try:
        yield
    finally:
        if saved is not None:
            GlobalHydra.instance().clear()
            GlobalHydra.instance().initialize(saved)


def check_schema_key(cfg: DictConfig, key: str) -> None:
    """Refuse ``key`` if a part of it is not a field of the dataclass it lands in.

    ``++`` (what :func:`open_segment_maps` adds) force-adds keys, even into a structured node;
    this restores the schema's check for the keys below the segment map.
    """
    import dataclasses

    from omegaconf import OmegaConf

    node: object = cfg
    done: list[str] = []
    for part in key.split("."):
        if not isinstance(node, DictConfig):
            return
        schema = OmegaConf.get_type(node)
        if dataclasses.is_dataclass(schema):
            fields = [f.name for f in dataclasses.fields(schema)]
            if part not in fields:
                raise unknown_key(".".join(done + [part]), fields)
        done.append(part)
        node = node._get_node(part)


def to_config(cfg: DictConfig | Config) -> Config:
    """Turn a composed ``DictConfig`` into plain dataclasses and validate it."""
    if isinstance(cfg, DictConfig):
        obj = OmegaConf.to_object(cfg)
        if not isinstance(obj, Config):  # composed without the schema
            obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), cfg))
    else:
        obj = cfg
    if type(obj.market) is MarketConfig:  # composed without a market option: capacity
        obj.market = CapacityMarket(**vars(obj.market))
    fill_company(obj)  # the embedded book's example company
    validate_company(obj)  # before unset values take their defaults
    complete_company(obj)
    obj = no_company(obj, _default_gtm)  # a book of your own without company.team: market=rate
    validate(obj)
    return obj


@functools.cache
def _default_gtm() -> dict[str, object]:
    """Leaves of staffing, comp and effects in the default composition (no overrides)."""
    base = OmegaConf.to_object(compose(()))
    out: dict[str, object] = {}
    for section in GTM_SECTIONS:
        out |= leaves(getattr(base, section), section)
    return out


def compose_run(
    overrides: Sequence[str] = (), scenarios: Sequence[str | Path] = ()
) -> tuple[Config, ScenarioFile | None]:
    """The validated :class:`Config` the overrides select, and the scenario file they pick."""
    cfg, scenario = _compose(overrides, scenarios)
    try:
        return to_config(cfg), scenario
    except ConfigError as exc:
        raise attribute(exc, scenario) from None


def load_config(overrides: Sequence[str] = (), scenarios: Sequence[str | Path] = ()) -> Config:
    """Compose and validate: the plain :class:`Config` a run uses."""
    return compose_run(overrides, scenarios)[0]


@functools.cache
def _default(market: str) -> Config:
    return load_config((f"market={market}",))


def default_config(market: str = "capacity") -> Config:
    """The default composition with the ``market`` option: the reference of "set" keys.

    Composed once per process and option; treat it as read-only.
    """
    return _default(market)


def attribute(exc: ConfigError, scenario: ScenarioFile | None) -> ConfigError:
    """Name the scenario file in ``exc`` when the key it names is set by that file."""
    import re

    match = re.search(r"config key '([^']+)'", str(exc))
    if scenario is not None and match and scenario.sets(match.group(1).split("[")[0]):
        return scenario.error(str(exc))
    return exc
