"""Structured configuration: schema, range checks, scenario files, dead-key checks, hashing.

One module per job, imported one way (schema <- specs <- validation <- live; scenarios and hashing
beside them); this package re-exports the names other layers use, so ``from simengine.config import
Config`` keeps working.  The core never sees a ``DictConfig``: :func:`to_config` turns the composed
config into these plain dataclasses at the entry point.
"""

from simengine.config.compose import to_config
from simengine.config.hashing import config_hash, config_section, config_yaml
from simengine.config.live import RunFacts, check_live
from simengine.config.scenarios import (
    CONFIG_DIR,
    SCENARIO_DIR,
    load_scenario,
    register_configs,
    scenario_dirs,
)
from simengine.config.schema import (
    ACQUISITION_ROLES,
    ADJUSTMENTS,
    POST_SALES_ROLES,
    ROLES,
    AdjustConfig,
    BacktestConfig,
    CapacityMarket,
    CompConfig,
    Config,
    ConfigError,
    DataConfig,
    EffectsConfig,
    FitConfig,
    MarketConfig,
    ModelConfig,
    Param,
    RateMarket,
    RoleConfig,
    SegmentAssumptions,
    SignalsConfig,
    SimConfig,
    StaffingConfig,
    SynthConfig,
    currency_of,
)
from simengine.config.specs import DISTRIBUTIONS, param_mean, validate_param
from simengine.config.validation import validate

__all__ = [
    "ACQUISITION_ROLES",
    "ADJUSTMENTS",
    "CONFIG_DIR",
    "DISTRIBUTIONS",
    "POST_SALES_ROLES",
    "ROLES",
    "SCENARIO_DIR",
    "AdjustConfig",
    "BacktestConfig",
    "SignalsConfig",
    "CapacityMarket",
    "CompConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "EffectsConfig",
    "FitConfig",
    "MarketConfig",
    "ModelConfig",
    "Param",
    "RateMarket",
    "RoleConfig",
    "RunFacts",
    "SegmentAssumptions",
    "SimConfig",
    "StaffingConfig",
    "SynthConfig",
    "check_live",
    "config_hash",
    "config_section",
    "config_yaml",
    "currency_of",
    "load_scenario",
    "param_mean",
    "register_configs",
    "scenario_dirs",
    "to_config",
    "validate",
    "validate_param",
]
