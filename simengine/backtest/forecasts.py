"""Forecast distributions of one series over the held-out months, and the baselines.

The baselines forecast the installed base's total from its **like-for-like** history
(:func:`like_for_like`): the installed base is a fixed set of accounts over the held-out months, so
its past is chained from month-on-month changes of the accounts billing in both months, not the
raw sum, which rises whenever one of them started (a seasonal naive on the raw sum took a year-ago
total from before many of these accounts started, 38% low on the shared book).

Every method's forecast of the installed base's total revenue is one of two shapes:

- :class:`SampleForecast`: sample paths (simengine's draws, the ETS baselines' simulated paths);
- :class:`NormalForecast`: independent normal marginals per month (the naive, drift and Theta
  baselines, whose textbook intervals are normal: Hyndman & Athanasopoulos, *Forecasting:
  Principles and Practice*, section 5.5).

Both give quantiles and the CRPS of an observation through scoringrules (ensemble CRPS for
samples, the closed form for a normal), so every method is scored by the same maintained code.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np

from simengine.config.schema import DEFAULT_BACKTEST_BASELINES

log = logging.getLogger(__name__)

__all__ = [
    "BASELINES",
    "DEFAULT_BASELINES",
    "NormalForecast",
    "SampleForecast",
    "baseline_forecasts",
    "ets_paths",
    "ets_total",
    "like_for_like",
    "naive_last",
    "rw_drift",
    "seasonal_naive",
    "theta",
]


@dataclass(frozen=True)
class SampleForecast:
    """Sample paths of a series: ``samples`` has shape (samples, months)."""

    samples: np.ndarray

    def quantiles(self, probs) -> np.ndarray:
        """Quantiles, shape (len(probs), months)."""
        return np.quantile(self.samples, probs, axis=0)

    def crps(self, actual: np.ndarray) -> np.ndarray:
        """CRPS per month (same units as the series), shape (months,)."""
        import scoringrules as sr

        return np.asarray(
            sr.crps_ensemble(np.asarray(actual, float), self.samples.T, m_axis=-1), float
        )


@dataclass(frozen=True)
class NormalForecast:
    """Independent normal marginals: ``mean`` and ``sd``, each shape (months,)."""

    mean: np.ndarray
    sd: np.ndarray

    def quantiles(self, probs) -> np.ndarray:
        """Quantiles, shape (len(probs), months)."""
        from scipy.stats import norm

        z = norm.ppf(np.asarray(probs, float))[:, None]
        return self.mean[None, :] + z * self.sd[None, :]

    def crps(self, actual: np.ndarray) -> np.ndarray:
        """CRPS per month (closed form of the normal), shape (months,)."""
        import scoringrules as sr

        sd = np.maximum(self.sd, 1e-12)  # a zero-spread forecast: the CRPS is |error|
        return np.asarray(sr.crps_normal(np.asarray(actual, float), self.mean, sd), float)


def naive_last(history: np.ndarray, horizon: int) -> NormalForecast:
    """Naive forecast: every held-out month equals the last observed month.

    Parameters
    ----------
    history : numpy.ndarray, shape (months,)
        The series up to the cut-off (at least 2 months).
    horizon : int

    Returns
    -------
    NormalForecast
        Mean ``y[T]``; SD ``sigma * sqrt(h)`` at step ``h``, ``sigma`` the SD of the one-month
        differences of the history (the random-walk interval).
    """
    y = np.asarray(history, float)
    diffs = np.diff(y)
    sigma = float(np.sqrt(np.mean(diffs**2))) if diffs.size else 0.0
    h = np.arange(1, horizon + 1)
    return NormalForecast(np.full(horizon, y[-1]), sigma * np.sqrt(h))


def seasonal_naive(history: np.ndarray, horizon: int, period: int = 12) -> NormalForecast:
    """Seasonal naive: each held-out month equals the same month a year earlier.

    Falls back to :func:`naive_last` when the history is shorter than ``period + 1`` months.
    SD ``sigma_s * sqrt(floor((h - 1) / period) + 1)``, ``sigma_s`` the RMS of the
    year-over-year differences.
    """
    y = np.asarray(history, float)
    if y.size <= period:
        return naive_last(y, horizon)
    h = np.arange(1, horizon + 1)
    # Month T + h takes the value of month T + h - period * k, k the smallest that reaches history.
    k = (h - 1) // period + 1
    mean = y[y.size - 1 + h - period * k]
    diffs = y[period:] - y[:-period]
    sigma = float(np.sqrt(np.mean(diffs**2)))
    return NormalForecast(mean, sigma * np.sqrt(k))


def like_for_like(history: np.ndarray) -> np.ndarray:
    """The installed base's total, chained from the same accounts' month-on-month changes.

    Parameters
    ----------
    history : numpy.ndarray, shape (accounts, months)
        Monthly revenue of the installed base up to the cut-off (0 before an account's start or
        in a month it billed nothing).

    Returns
    -------
    numpy.ndarray, shape (months,)
        ``L[T]`` = the total in the last month; ``L[t - 1] = L[t] * S(t - 1) / S(t)`` where
        ``S(m)`` sums month ``m`` over the accounts billing in both ``t - 1`` and ``t`` (ratio 1
        when there are none).  With a fixed set of accounts it is the plain total.
    """
    y = np.asarray(history, float)
    if y.ndim == 1:
        return y.copy()
    level = np.empty(y.shape[1])
    level[-1] = y[:, -1].sum()
    for t in range(y.shape[1] - 1, 0, -1):
        both = (y[:, t] > 0) & (y[:, t - 1] > 0)
        now, before = y[both, t].sum(), y[both, t - 1].sum()
        level[t - 1] = level[t] * (before / now) if now > 0 and before > 0 else level[t]
    return level


def rw_drift(history: np.ndarray, horizon: int) -> NormalForecast:
    """Random walk with drift (FPP section 5.2): the line from the first to the last month, extended.

    Mean ``y[T] + h (y[T] - y[1]) / (T - 1)``; SD ``sigma sqrt(h (1 + h / (T - 1)))`` with
    ``sigma`` the SD (ddof 1) of the one-month differences around their mean (FPP Table 5.2, the
    drift estimated from ``T - 1`` differences).  Needs at least 3 months, else :func:`naive_last`.
    """
    y = np.asarray(history, float)
    if y.size < 3:
        return naive_last(y, horizon)
    diffs = np.diff(y)
    drift = float(diffs.mean())
    sigma = float(np.std(diffs, ddof=1))
    h = np.arange(1, horizon + 1)
    return NormalForecast(y[-1] + h * drift, sigma * np.sqrt(h * (1.0 + h / diffs.size)))


def theta(history: np.ndarray, horizon: int, period: int = 12) -> NormalForecast:
    """The Theta method (Assimakopoulos & Nikolopoulos 2000) via statsmodels' ``ThetaModel``.

    Simple exponential smoothing plus half the slope of the linear trend (theta = 2), with
    multiplicative deseasonalising when the series has two full ``period`` cycles and statsmodels'
    seasonality test finds a season.  The normal marginals' SD is the Theta model's h-step SD
    (see the code).  Fewer than 4 months or a month <= 0: :func:`rw_drift`.
    """
    from statsmodels.tsa.forecasting.theta import ThetaModel

    y = np.asarray(history, float)
    if y.size < 4 or not np.all(y > 0):
        return rw_drift(y, horizon)
    seasonal = y.size >= 2 * period
    model = ThetaModel(y, period=period if seasonal else 1, deseasonalize=seasonal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optimiser chatter on short series
        result = model.fit()
        mean = np.asarray(result.forecast(horizon), float)
    # The h-step variance statsmodels documents for Theta, sigma^2 (1 + (h - 1)(1 + (alpha -
    # 1)^2)), with sigma^2 of its IMA(1,1)-with-drift form (dy_t = c + e_t + (alpha - 1) e_t-1)
    # by conditional sum of squares: statsmodels' own estimate fits that ARIMA by maximum
    # likelihood, ~100x the cost of everything else here.
    alpha = float(result.params["alpha"])
    dy = np.diff(y)
    errors = np.empty_like(dy)
    previous = 0.0
    for t, step in enumerate(dy - dy.mean()):
        previous = errors[t] = step - (alpha - 1.0) * previous
    sigma2 = float(np.mean(errors**2))
    h = np.arange(horizon)
    sd = np.sqrt(sigma2 * (1.0 + h * (1.0 + (alpha - 1.0) ** 2)))
    return NormalForecast(mean, np.maximum(sd, 0.0))


def ets_total(
    history: np.ndarray, horizon: int, n_paths: int, seed: int, period: int = 12
) -> SampleForecast:
    """ETS on the series (statsmodels' ``ETSModel``), the AICc best of a small AutoETS.

    Candidates: A,N,N and A,Ad,N, and with two full ``period`` cycles also A,N,A and A,Ad,A
    (additive season).  The chosen model simulates ``n_paths`` paths (normal errors,
    ``simulate(anchor="end")``), floored at 0.  A series the fits cannot take is carried flat.
    """
    y = np.asarray(history, float)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xE75, 1]))
    result = _fit_ets(y, period) if y.size >= 4 and np.ptp(y) > 0 else None
    if result is None:
        return SampleForecast(np.full((n_paths, horizon), y[-1]))
    sim = result.simulate(horizon, anchor="end", repetitions=n_paths, rng=rng)
    return SampleForecast(np.maximum(np.asarray(sim, float).reshape(horizon, n_paths).T, 0.0))


def _fit_ets(y: np.ndarray, period: int | None = None):
    """The best (AICc) of ETS(A,N,N) and ETS(A,Ad,N) on ``y`` via statsmodels; with ``period``
    and two full cycles of it, also ETS(A,N,A) and ETS(A,Ad,A)."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    seasons = [None]
    if period and y.size >= 2 * period:
        seasons.append("add")
    best = None
    for trend, season in [(t, s) for t in (None, "add") for s in seasons]:
        if trend is not None and y.size < 8:  # too short to estimate a damped trend
            continue
        model = ETSModel(
            y,
            error="add",
            trend=trend,
            damped_trend=trend is not None,
            seasonal=season,
            seasonal_periods=period if season else None,
        )
        with warnings.catch_warnings():
            # Optimiser chatter (convergence, bounds) per account: the AICc comparison decides.
            warnings.simplefilter("ignore")
            try:
                result = model.fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue
        if not np.isfinite(result.aicc):
            continue
        if best is None or result.aicc < best.aicc:
            best = result
    return best


def ets_paths(
    history: np.ndarray, horizon: int, n_paths: int, seed: int
) -> tuple[SampleForecast, np.ndarray]:
    """Per-account ETS forecasts (statsmodels), simulated and summed into total paths.

    Each account's series (from its first month with revenue up to the cut-off) is fitted with
    ETS(A,N,N) and ETS(A,Ad,N), the lower AICc kept (a small AutoETS over the non-seasonal
    additive-error models: most account series are too short for a seasonal one).  The chosen
    model simulates ``n_paths`` paths of the held-out months (normal errors, statsmodels'
    ``simulate(anchor="end")``), floored at 0 (revenue is not negative).  Accounts are taken as
    independent: path ``j`` of the total is the sum of every account's path ``j``, so the total's
    intervals come from the summed paths, not from summing per-account quantiles.  An account with
    fewer than 4 months of history, or whose fits all fail, carries its last month flat.

    Parameters
    ----------
    history : numpy.ndarray, shape (accounts, months)
        Monthly revenue up to the cut-off (0 before an account's start).
    horizon, n_paths, seed : int

    Returns
    -------
    total : SampleForecast
        Summed paths, shape (n_paths, horizon).
    per_account_p50 : numpy.ndarray, shape (accounts, horizon)
        Each account's median path (for inspection).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xE75]))
    total = np.zeros((n_paths, horizon))
    medians = np.zeros((history.shape[0], horizon))
    flat = 0
    for i, row in enumerate(np.asarray(history, float)):
        started = np.flatnonzero(row > 0)
        y = row[started[0] :] if started.size else row[-1:]
        result = _fit_ets(y) if y.size >= 4 and np.ptp(y) > 0 else None
        if result is None:
            flat += 1
            paths = np.full((n_paths, horizon), y[-1])
        else:
            sim = result.simulate(horizon, anchor="end", repetitions=n_paths, rng=rng)
            paths = np.maximum(np.asarray(sim, float).reshape(horizon, n_paths).T, 0.0)
        total += paths
        medians[i] = np.median(paths, axis=0)
    if flat:
        log.info("ETS baseline: %d of %d accounts carried flat", flat, history.shape[0])
    return SampleForecast(total), medians


#: Baselines ``backtest.baselines`` may name, each a function of the backtest's inputs:
#: ``(history (accounts, months), like-for-like total (months,), horizon, n_paths, seed)``.
BASELINES = {
    "naive_last": lambda acc, total, h, n, seed: naive_last(total, h),
    "seasonal_naive": lambda acc, total, h, n, seed: seasonal_naive(total, h),
    "rw_drift": lambda acc, total, h, n, seed: rw_drift(total, h),
    "theta": lambda acc, total, h, n, seed: theta(total, h),
    "ets": lambda acc, total, h, n, seed: ets_total(total, h, n, seed),
    # One ETS per account, summed: ~500x the cost of the others together on 4,000 accounts.
    "ets_accounts": lambda acc, total, h, n, seed: ets_paths(acc, h, n, seed)[0],
}

#: The cheap ones (all on the like-for-like total); ``ets_accounts`` is opt-in.
DEFAULT_BASELINES = DEFAULT_BACKTEST_BASELINES


def baseline_forecasts(
    history: np.ndarray, horizon: int, n_paths: int, seed: int, names=DEFAULT_BASELINES
) -> dict:
    """The named baselines' forecasts of the installed base's total, in the order named.

    Parameters
    ----------
    history : numpy.ndarray, shape (accounts, months)
        The installed base's monthly revenue up to the cut-off.
    horizon, n_paths, seed : int
        Held-out months; sample paths of the simulating baselines; their seed.
    names : sequence of str
        Keys of :data:`BASELINES`.

    Returns
    -------
    dict
        ``{name: SampleForecast | NormalForecast}``.
    """
    total = like_for_like(history)
    return {name: BASELINES[name](history, total, horizon, n_paths, seed) for name in names}
