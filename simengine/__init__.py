"""simengine: forecasting simulation for consumption-priced software businesses.

``simulate(overrides, scenarios=[...])`` runs a scenario and returns an ``xarray.Dataset``;
``fit(overrides, scenarios=[...])`` fits the PyMC models and returns an ``xarray.DataTree``.  Both
compose the same Hydra configs as the CLI (``scenarios`` are extra scenario folders, like the CLI's
``--scenarios DIR``).
"""

from __future__ import annotations

from simengine.version import __version__

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
