"""The resolved config as YAML, and its hash, for provenance attrs."""

from __future__ import annotations

import hashlib

import yaml
from omegaconf import OmegaConf

from simengine.config.schema import Config

__all__ = ["config_hash", "config_section", "config_yaml", "yaml_hash"]

#: libyaml's loader where PyYAML has it (~1 ms a resolved config; OmegaConf takes ~20).
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def config_yaml(cfg: Config) -> str:
    """The resolved config as YAML."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def config_section(text: str, key: str) -> dict:
    """One top-level section (``data``, ``fit``, ``staffing``, ...) of a resolved config written
    by :func:`config_yaml` (a run's ``config`` attr), as plain YAML; ``{}`` if absent.  Raises
    ``yaml.YAMLError`` on text that is not YAML."""
    return (yaml.load(text or "{}", Loader=_LOADER) or {}).get(key) or {}


def config_hash(cfg: Config) -> str:
    """SHA-256 (first 16 hex digits) of the resolved config YAML."""
    return yaml_hash(config_yaml(cfg))


def yaml_hash(text: str) -> str:
    """:func:`config_hash` of the config whose :func:`config_yaml` is ``text`` (one YAML dump,
    ~40 ms, serves both attrs)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
