"""The usage step law's tails: a two-component normal scale mixture, which the usage fit
estimates (:func:`fit_scale_mixture`), the simulation's set-up reads from a posterior and the
kernel draws.

Heavy-tailed month-on-month log-usage changes are simulated as a scale mixture of two centred
normals: with probability ``1 - w`` a step ``N(0, s^2)``, with probability ``w`` a wide step
``N(0, (k s)^2)`` (``k >= 1`` the SD ratio), ``s`` set so the step's SD is ``usage_volatility``:
``s = sigma / sqrt(1 - w + w k^2)``.  ``w = 0`` is the plain normal step.

Why a normal mixture and not a Student-t or a truncated t:

* **Finite mean growth.**  ``E[exp(step)] = (1 - w) exp(s^2 / 2) + w exp(k^2 s^2 / 2)`` is finite,
  so the mean of a revenue path exists and a 36-month walk over ~72 M account-months cannot reach
  ``e^60``: a t(nu) step has ``E[exp(step)] = inf`` for every ``nu``, and at the shared book's
  fitted ``nu = 3.8`` one draw in 1,000 carried a year's revenue 1,000x its median.
* **The data's extremes.**  ``w`` and ``k`` are the maximum-likelihood fit (EM) to the same clean,
  standardised residuals the usage fit's heavy-tail test reads (``tail_residuals`` in
  ``fitting/usage.py``), so the law's body and tail up to the largest observed changes are the
  data's; beyond the data its tail is Gaussian (at ``k s``), which is what keeps the mean finite.
  A t truncated at a bound would need the bound itself from the few largest changes (a noisy
  order statistic) and a rejection loop in the kernel; the mixture costs one uniform per step.
* **Closed forms** for variance, kurtosis (``3 (1 - w + w k^4) / (1 - w + w k^2)^2``) and
  ``E[exp(step)]`` (:func:`mixture_moments`), which the kernel tests check.

A posterior with a Student-t shape instead (``usage_tail_nu``: a Student-t step law, or a robust
fit's sampled ``nu``) is read through :func:`mixture_from_student_t`: the mixture closest to t(nu)
in Kullback-Leibler divergence.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TAIL_PARAMETERS",
    "fit_scale_mixture",
    "mixture_from_student_t",
    "mixture_moments",
    "mixture_scales",
]

#: Posterior constants of the step law (scalars): the wide component's weight and SD ratio.
TAIL_PARAMETERS = ("usage_tail_weight", "usage_tail_ratio")


def _em(z: np.ndarray, weights: np.ndarray, iterations: int = 500) -> tuple[float, float, float]:
    """EM for a centred two-component normal scale mixture on (possibly weighted) points.

    Returns ``(w, s_narrow, s_wide)`` with ``s_wide >= s_narrow``.
    """
    z2 = z * z
    total = weights.sum()
    sd = np.sqrt(np.sum(weights * z2) / total)
    w, s1, s2 = 0.1, 0.8 * sd, 3.0 * sd
    previous = -np.inf
    for _ in range(iterations):
        l1 = (1.0 - w) * np.exp(-0.5 * z2 / s1**2) / s1
        l2 = w * np.exp(-0.5 * z2 / s2**2) / s2
        both = np.maximum(l1 + l2, 1e-300)
        r = l2 / both
        loglik = float(np.sum(weights * np.log(both)))
        rw = weights * r
        w = float(rw.sum() / total)
        if w < 1e-6 or w > 1.0 - 1e-6:  # one component: the normal
            return 0.0, sd, sd
        s1 = float(np.sqrt(np.sum((weights - rw) * z2) / (total - rw.sum())))
        s2 = float(np.sqrt(np.sum(rw * z2) / rw.sum()))
        if abs(loglik - previous) < 1e-10 * abs(loglik):
            break
        previous = loglik
    if s2 < s1:
        w, s1, s2 = 1.0 - w, s2, s1
    return w, s1, s2


def fit_scale_mixture(z: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``(w, k)`` of a centred normal scale mixture fitted to ``z``.

    Parameters
    ----------
    z : numpy.ndarray, shape (n,)
        Residuals on one scale (each segment's divided by its own robust scale); the mixture's
        overall scale is fitted too and then dropped: the simulation takes the SD from
        ``usage_volatility``.

    Returns
    -------
    w, k : float
        Weight of the wide component and its SD over the narrow one's (``k >= 1``; ``w = 0`` and
        ``k = 1`` where one normal fits best).
    """
    z = np.asarray(z, dtype=np.float64)
    w, s1, s2 = _em(z, np.ones_like(z))
    if w == 0.0 or s2 <= s1 * (1.0 + 1e-9):
        return 0.0, 1.0
    return float(w), float(s2 / s1)


def mixture_from_student_t(nu: float) -> tuple[float, float]:
    """``(w, k)`` of the mixture closest to a Student-t of ``nu`` degrees of freedom.

    Minimises ``KL(t_nu || mixture)`` by EM on a deterministic quadrature of t(nu) (its quantiles
    at 20,000 evenly spaced probabilities).  ``nu <= 2`` or not finite (0 meant normal steps):
    ``(0, 1)``.
    """
    from scipy import stats

    if not np.isfinite(nu) or nu <= 2.0 or nu > 1000.0:
        return 0.0, 1.0
    n = 20_000
    z = stats.t(nu).ppf((np.arange(n) + 0.5) / n)
    w, s1, s2 = _em(z, np.ones(n))
    if w == 0.0:
        return 0.0, 1.0
    return float(w), float(s2 / s1)


def mixture_scales(w, k, sd):
    """SDs ``(narrow, wide)`` of the two components for a step of SD ``sd`` (broadcasts)."""
    w, k, sd = (np.asarray(a, dtype=np.float64) for a in (w, k, sd))
    narrow = sd / np.sqrt(1.0 - w + w * k * k)
    return narrow, k * narrow


def mixture_moments(w: float, k: float, sd: float) -> dict[str, float]:
    """Closed forms of the step ``x``: ``variance``, ``kurtosis`` (``E x^4 / var^2``; 3 for a
    normal), ``mean_exp`` (``E[exp(x)]``), and ``quantile(p)`` via :func:`mixture_quantile`."""
    narrow, wide = mixture_scales(w, k, sd)
    var = (1.0 - w) * narrow**2 + w * wide**2
    fourth = 3.0 * ((1.0 - w) * narrow**4 + w * wide**4)
    return {
        "variance": float(var),
        "kurtosis": float(fourth / var**2),
        "mean_exp": float((1.0 - w) * np.exp(0.5 * narrow**2) + w * np.exp(0.5 * wide**2)),
    }
