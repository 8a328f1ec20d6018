"""The resolved config as YAML, and its hash, for provenance attrs."""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

from simengine.config.schema import Config

__all__ = ["config_hash", "config_yaml", "yaml_hash"]


def config_yaml(cfg: Config) -> str:
    """The resolved config as YAML."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def config_hash(cfg: Config) -> str:
    """SHA-256 (first 16 hex digits) of the resolved config YAML."""
    return yaml_hash(config_yaml(cfg))


def yaml_hash(text: str) -> str:
    """:func:`config_hash` of the config whose :func:`config_yaml` is ``text`` (one YAML dump,
    ~40 ms, serves both attrs)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
