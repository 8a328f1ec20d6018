"""The shape every model follows, and the parameters models fitted together share.

Each model (:mod:`~simengine.fitting.churn`, :mod:`~simengine.fitting.usage`,
:mod:`~simengine.fitting.expansion`) is a :class:`BookModel`: a default model config merged with the
user's, ``prepare`` (book -> small arrays of sufficient statistics, NumPy only), ``add_to_model``
(adds its likelihood to a PyMC model) and ``build_model`` (pymc-marketing's ModelBuilder shape).
``simengine.fitting.fit_book`` fits one (``fit.models=[name]``) or builds several into **one** PyMC
model so that parameters two models both need (drift, volatility, seasonality, onboarding ramp) are
estimated once, jointly.

:class:`SharedParameters` creates each named parameter the first time a model asks for it, with the
prior in :data:`PRIORS`.  Per-segment parameters are hierarchical: a population value on an
unconstrained scale, and segment values centred on it with a *fixed* between-segment scale (data-rich
parameters: with a few hundred accounts per segment the data pin each segment, the regime where the
centred form samples well).  The churn parameters use two other forms.  The mean churn uses
:class:`LearnedSegmentPrior`: the segment scale is learned (HalfNormal), so the data, not a fixed
scale, decide how far segments differ (centred or non-centred by a flag; centred for the mean,
which a few hundred accounts pin).  The Beta concentration, which a few years of history inform
weakly in every segment, uses :class:`IndependentSegmentPrior`: a proper prior per segment and no
pooling, free to follow the data where they inform it (a learned-scale hierarchy over it, centred
or not, mixed too slowly for the ESS gate and learned nothing from three segments).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from simengine.bookstats.shapes import MONTHS_OF_YEAR, RAMP_FIT_MONTHS
from simengine.fitting._lazy import pm, pt

if TYPE_CHECKING:
    from simengine.data import Book

__all__ = [
    "PRIORS",
    "SEASON_SD",
    "SEASON_SEGMENT_SD",
    "BookModel",
    "IndependentSegmentPrior",
    "LearnedSegmentPrior",
    "ScalarPrior",
    "SegmentPrior",
    "SharedParameters",
]


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
class LearnedSegmentPrior:
    """Hierarchical prior with a learned segment scale.

    ``population ~ Normal(pop_mu, pop_sd)``; ``scale ~ HalfNormal(scale_sd)``; segment values
    ``raw_s ~ Normal(population, scale)``; the parameter is ``link(raw_s)``.  ``centred=False``
    (for parameters the data identify weakly, where the centred form has a funnel) samples
    ``raw_s = population + scale * z_s``, ``z_s ~ Normal(0, 1)``; ``centred=True`` (data-rich
    parameters, where the non-centred form correlates ``z``, ``scale`` and ``population`` and
    mixes slowly) samples ``raw_s`` directly.
    """

    pop_mu: float
    pop_sd: float
    scale_sd: float
    link: str = "identity"
    centred: bool = False
    #: ``scale = scale_floor + HalfNormal(scale_sd)``: a floor keeps the centred form out of the
    #: funnel's neck (scale -> 0), where books of 300-1,000 accounts diverged.
    scale_floor: float = 0.0


@dataclass(frozen=True)
class IndependentSegmentPrior:
    """``raw_s ~ Normal(mu, sd)`` independently per segment; the parameter is ``link(raw_s)``.

    For a parameter the data inform weakly in every segment: a hierarchy over three such
    segments learns nothing about its scale, and its population/scale pair mixes slowly (bulk ESS
    ~135 in 1,000 draws for the concentration's population mean on a 3,000-account book).
    """

    mu: float
    sd: float
    link: str = "identity"


@dataclass(frozen=True)
class ScalarPrior:
    """``raw ~ Normal(mu, sd)``; the parameter is ``link(raw)``."""

    mu: float
    sd: float
    link: str = "identity"


# Priors, weakly informative on the scale of a consumption business (monthly steps).  Centres
# and spreads are wide enough that the defaults in simengine.config sit well inside them.
PRIORS: dict[str, SegmentPrior | LearnedSegmentPrior | IndependentSegmentPrior | ScalarPrior] = {
    # log-usage drift per month: +-3%/month covers shrinking to fast-growing books
    "usage_drift": SegmentPrior(0.005, 0.02, 0.01),
    # Student-t scale of monthly log-usage changes (log scale): 1%-50% a month
    "usage_noise_scale": SegmentPrior(np.log(0.06), 1.0, 0.5, "exp"),
    "account_sd": SegmentPrior(np.log(0.005), 1.0, 0.5, "exp"),
    # The onboarding ramp: log increments over the first RAMP_FIT_MONTHS months of tenure
    # (SharedParameters.log_ramp_table), log-normal per (segment, month) around a population value
    # per month: median 5% a month, 90% between 1% and 26% (a logistic onboarding climbs ~100% in
    # its first months, 3 SD out, which thousands of starts pin; a settled account ~0).  A wider
    # N(log 0.03, 2) let one chain in two of the shared book's fits (seed 1, scale 0.5 and 1)
    # start far out and stick (drift -0.1 to -0.5 a month, R-hat 2.2).
    "ramp_increment": SegmentPrior(np.log(0.05), 1.0, 0.3, "exp"),
    "initial_log_usage_mu": SegmentPrior(8.0, 4.0, 2.0),
    "initial_log_usage_sd": SegmentPrior(0.0, 1.0, 0.5, "exp"),
    # Churn, parameterised by the mean of theta ~ Beta(alpha, beta) and its concentration
    # kappa = alpha + beta (both unconstrained, proper priors): in (alpha, beta) a poorly
    # identified kappa is a ridge running to infinity.  Sources: mean monthly logo churn of
    # 0.5%-3% for B2B SaaS (CALIBRATION.md: logo churn ~7-30%/yr) sits at logit -5.3..-3.5; the
    # population prior N(-3.5, 2) keeps 90% of its mass on 0.1%-47% a month, so yearly cohorts
    # (Fader & Hardie's 37%/period) are inside too.  Concentration: published sBG fits range from
    # kappa ~2 (Fader & Hardie 2007, yearly periods: 1.9 and 4.5) to a few hundred (monthly
    # contracts with little heterogeneity); N(log 50, 1.5) covers 4-600 at 90%, per segment and
    # independently (IndependentSegmentPrior: a hierarchy over three weakly informed segments
    # mixed slowly and learned nothing; a wider N(log 50, 2) left a tail to kappa ~ 1e5 that the
    # data cannot close, and NUTS diverged in it).  The mean's segment scale is learned,
    # 0.3 + HalfNormal(1) (segments differ by a factor ~e in odds, more if the data say so; the
    # floor keeps the centred form out of the funnel's neck, where books of 300-1,000 accounts
    # diverged), in the centred form: a few hundred accounts a segment pin each mean.  Prior sensitivity: see
    # benchmarks/fit_results.txt.
    "churn_logit_mean": LearnedSegmentPrior(-3.5, 2.0, 1.0, centred=True, scale_floor=0.3),
    "churn_log_concentration": IndependentSegmentPrior(np.log(50.0), 1.5),
    # Same-month churn (churn_month == start_month, a failed onboarding): logit of its probability;
    # centred on 0.7%, 90% between 0.01% and 30%.
    "onboarding_failure": SegmentPrior(-5.0, 2.0, 1.0, "sigmoid"),
    # A zero / skipped month of an active account (the hurdle of the usage model): logit, centred
    # on 1.8%, 90% between 0.07% and 33%.
    "zero_month_prob": SegmentPrior(-4.0, 2.0, 1.0, "sigmoid"),
    "use_case_rate": SegmentPrior(np.log(0.03), 1.5, 0.7, "exp"),
    "use_case_size_mu": SegmentPrior(-1.5, 1.0, 0.5),
    "use_case_size_sigma": SegmentPrior(np.log(0.5), 0.6, 0.3, "exp"),
    "use_case_ramp_months": SegmentPrior(np.log(3.0), 0.7, 0.3, "exp"),
    # The monthly seasonal profile ``season`` (segment x 12 log effects, each segment's summing to
    # zero) is a population profile plus segment deviations: SharedParameters.season,
    # SEASON_SD and SEASON_SEGMENT_SD; season_cos / season_sin are each segment's first harmonic.
    "csm_hazard_ratio": ScalarPrior(0.0, 0.5, "exp"),
    "usage_decline_hazard_ratio": ScalarPrior(0.0, 0.5, "exp"),
    # Churn at a contract anniversary, per segment and independently (annual renewals drive churn
    # in some segments and not in others): log HR ~ N(0, 1), 90% between 0.19 and 5.2, so a
    # renewal month that triples churn is inside and a segment without renewals can sit at 1.
    "anniversary_hazard_ratio": IndependentSegmentPrior(0.0, 1.0, "exp"),
    "se_use_case_ratio": ScalarPrior(0.0, 0.5, "exp"),
}

#: Prior SD of each month's log seasonal effect: swings of up to ~+-20% (a December peak of a
#: consumption business, budget flushes) are well inside; the shrinkage keeps months with little
#: data near zero.
SEASON_SD = 0.1

#: Between-segment scale of the monthly profile: a segment's deviation from the population
#: profile is ZeroSumNormal(SEASON_SEGMENT_SD) (marginal SD ~0.047 a month with three
#: segments).  Segments of one business can dip in different months (a self-serve December
#: against a sales-led summer, 10-15% each): such a departure is ~2 SD, which a segment's own
#: thousands of changes override, while a segment of a few dozen accounts (a month's effect known
#: to ~0.03) is pulled a third of the way towards the others.  Fixed rather than learned: a
#: learned scale (HalfNormal(0.05), non-centred) mixed at bulk ESS 16 in 2 x 300 draws on the
#: shared book, its 36 deviations pinned by the data and the scale trading against all of them;
#: with the scale fixed the centred deviations are a near-Gaussian block (the form the other
#: data-rich per-segment parameters take, see :class:`SegmentPrior`).
SEASON_SEGMENT_SD = 0.06
#: SD of the base measure the per-segment profiles are sampled under: ten times the population's,
#: so the hierarchy's own density (a potential) is the prior, changed by ~1% in precision.
_SEASON_BASE_SD = 1.0

_LINKS = {
    "identity": lambda x: x,
    "exp": lambda x: pt.exp(x),
    "sigmoid": lambda x: pm.math.sigmoid(x),
}


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
        if name == "ramp_start":
            self.log_ramp_table(0)
            return self._made[name]
        prior = self.priors[name]
        link = _LINKS[prior.link]
        with self.model:
            if isinstance(prior, IndependentSegmentPrior):
                raw = pm.Normal(f"{name}_raw", prior.mu, prior.sd, dims="segment")
                value = raw if prior.link == "identity" else link(raw)
                var = pm.Deterministic(name, value, dims="segment")
            elif isinstance(prior, LearnedSegmentPrior):
                pop = pm.Normal(f"{name}_pop", prior.pop_mu, prior.pop_sd)
                excess = pm.HalfNormal(f"{name}_scale_excess", prior.scale_sd)
                scale = pm.Deterministic(f"{name}_scale", prior.scale_floor + excess)
                if prior.centred:
                    raw = pm.Normal(f"{name}_raw", pop, scale, dims="segment")
                else:
                    z = pm.Normal(f"{name}_z", 0.0, 1.0, dims="segment")
                    raw = pop + scale * z
                value = raw if prior.link == "identity" else link(raw)
                var = pm.Deterministic(name, value, dims="segment")
            elif isinstance(prior, SegmentPrior):
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

        The simulation kernel draws steps with SD ``usage_volatility``: normal, or Student-t with
        ``usage_tail_nu`` degrees of freedom where a fit has one (a Student-t scale is smaller
        than the SD by ``sqrt((nu - 2) / nu)``, so the kernel gets the SD and nu).
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
        k = np.minimum(np.asarray(tenure, dtype=np.int64), RAMP_FIT_MONTHS)
        return self.log_ramp_table(RAMP_FIT_MONTHS)[segment, k]

    def log_ramp_table(self, max_tenure: int) -> pt.TensorVariable:
        """``log ramp_s(k)`` for every segment and tenure ``k = 0 .. max_tenure``: (S, K + 1).

        The onboarding ramp is a monotone curve over the first :data:`RAMP_FIT_MONTHS` months:
        ``log ramp_s(k) = -sum_{j > k} ramp_increment_s[j]`` (``j <= RAMP_FIT_MONTHS``), so it
        rises by ``ramp_increment_s[k]`` from tenure ``k - 1`` to ``k`` and is 0 (the plateau)
        from month ``RAMP_FIT_MONTHS`` on.  A shape per month rather than a two-parameter curve:
        an exponential approach ``1 - (1 - start) exp(-k / months)`` cannot follow a logistic
        onboarding (slow, fast, done by month ~6) and stretched to 35-90 months, its tail taking
        the drift's place.  The drift is then identified by accounts past their first year.
        Recorded: ``ramp_increment`` (segment, ``ramp_month`` 1..K), ``ramp_log`` (segment,
        ``ramp_tenure`` 0..K: what the simulation reads) and ``ramp_start = exp(log_ramp(0))``.
        Likelihoods gather from this small table instead of evaluating the curve per data row.
        """
        if "ramp_log" not in self._made:
            months = RAMP_FIT_MONTHS
            if "ramp_month" not in self.model.coords:
                self.model.add_coord("ramp_month", np.arange(1, months + 1))
                self.model.add_coord("ramp_tenure", np.arange(months + 1))
            prior = self.priors["ramp_increment"]
            with self.model:
                pop = pm.Normal("ramp_increment_pop", prior.pop_mu, prior.pop_sd, dims="ramp_month")
                raw = pm.Normal(
                    "ramp_increment_raw", pop[None, :], prior.segment_sd,
                    dims=("segment", "ramp_month"),
                )  # fmt: skip
                increment = pm.Deterministic(
                    "ramp_increment", pt.exp(raw), dims=("segment", "ramp_month")
                )
                # rest[:, k] = sum of the increments of months k + 1 .. K (k = 0 .. K - 1)
                rest = pt.cumsum(increment[:, ::-1], axis=1)[:, ::-1]
                table = pt.concatenate([-rest, pt.zeros((rest.shape[0], 1))], axis=1)
                table = pm.Deterministic("ramp_log", table, dims=("segment", "ramp_tenure"))
                self._made["ramp_start"] = pm.Deterministic(
                    "ramp_start", pt.exp(table[:, 0]), dims="segment"
                )
            self._made["ramp_log"] = table
        table = self._made["ramp_log"]
        if max_tenure <= RAMP_FIT_MONTHS:
            return table[:, : max_tenure + 1]
        pad = pt.zeros((table.shape[0], max_tenure - RAMP_FIT_MONTHS))
        return pt.concatenate([table, pad], axis=1)

    def season(self) -> pt.TensorVariable:
        """The monthly seasonal profile of every segment: (segment, 12) log effects, January
        first, each segment's summing to zero.

        Partially pooled over segments: a population profile ``season_population`` ~
        ZeroSumNormal(:data:`SEASON_SD`) over ``month_of_year``, plus segment deviations ~
        ZeroSumNormal(:data:`SEASON_SEGMENT_SD`) over (segment, month_of_year): zero-sum over
        both, so each segment's profile sums to zero and the population is the segments' mean
        profile.  Sampled in the profiles themselves, the hierarchy's density a potential:
        the data pin each segment's months nearly independently, so NUTS's diagonal mass
        matrix fits them, where (population, deviation) coordinates are correlated a posteriori
        (season R-hat up to 1.026 at ESS ~500 in 2 x 300 draws on the shared book).  The scale
        is fixed (:data:`SEASON_SEGMENT_SD`).  A book with one segment has the population
        profile alone.

        Each segment's first harmonic is kept as ``season_cos`` / ``season_sin`` over
        ``segment`` (``(2/12) sum_m s_m cos(2 pi m / 12)`` and the same with sin): the best
        one-harmonic approximation of the profile, in the terms a ``model.override`` of the
        season uses.
        """
        if "season" not in self._made:
            angle = 2.0 * np.pi * np.arange(12) / 12.0
            n_seg = len(self.model.coords["segment"])
            with self.model:
                if n_seg == 1:
                    population = pm.ZeroSumNormal(
                        "season_population", sigma=SEASON_SD, dims="month_of_year"
                    )
                    profile = pm.Deterministic(
                        "season", population[None, :], dims=("segment", "month_of_year")
                    )
                else:
                    profile = pm.ZeroSumNormal(
                        "season",
                        sigma=_SEASON_BASE_SD,
                        dims=("segment", "month_of_year"),
                        n_zerosum_axes=1,
                    )
                    population = pm.Deterministic(
                        "season_population", profile.mean(axis=0), dims="month_of_year"
                    )
                    deviation = profile - population[None, :]
                    # population ~ ZeroSumNormal(SEASON_SD), deviations ~ ZeroSumNormal(
                    # SEASON_SEGMENT_SD) over (segment, month): their log density in terms of
                    # the profiles (a linear bijection with constant Jacobian).
                    pm.Potential(
                        "season_pooling",
                        -0.5 * pt.sum(population**2) / SEASON_SD**2
                        - 0.5 * pt.sum(deviation**2) / SEASON_SEGMENT_SD**2,
                    )
                pm.Deterministic("season_cos", pt.dot(profile, np.cos(angle)) / 6.0, dims="segment")
                pm.Deterministic("season_sin", pt.dot(profile, np.sin(angle)) / 6.0, dims="segment")
            self._made["season"] = profile
        return self._made["season"]

    def log_season(self, months: np.ndarray, segment: np.ndarray) -> pt.TensorVariable:
        """``log season_s(t)`` for month numbers ``t`` (January has ``t % 12 == 0``) of rows of
        segment ``s`` (``segment`` broadcasts against ``months``)."""
        return self.season()[segment, np.asarray(months, dtype=np.int64) % 12]


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
        model = pm.Model(coords={"segment": list(book.segments), "month_of_year": MONTHS_OF_YEAR})
        self.add_to_model(SharedParameters(model), self.prepare(book, seed))
        return model
