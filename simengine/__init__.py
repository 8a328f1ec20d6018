"""simengine: forecasting simulation for consumption-priced software businesses.

``simulate(overrides)`` runs a scenario and returns an ``xarray.Dataset``; ``fit(overrides)`` fits the
PyMC models and returns an ``xarray.DataTree``.  Both compose the same Hydra configs as the CLI.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("simengine")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "fit", "simulate"]


def __getattr__(name: str):
    # Lazy: `import simengine` must stay cheap (no numba compile, no pymc import).
    if name == "simulate":
        from simengine.api import simulate

        return simulate
    if name == "fit":
        from simengine.api import fit

        return fit
    raise AttributeError(f"module 'simengine' has no attribute {name!r}")
