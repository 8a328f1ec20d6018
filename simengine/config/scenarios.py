"""Where the config tree and the scenario files live, and the checks a scenario file must pass.

A scenario file is data: it may set simengine's own keys (the :class:`~simengine.config.schema.Config`
tree) and pick options of the groups ``staffing``, ``comp`` and ``market``; nothing else.  A ``hydra``
key, a ``_target_`` anywhere, an interpolation (``${...}``: resolvers can read the environment or
run code) or any other defaults entry is refused with one line naming the file and the key, before
anything is composed or run.  Its keys are checked against the schema exactly as command-line
overrides are.

``configs/`` and ``scenarios/`` are top-level folders of the project (DESIGN.md).  An installed
wheel carries copies under ``simengine/_conf/`` (pyproject's package-dir mapping); the top-level
folders win when the package runs from a source tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from simengine.config.messages import closest, from_omegaconf
from simengine.config.schema import CapacityMarket, Config, ConfigError, RateMarket

__all__ = [
    "CONFIG_DIR",
    "SCENARIO_DIR",
    "ScenarioFile",
    "find_scenario",
    "load_scenario",
    "register_configs",
    "scenario_dirs",
    "selected_scenario",
]

_PACKAGE = Path(__file__).resolve().parent.parent
_SOURCE_ROOT = _PACKAGE.parent


def _shipped(name: str) -> Path:
    """The top-level folder in a source tree, else the copy installed inside the package."""
    top = _SOURCE_ROOT / name
    if top.is_dir() and (_SOURCE_ROOT / "pyproject.toml").is_file():
        return top
    return _PACKAGE / "_conf" / name


#: The Hydra config tree shipped with the project (top-level ``configs/``).
CONFIG_DIR = _shipped("configs")
#: Named scenario files finance edits (top-level ``scenarios/``).
SCENARIO_DIR = _shipped("scenarios")

#: Config groups a scenario file may pick an option of (``defaults: [override /staffing: x]``).
SCENARIO_GROUPS = ("staffing", "comp", "market")
_MARKETS = {"capacity": CapacityMarket, "rate": RateMarket}


class ScenarioFile:
    """A checked scenario file: its path, its content without ``defaults``, and its group picks."""

    def __init__(self, path: Path, body: DictConfig, groups: dict[str, str]):
        self.path = path
        self.body = body
        self.groups = groups

    def sets(self, key: str) -> bool:
        """True if the file sets ``key`` (dotted) or a key under it or above it."""
        node: object = self.body
        for part in key.split("."):
            if not isinstance(node, DictConfig) or part not in node:
                return False
            node = node[part]
        return True

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"scenario file '{self.path}': {message}")


def scenario_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Folders whose ``*.yaml`` files are ``scenario=NAME`` choices: the shipped one, then ``extra``.

    A later folder's file replaces an earlier one of the same name, so a user can shadow a shipped
    scenario.
    """
    dirs = [SCENARIO_DIR]
    for folder in extra:
        path = Path(folder).expanduser().resolve()
        if not path.is_dir():
            raise ConfigError(f"scenario folder '{folder}': no such directory")
        dirs.append(path)
    return dirs


def find_scenario(name: str, dirs: Sequence[Path]) -> Path | None:
    """The file ``NAME.yaml`` of the last folder that has one."""
    for folder in reversed(dirs):
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None


def selected_scenario(overrides: Sequence[str]) -> str | None:
    """The ``scenario=NAME`` an override list selects (the last one), or None."""
    name = None
    for o in overrides:
        key, sep, value = o.partition("=")
        if sep and key.lstrip("+~") == "scenario":
            name = value.strip() or None
    return None if name in (None, "null") else name


def _walk(node: object, prefix: str, path: Path) -> None:
    """Refuse ``_target_`` keys and interpolations anywhere under ``node``."""
    if isinstance(node, DictConfig):
        for key in node.keys():
            full = f"{prefix}.{key}" if prefix else str(key)
            if str(key) == "_target_":
                raise ConfigError(
                    f"scenario file '{path}': key '{full}' is not allowed (a scenario is data: "
                    "no instantiation)"
                )
            _walk(node._get_node(key), full, path)
    elif isinstance(node, ListConfig):
        for i in range(len(node)):
            _walk(node._get_node(i), f"{prefix}[{i}]", path)
    else:
        value = node._value()  # type: ignore[union-attr]
        if isinstance(value, str) and "${" in value:
            raise ConfigError(
                f"scenario file '{path}': key '{prefix}' = {value!r}: interpolations are not "
                "allowed in a scenario (write the value)"
            )


