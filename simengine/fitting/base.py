"""The shape every model follows, and the parameters models fitted together share.

Each model (:mod:`~simengine.fitting.churn`, :mod:`~simengine.fitting.usage`,
:mod:`~simengine.fitting.expansion`) is a :class:`BookModel`: a default model config merged with the
user's, ``prepare`` (book -> small arrays of sufficient statistics, NumPy only), ``add_to_model``
(adds its likelihood to a PyMC model), ``build_model`` and ``fit`` (pymc-marketing's ModelBuilder
shape).  ``simengine.fitting.fit_book`` builds several into **one** PyMC model so that parameters two
models both need (drift, volatility, seasonality, onboarding ramp) are estimated once, jointly.

:class:`SharedParameters` creates each named parameter the first time a model asks for it, with the
prior in :data:`PRIORS`.  Per-segment parameters are hierarchical: a population value on an
unconstrained scale, and segment values centred on it with a *fixed* between-segment scale.  A
learned scale with three segments is barely identified and gives the funnel geometry that makes
NUTS diverge; with a few hundred accounts per segment the data pin each segment anyway, which is
the regime where the centred form samples well.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

if TYPE_CHECKING:
    import xarray as xr

    from simengine.config import FitConfig
    from simengine.data import Book

__all__ = ["PRIORS", "BookModel", "SegmentPrior", "SharedParameters", "ScalarPrior"]


@dataclass(frozen=True)
class SegmentPrior:
    """Hierarchical prior of a per-segment parameter on an unconstrained scale.

    ``population ~ Normal(pop_mu, pop_sd)``; ``raw_s ~ Normal(population, segment_sd)``;
    the parameter is ``link(raw_s)`` with ``link`` one of ``identity``, ``exp``, ``sigmoid``.
    """

    pop_mu: float
    pop_sd: float
    segment_sd: float
    link: str = "identity"


@dataclass(frozen=True)
class ScalarPrior:
    """``raw ~ Normal(mu, sd)``; the parameter is ``link(raw)``."""

    mu: float
    sd: float
    link: str = "identity"


# Priors, weakly informative on the scale of a consumption business (monthly steps).  Centres
# and spreads are wide enough that the defaults in simengine.config sit well inside them.
PRIORS: dict[str, SegmentPrior | ScalarPrior] = {
    # log-usage drift per month: +-3%/month covers shrinking to fast-growing books
    "usage_drift": SegmentPrior(0.005, 0.02, 0.01),
    # Student-t scale of monthly log-usage changes (log scale): 1%-50% a month
    "usage_noise_scale": SegmentPrior(np.log(0.06), 1.0, 0.5, "exp"),
    "account_sd": SegmentPrior(np.log(0.005), 1.0, 0.5, "exp"),
    "ramp_start": SegmentPrior(-0.5, 1.2, 0.5, "sigmoid"),
    "ramp_months": SegmentPrior(np.log(3.0), 0.7, 0.3, "exp"),
    "initial_log_usage_mu": SegmentPrior(8.0, 4.0, 2.0),
    "initial_log_usage_sd": SegmentPrior(0.0, 1.0, 0.5, "exp"),
    # churn: mean monthly hazard on the logit scale (0.1%-20%) and Beta concentration alpha+beta
    "churn_logit_mean": SegmentPrior(-4.0, 1.5, 1.0),
    "churn_log_concentration": SegmentPrior(np.log(60.0), 1.0, 0.5),
    "use_case_rate": SegmentPrior(np.log(0.03), 1.5, 0.7, "exp"),
    "use_case_size_mu": SegmentPrior(-1.5, 1.0, 0.5),
    "use_case_size_sigma": SegmentPrior(np.log(0.5), 0.6, 0.3, "exp"),
    "use_case_ramp_months": SegmentPrior(np.log(3.0), 0.7, 0.3, "exp"),
    "season_cos": ScalarPrior(0.0, 0.1),
    "season_sin": ScalarPrior(0.0, 0.1),
    "csm_hazard_ratio": ScalarPrior(0.0, 0.5, "exp"),
    "usage_decline_hazard_ratio": ScalarPrior(0.0, 0.5, "exp"),
    "se_use_case_ratio": ScalarPrior(0.0, 0.5, "exp"),
}

_LINKS = {"identity": lambda x: x, "exp": pt.exp, "sigmoid": pm.math.sigmoid}


class SharedParameters:
    """Parameters of one PyMC model, created on first request so models can share them.

    Parameters
    ----------
    model : pymc.Model
        The model to add variables to (it must have a ``segment`` coordinate).
    priors : dict, optional
        Overrides of :data:`PRIORS` by name.
    """

    def __init__(self, model: pm.Model, priors: dict[str, Any] | None = None) -> None:
        self.model = model
        self.priors = PRIORS | dict(priors or {})
        self._made: dict[str, pt.TensorVariable] = {}
        #: Student-t noise on log-usage changes (else normal); set by the usage model.
        self.robust = False

    def __contains__(self, name: str) -> bool:
        return name in self._made

    def get(self, name: str) -> pt.TensorVariable:
        """The parameter ``name``: shape (n_segments,) for per-segment ones, () for scalars."""
        if name in self._made:
            return self._made[name]
        if name == "usage_tail_nu":
            return self._made.setdefault(name, self._tail_nu())
        prior = self.priors[name]
        link = _LINKS[prior.link]
        with self.model:
            if isinstance(prior, SegmentPrior):
                pop = pm.Normal(f"{name}_pop", prior.pop_mu, prior.pop_sd)
                raw = pm.Normal(f"{name}_raw", pop, prior.segment_sd, dims="segment")
                value = raw if prior.link == "identity" else link(raw)
                var = pm.Deterministic(name, value, dims="segment")
            else:
                if prior.link == "identity":
                    var = pm.Normal(name, prior.mu, prior.sd)
                else:
                    raw = pm.Normal(f"{name}_log", prior.mu, prior.sd)
                    var = pm.Deterministic(name, link(raw))
        self._made[name] = var
        return var

    def _tail_nu(self) -> pt.TensorVariable:
        # Degrees of freedom of the Student-t noise on log-usage changes, > 2 so the SD exists;
        # Gamma(2, 0.1) puts most mass on 5-50: heavy tails if the data have outliers, near-normal
        # otherwise.
        with self.model:
            excess = pm.Gamma("usage_tail_nu_minus_2", alpha=2.0, beta=0.1)
            return pm.Deterministic("usage_tail_nu", excess + 2.0)

    def usage_noise(self) -> tuple[pt.TensorVariable, pt.TensorVariable | None]:
        """Noise scale (segment,) and Student-t nu (None: normal noise).

        Normal noise: the scale is ``usage_volatility``.  Student-t (``robust``): also defines
        ``usage_volatility`` = the noise SD.

        The simulation kernel draws normal steps with SD ``usage_volatility``; a Student-t scale
        is smaller than the SD by ``sqrt((nu - 2) / nu)``, so the kernel gets the SD.
        """
        if not self.robust:
            if "usage_volatility" not in self._made:
                prior = self.priors["usage_noise_scale"]
                with self.model:
                    pop = pm.Normal("usage_volatility_pop", prior.pop_mu, prior.pop_sd)
                    raw = pm.Normal("usage_volatility_raw", pop, prior.segment_sd, dims="segment")
                    self._made["usage_volatility"] = pm.Deterministic(
                        "usage_volatility", pt.exp(raw), dims="segment"
                    )
            return self._made["usage_volatility"], None
        scale = self.get("usage_noise_scale")
        nu = self.get("usage_tail_nu")
        if "usage_volatility" not in self._made:
            with self.model:
                self._made["usage_volatility"] = pm.Deterministic(
                    "usage_volatility", scale * pt.sqrt(nu / (nu - 2.0)), dims="segment"
                )
        return scale, nu

    def log_ramp(self, tenure: np.ndarray, segment: np.ndarray) -> pt.TensorVariable:
        """``log ramp(k)`` of the onboarding curve at tenure ``k`` for rows of segment ``s``."""
        start = self.get("ramp_start")[segment]
        months = self.get("ramp_months")[segment]
        return pt.log1p(-(1.0 - start) * pt.exp(-np.asarray(tenure, dtype=np.float64) / months))

    def log_ramp_table(self, max_tenure: int) -> pt.TensorVariable:
        """``log ramp_s(k)`` for every segment and tenure ``k = 0 .. max_tenure``: (S, K + 1).

        Likelihoods gather from this small table instead of evaluating the curve per data row.
        """
        start = self.get("ramp_start")
        months = self.get("ramp_months")
        k = np.arange(max_tenure + 1, dtype=np.float64)
        return pt.log1p(-(1.0 - start)[:, None] * pt.exp(-k[None, :] / months[:, None]))

    def log_season(self, months: np.ndarray) -> pt.TensorVariable:
        """``log season(t)`` for month numbers ``t`` (January has ``t % 12 == 0``)."""
        angle = 2.0 * np.pi * (np.asarray(months) % 12) / 12.0
        return self.get("season_cos") * np.cos(angle) + self.get("season_sin") * np.sin(angle)


class BookModel:
    """Base of the three models: configs, ``prepare``, ``add_to_model``, ``build_model``, ``fit``.

    Parameters
    ----------
    model_config : dict, optional
        Overrides of the subclass's :meth:`default_model_config`.
    """

    name: str = "model"

    def __init__(self, model_config: dict[str, Any] | None = None) -> None:
        self.model_config = self.default_model_config() | dict(model_config or {})

    @staticmethod
    def default_model_config() -> dict[str, Any]:
        """Settings of the model (priors live in :data:`PRIORS`)."""
        return {}

    def prepare(self, book: Book, seed: int) -> dict[str, Any]:  # pragma: no cover - abstract
        """Sufficient statistics of ``book`` this model's likelihood needs (NumPy arrays)."""
        raise NotImplementedError

    def add_to_model(self, params: SharedParameters, data: dict[str, Any]) -> None:
        """Add the likelihood of ``data`` to ``params.model``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def observed_summary(self, data: dict[str, Any], segments: tuple[str, ...]) -> dict:
        """Small per-segment summaries of the data for the ``observed_data`` group."""
        return {}

    def build_model(self, book: Book, seed: int = 0) -> pm.Model:
        """A PyMC model of this model alone on ``book``."""
        model = pm.Model(coords={"segment": list(book.segments)})
        self.add_to_model(SharedParameters(model), self.prepare(book, seed))
        return model

    def fit(self, book: Book, fit_cfg: FitConfig, seed: int, progress: bool = True) -> xr.DataTree:
        """Fit this model alone; same output as ``fit_book(book, fit_cfg with models=[name])``."""
        from dataclasses import replace

        from simengine.fitting.core import fit_book

        return fit_book(book, replace(fit_cfg, models=[self.name]), seed, progress=progress)


def segment_index(values: Any, segments: tuple[str, ...]) -> np.ndarray:
    """Positions of ``values`` in ``segments`` (int64)."""
    lookup = {s: i for i, s in enumerate(segments)}
    return np.array([lookup[v] for v in values], dtype=np.int64)
