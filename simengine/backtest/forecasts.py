"""Forecast distributions of one series over the held-out months, and the baselines.

Every method's forecast of the installed base's total revenue is one of two shapes:

- :class:`SampleForecast`: sample paths (simengine's draws, the ETS baseline's simulated paths);
- :class:`NormalForecast`: independent normal marginals per month (the naive baselines, whose
  textbook intervals are normal: Hyndman & Athanasopoulos, *Forecasting: Principles and Practice*,
  section 5.5).

Both give quantiles and the CRPS of an observation through scoringrules (ensemble CRPS for
samples, the closed form for a normal), so every method is scored by the same maintained code.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

log = logging.getLogger(__name__)

__all__ = [
    "NormalForecast",
    "SampleForecast",
    "ets_paths",
    "naive_last",
    "seasonal_naive",
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


def _fit_ets(y: np.ndarray):
    """The better (AICc) of ETS(A,N,N) and ETS(A,Ad,N) on ``y``, via statsmodels."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    best = None
    for trend in (None, "add"):
        if trend is not None and y.size < 8:  # too short to estimate a damped trend
            continue
        model = ETSModel(y, error="add", trend=trend, damped_trend=trend is not None)
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
