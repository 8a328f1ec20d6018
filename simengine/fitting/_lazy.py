"""PyMC and PyTensor, imported on first use.

``simengine run`` reads the fit's data statistics (the usage panel, declining boundaries, the usage
model's sufficient statistics) from the same modules that build the PyMC models, so the run and
the fit share one definition.  Those modules name ``pm`` and ``pt`` through :class:`LazyModule`:
the import (4-8 s, and only in the ``fit`` extra) happens when a model is built, never on the run
path of a plain install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["LazyModule", "pm", "pt"]


class LazyModule:
    """A module imported on its first attribute access."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        if self._module is None:
            try:
                self._module = importlib.import_module(self._name)
            except ImportError as exc:
                raise ImportError(
                    f"{self._name} is needed to fit models: pip install 'simengine[fit]'"
                ) from exc
        return getattr(self._module, attr)


pm = LazyModule("pymc")
pt = LazyModule("pytensor.tensor")