def load_scenario(path: Path) -> ScenarioFile:
    """Load and check one scenario file; raise :class:`ConfigError` naming the file and the key."""
    try:
        raw = OmegaConf.load(path)
    except Exception as exc:  # noqa: BLE001 - YAML errors of every kind are the same user error
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"scenario file '{path}': not valid YAML ({first})") from None
    if not isinstance(raw, DictConfig):
        raise ConfigError(f"scenario file '{path}': expected a mapping of config keys")
    groups: dict[str, str] = {}
    body = OmegaConf.create({})
    for key in raw.keys():
        key = str(key)
        if key == "hydra":
            raise ConfigError(
                f"scenario file '{path}': key 'hydra' is not allowed (a scenario sets "
                "simengine's own keys only)"
            )
        if key == "defaults":
            groups = _defaults(raw._get_node("defaults"), path)
            continue
        body[key] = raw._get_node(key)
    _walk(body, "", path)
    # Check the keys against the schema, as command-line overrides are checked.
    schema = OmegaConf.structured(Config)
    market = groups.get("market", "capacity")
    schema.market = OmegaConf.structured(_MARKETS[market])
    try:
        OmegaConf.merge(schema, body)
    except Exception as exc:  # noqa: BLE001 - OmegaConf's errors name the key in their first line
        better = from_omegaconf(exc)
        first = str(better) if better is not None else str(exc).splitlines()[0]
        raise ConfigError(f"scenario file '{path}': {first}") from None
    return ScenarioFile(path, body, groups)


def _defaults(node: object, path: Path) -> dict[str, str]:
    """The group options a scenario's ``defaults`` list picks (``override /GROUP: OPTION`` only)."""
    if not isinstance(node, ListConfig):
        raise ConfigError(f"scenario file '{path}': 'defaults' must be a list")
    groups = {}
    for entry in node:
        if isinstance(entry, DictConfig) and len(entry) == 1:
            ((key, value),) = entry.items()
            group = str(key).removeprefix("override").strip().lstrip("/")
            if str(key).startswith("override ") and group in SCENARIO_GROUPS:
                options = sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml"))
                if str(value) not in options:
                    near = closest(str(value), options)
                    hint = f"did you mean {' or '.join(map(repr, near))}? " if near else ""
                    raise ConfigError(
                        f"scenario file '{path}': defaults 'override /{group}: {value}': "
                        f"no such option; {hint}(options: {', '.join(options)})"
                    )
                groups[group] = str(value)
                continue
        raise ConfigError(
            f"scenario file '{path}': defaults entry {OmegaConf.to_container(entry)!r} is not "
            f"allowed; a scenario may pick 'override /GROUP: OPTION' of {', '.join(SCENARIO_GROUPS)}"
        )
    return groups


def register_configs(dirs: Sequence[Path] | None = None) -> None:
    """Register the schema and every valid scenario file of ``dirs`` in Hydra's ConfigStore.

    ``base_config`` is the :class:`Config` schema; ``market/capacity_schema`` and
    ``market/rate_schema`` are the two market schemas the group's YAML files extend.  Scenario files
    that fail :func:`load_scenario` are left out, so they can never be composed; selecting one
    reports its error (see :func:`simengine.api.compose`).  Earlier registrations of scenarios are
    dropped first, so a folder given to one call does not leak into the next.
    """
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="base_config", node=Config)
    cs.store(group="market", name="capacity_schema", node=CapacityMarket)
    cs.store(group="market", name="rate_schema", node=RateMarket)
    cs.repo.pop("scenario", None)
    for folder in dirs if dirs is not None else scenario_dirs():
        for path in sorted(folder.glob("*.yaml")):
            try:
                load_scenario(path)
            except ConfigError:
                continue
            node = OmegaConf.load(path)  # with its defaults list, which Hydra applies
            cs.store(group="scenario", name=path.stem, node=node, package="_global_")
