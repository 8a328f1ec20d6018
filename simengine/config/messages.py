"""Messages about config keys that help: the user's key, the closest valid ones, no class names.

A typo is the most common config error.  Every place that refuses an unknown key (composition,
scenario files, ``adjust`` windows, ``model.override``) words it through :func:`unknown_key`, and
the errors OmegaConf and Hydra raise, which name internal classes (``Key 'churn_hazzard' not in
'AdjustConfig'``), are reworded by :func:`from_omegaconf` before they reach the user.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable

from simengine.config.schema import ADJUSTMENTS, ConfigError

__all__ = ["closest", "from_omegaconf", "unknown_key", "unknown_name"]


def closest(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to ``word`` (difflib, cutoff 0.6), best first."""
    return difflib.get_close_matches(str(word), [str(c) for c in choices], n=n, cutoff=0.6)


def _hint(word: str, choices: Iterable[str], what: str) -> str:
    choices = [str(c) for c in choices]
    near = closest(word, choices)
    listed = ", ".join(choices)
    if near:
        return f"did you mean {' or '.join(repr(c) for c in near)}? ({what}: {listed})"
    return f"{what}: {listed}"


def unknown_key(full_key: str, choices: Iterable[str]) -> ConfigError:
    """``config key 'a.b.typo': unknown key 'typo'; did you mean 'tick'? (keys of a.b: ...)``."""
    full_key = full_key.lstrip("+~")
    parent, _, part = full_key.rpartition(".")
    where = f"keys of {parent}" if parent else "top-level keys"
    return ConfigError(
        f"config key '{full_key}': unknown key '{part}'; {_hint(part, choices, where)}"
    )


def unknown_name(full_key: str, value: object, name: str, what: str, choices: Iterable[str]):
    """``config key 'k' = v: unknown WHAT 'name'; did you mean ...? (WHATs: ...)``."""
    return ConfigError(
        f"config key '{full_key}' = {value!r}: unknown {what} {name!r}; "
        f"{_hint(name, choices, what + 's')}"
    )


def _fields(schema: object) -> list[str] | None:
    if isinstance(schema, type) and dataclasses.is_dataclass(schema):
        return [f.name for f in dataclasses.fields(schema)]
    return None


_TYPES = {"Integer": "a whole number", "Float": "a number", "Boolean": "true or false"}
_ADJUST_PART = re.compile(r"(adjust\.(?:segments\.[^.]+\.)?(\w+))\.(\w+)")
_OVERRIDE = re.compile(r"(?:Could not override|Error merging override)\s+'?[+~]*([^'=\s]+)")


def from_omegaconf(exc: BaseException) -> ConfigError | None:
    """Reword an OmegaConf/Hydra composition error about a key, or None if it is not one.

    Handles an unknown key (``ConfigKeyError``/``ConfigAttributeError`` naming a dataclass: the
    user's key and the closest fields), a value where a section is expected (``sim=3``), a value
    of the wrong type (``sim.draws=abc``) and a config group option that does not exist
    (``staffing=se_heavvy``).  Looks through ``exc`` and its causes.
    """
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        OmegaConfBaseException,
        ValidationError,
    )

    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    override = None  # the key of the override Hydra names, if it names one
    for err in chain:
        match = _OVERRIDE.search(str(err))
        if match:
            override = match.group(1)
            break
    for err in chain:
        options = getattr(err, "options", None)
        missing = getattr(err, "missing_cfg_file", None)
        if options is not None and missing and "/" in str(missing):
            group, _, option = str(missing).rpartition("/")
            return ConfigError(
                f"config group '{group}' has no option '{option}' (no file {missing}.yaml); "
                f"{_hint(option, options, 'options')}"
            )
        if not isinstance(err, OmegaConfBaseException):
            continue
        full_key = str(getattr(err, "full_key", "") or "")
        fields = _fields(getattr(err, "object_type", None))
        if isinstance(err, ConfigKeyError | ConfigAttributeError) and fields is not None:
            key = str(getattr(err, "key", "") or full_key.rpartition(".")[2])
            if full_key.rpartition(".")[2] != key:
                full_key = f"{full_key}.{key}" if full_key else key
            return unknown_key(full_key, fields)
        if isinstance(err, ConfigKeyError | ConfigAttributeError) and full_key:
            value = _ADJUST_PART.fullmatch(full_key)
            if value is not None and value.group(2) in ADJUSTMENTS:
                return ConfigError(
                    f"config key '{full_key}': {value.group(1)} is one value; write its window "
                    f"with it: {value.group(1)}='{{value: 1.1, from: YYYY-MM, until: YYYY-MM}}'"
                )
            parent = getattr(err, "parent_node", None)
            keys = list(parent.keys()) if hasattr(parent, "keys") else []
            if keys:
                return unknown_key(full_key, [str(k) for k in keys])
        if isinstance(err, ValidationError):
            text = str(err).splitlines()[0] if str(err) else ""
            key = override or full_key
            if not key:
                continue
            if "is not a subclass of" in text or "Cannot assign" in text:
                return ConfigError(
                    f"config key '{key}' is a section, not a value: set the keys under it "
                    f"({key}.KEY=VALUE)"
                )
            if "could not be converted to" in text:
                want = text.rsplit("could not be converted to", 1)[1].strip().rstrip(".")
                got = text.split("'")[1] if text.count("'") >= 2 else "?"
                want = _TYPES.get(want, want.lower())
                return ConfigError(f"config key '{key}' = {got!r}: expected {want}")
    return None
