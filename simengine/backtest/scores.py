"""Scores of a forecast of the total against what happened, one row per method.

Definitions (``backtest_scores.csv``), over the held-out months ``t = 1..H`` of the **total** of the
installed base, with ``y_t`` the actual revenue and ``q_p,t`` the method's ``p`` quantile:

``coverage50``, ``coverage80``, ``coverage90``
    Share of held-out months whose actual lies in the method's central 50/80/90% interval,
    ``q_(1-c)/2,t <= y_t <= q_(1+c)/2,t``.
``crps_pct``
    Mean over months of the continuous ranked probability score of the method's predictive
    distribution of ``y_t`` (scoringrules: the ensemble estimator for sample paths, the closed form
    for a normal), divided by the mean monthly actual, in percent.  Lower is better; for a point
    forecast it reduces to the mean absolute error.
``bias_pct``
    ``100 * (sum_t q_0.5,t - sum_t y_t) / sum_t y_t``: positive = the median over-forecast.
``mape_total``
    ``100 * mean_t |q_0.5,t - y_t| / y_t`` (months with ``y_t = 0`` left out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["QUANTILES", "SCORE_COLUMNS", "quantile_columns", "score"]

#: Quantiles written to ``backtest.csv``: column ``p05`` is the 0.05 quantile, and so on.
QUANTILES = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
SCORE_COLUMNS = ("coverage50", "coverage80", "coverage90", "crps_pct", "bias_pct", "mape_total")


def quantile_columns() -> list[str]:
    """``["p05", "p10", "p25", "p50", "p75", "p90", "p95"]``."""
    return [f"p{round(q * 100):02d}" for q in QUANTILES]


def score(forecast, actual: np.ndarray) -> dict[str, float]:
    """Score one method's forecast of the total.

    Parameters
    ----------
    forecast : SampleForecast or NormalForecast
        Anything with ``quantiles(probs) -> (len(probs), months)`` and ``crps(actual) -> (months,)``.
    actual : numpy.ndarray, shape (months,)

    Returns
    -------
    dict
        The :data:`SCORE_COLUMNS`, defined in the module docstring.
    """
    y = np.asarray(actual, float)
    q = forecast.quantiles([0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95])
    p50 = q[3]
    out = {}
    for name, lo, hi in (("coverage50", 2, 4), ("coverage80", 1, 5), ("coverage90", 0, 6)):
        out[name] = float(np.mean((y >= q[lo]) & (y <= q[hi])))
    scale = float(np.mean(y))
    crps = forecast.crps(y)
    out["crps_pct"] = 100.0 * float(np.mean(crps)) / scale if scale > 0 else float("nan")
    total = float(np.sum(y))
    out["bias_pct"] = 100.0 * (float(np.sum(p50)) - total) / total if total > 0 else float("nan")
    positive = y > 0
    out["mape_total"] = (
        100.0 * float(np.mean(np.abs(p50[positive] - y[positive]) / y[positive]))
        if positive.any()
        else float("nan")
    )
    return out


def score_table(forecasts: dict, actual: np.ndarray) -> pd.DataFrame:
    """One row per method (dict order): ``method`` and the :data:`SCORE_COLUMNS`."""
    rows = [{"method": name, **score(f, actual)} for name, f in forecasts.items()]
    return pd.DataFrame(rows, columns=["method", *SCORE_COLUMNS])


__all__ += ["score_table"]
