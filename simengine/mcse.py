"""Monte Carlo standard errors of the statistics a comparison reports (``p_better``, ``p_best``,
medians), over a run's simulation draws.

**Why the draws can be treated as independent.**  Simulation draw ``d`` takes stored posterior
draw ``perm[d]`` (:func:`simengine.fitting.posterior_draws`: seeded permutations of the stored
draws one after another, so the first ``n`` draws are a sample *without* replacement from them
and, past their number, every stored draw is used evenly), an assumption draw of each planning
assumption (its own seeded stream, one value a draw) and process noise from streams keyed by
``(seed, d, account, purpose)`` (:mod:`simengine.kernels.rng`), independent across draws.  The
estimand is the expectation over the stored posterior sample and the process; against it the
draws are exchangeable and the posterior part is a stratified (without-replacement) sample, whose
variance is the iid variance times ``(S - n) / (S - 1) <= 1`` (``S`` stored draws).  So the iid
formulas below are upper bounds: conservative, never optimistic.  What they do not measure is the
posterior sample's own Monte Carlo error (its ESS, checked by the fit's gate): more simulation
draws cannot reduce that.

Every function takes one scenario's per-draw values (or paired per-draw scores) and ignores
non-finite entries, as the comparison does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["better_scores", "quantile_mcse", "share_mcse"]


def better_scores(
    scenario: np.ndarray, baseline: np.ndarray, lower_is_better: bool = False
) -> np.ndarray:
    """Per paired draw: 1 where ``scenario`` beats ``baseline``, 0.5 on a tie, 0 where it loses.

    Their mean is :func:`simengine.compare.paired.p_better`; pairs where either value is not finite
    are left out (a shorter array of the pairs that count).
    """
    ok = np.isfinite(scenario) & np.isfinite(baseline)
    s, b = scenario[ok], baseline[ok]
    wins = (s < b) if lower_is_better else (s > b)
    return np.where(wins, 1.0, np.where(s == b, 0.5, 0.0))


def share_mcse(scores: np.ndarray) -> float:
    """Monte Carlo standard error of the mean of per-draw scores in [0, 1].

    The scores are :func:`better_scores` (their mean is ``p_better``) or a mix's share of each
    draw's win (mean ``p_best``).  The iid estimate ``sqrt(v / n)`` (module doc), with the
    variance ``v`` of the scores taken over the ``n`` draws plus one pseudo-draw at 0 and one at 1:
    for 0/1 scores that is ``p~ (1 - p~)`` with ``p~ = (k + 1) / (n + 2)`` (Laplace), so a first
    block in which every draw agrees (``p = 1``) does not read as certain (``sqrt(p (1 - p) /
    n)`` would be 0 after one draw).  Ties (scores of 0.5) lower ``v`` below ``p (1 - p)``, as
    they should.  Scores that are the same strictly-between value in every draw (every draw an
    exact tie: a scenario against itself, identical mixes) give 0: the statistic is exact.
    NaN without a draw.
    """
    s = np.asarray(scores, dtype=float)
    s = s[np.isfinite(s)]
    n = s.size
    if n == 0:
        return float("nan")
    if 0.0 < s[0] < 1.0 and np.all(s == s[0]):
        return 0.0
    m = (s.sum() + 1.0) / (n + 2)
    v = (np.square(s - m).sum() + m * m + (1.0 - m) ** 2) / (n + 2)
    return float(np.sqrt(v / n))


def quantile_mcse(values: np.ndarray, q: float = 0.5) -> float:
    """Monte Carlo standard error of the sample ``q``-quantile of ``values`` (``diff_p50``: q=0.5).

    From the order-statistic interval: the share of draws below the sample quantile is
    approximately normal with mean ``q`` and standard deviation ``s = sqrt(q (1 - q) / n)``
    (the binomial count behind every order statistic, whatever the distribution), so the sample
    quantiles at ``q - s`` and ``q + s`` bracket one standard error either side and the MCSE is
    half their distance (ArviZ's ``mcse(method="quantile")`` with ESS = ``n``, the draws being
    independent).  Chosen over the asymptotic ``s / f(x_q)``, which needs a density estimate at
    the quantile, and over batch means, which suits autocorrelated chains and leaves few batches
    at the block sizes a run starts with.  A paired difference that is exactly 0 in most draws
    (a scenario that changes nothing before the horizon) gives 0: its median is exact.  NaN with
    fewer than two finite draws.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 2:
        return float("nan")
    s = np.sqrt(q * (1.0 - q) / n)
    lo, hi = np.quantile(x, (max(0.0, q - s), min(1.0, q + s)))
    return float((hi - lo) / 2.0)
