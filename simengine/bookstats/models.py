"""The names of the models a book is fitted with, in the order they are built.

The one list: ``fit.models`` is checked against it (:mod:`simengine.config.validation`), the fit
builds its models in this order (:data:`simengine.fitting.core.MODELS`) and lists them so in the
posterior's ``models`` attr (:func:`simengine.fitting.select.resolve_models`).
"""

__all__ = ["MODEL_NAMES"]

#: Model names as in ``fit.models``, in build order.
MODEL_NAMES = ("usage", "churn", "expansion")
