"""The names of the models a book is fitted with, in the order they are built.

The one list: ``fit.models`` is checked against it (``config/validation.py``), the fit builds its
models in this order (``MODELS`` in ``fitting/core.py``) and lists them so in the posterior's
``models`` attr (``resolve_models`` in ``fitting/select.py``).
"""

__all__ = ["MODEL_NAMES"]

#: Model names as in ``fit.models``, in build order.
MODEL_NAMES = ("usage", "churn", "expansion")
