"""The book's own new-logo process: monthly starts per segment, a rate and a trend, with uncertainty.

Model, per segment ``s`` and month ``m`` of the observation window (``book.window_start`` ..
``as_of``)::

    n_{s,m} ~ Poisson(exp(a_s + b_s * tau_m)),   tau_m = (m - as_of) / 12   (years; 0 at as_of)

``a_s`` is the log monthly rate at ``as_of`` and ``b_s`` the log growth per year.  Only starts inside
the window count: accounts that started earlier appear in an export only if they survived, so their
start months undercount the past rate (left truncation).  The fit is the posterior mode under a flat
prior on ``a`` and ``b ~ Normal(0, 0.5)`` per year (a trend of +-65%/yr at 1 SD: a few years of starts
pin the level far better than the slope, and an unregularised slope extrapolated over a multi-year
horizon explodes), found by Newton's method, with the Laplace approximation ``N(mode, H^-1)`` as the
posterior: with tens of starts per segment and a log link the Poisson likelihood is close to
Gaussian in ``(a, b)``, so this is the conjugate-like closed form a full MCMC fit would reproduce.

Each simulation draw gets its own ``(a, b)`` from that normal (seeded by purpose), and horizon month
``t`` (``as_of + 1 + t``) has rate ``exp(a + b (t + 1) / 12)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NewLogoFit", "fit_new_logos"]

#: Prior SD of the log growth per year of the new-logo rate.
TREND_PRIOR_SD = 0.5
#: Fewer months of observation window than this: no trend is fitted (slope fixed at 0).
MIN_TREND_MONTHS = 12


@dataclass(frozen=True)
class NewLogoFit:
    """Posterior of the new-logo process per segment (segment order of ``segments``).

    Attributes
    ----------
    segments : tuple of str
    mean : ndarray, shape (segments, 2)
        Posterior mode of ``(a, b)``: log monthly rate at ``as_of`` and log growth per year.
    cov : ndarray, shape (segments, 2, 2)
        Laplace covariance.
    starts : ndarray, shape (segments,)
        Starts counted in the window; ``months`` the window length.
    """

    segments: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray
    starts: np.ndarray
    months: int

    def rate_at_as_of(self) -> np.ndarray:
        """Posterior-mode monthly rate per segment at ``as_of``."""
        return np.exp(self.mean[:, 0])

    def draw_rates(self, rng: np.random.Generator, draws: int, horizon: int) -> np.ndarray:
        """``(draws, segments, horizon)`` monthly Poisson means, one ``(a, b)`` per draw and segment."""
        n_seg = len(self.segments)
        z = rng.standard_normal((draws, n_seg, 2))
        chol = np.linalg.cholesky(self.cov)  # (S, 2, 2)
        ab = self.mean[None] + np.einsum("sij,dsj->dsi", chol, z)
        years = (np.arange(horizon) + 1.0) / 12.0
        return np.exp(ab[..., 0, None] + ab[..., 1, None] * years)


def fit_new_logos(book, segments: tuple[str, ...]) -> NewLogoFit | None:
    """Fit the new-logo process of ``book`` per segment; None when the window holds no start."""
    as_of, first = int(book.as_of), int(book.window_start)
    months = as_of - first + 1
    acc = book.accounts
    start = acc["start_month"].to_numpy(np.int64)
    inside = (start >= first) & (start <= as_of)
    if months < 1 or not inside.any():
        return None
    tau = (np.arange(first, as_of + 1) - as_of) / 12.0
    mean = np.zeros((len(segments), 2))
    cov = np.zeros((len(segments), 2, 2))
    starts = np.zeros(len(segments))
    seg = acc["segment"].to_numpy()
    for s, name in enumerate(segments):
        counts = np.bincount(start[inside & (seg == name)] - first, minlength=months).astype(float)
        starts[s] = counts.sum()
        mean[s], cov[s] = _laplace(counts, tau, trend=months >= MIN_TREND_MONTHS)
    return NewLogoFit(tuple(segments), mean, cov, starts, months)


def _laplace(counts: np.ndarray, tau: np.ndarray, trend: bool) -> tuple[np.ndarray, np.ndarray]:
    """Mode and covariance of ``(a, b)`` for Poisson counts with log-linear mean (see module doc).

    A segment without starts gets the mode of half a start over the window (a Jeffreys-like
    floor: its rate is small but not zero) and the matching wide covariance.
    """
    total = max(counts.sum(), 0.5)
    theta = np.array([np.log(total / len(counts)), 0.0])
    prior_prec = np.diag([0.0, 1.0 / TREND_PRIOR_SD**2 if trend else 1e12])
    x = np.stack([np.ones_like(tau), tau], axis=1)
    y = counts if counts.sum() > 0 else np.full_like(counts, 0.5 / len(counts))
    for _ in range(50):
        mu = np.exp(x @ theta)
        grad = x.T @ (y - mu) - prior_prec @ theta
        hess = x.T @ (x * mu[:, None]) + prior_prec
        step = np.linalg.solve(hess, grad)
        theta = theta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    mu = np.exp(x @ theta)
    hess = x.T @ (x * mu[:, None]) + prior_prec
    cov = np.linalg.inv(hess)
    if not trend:
        cov[1, :] = cov[:, 1] = 0.0
        cov[1, 1] = 1e-300  # positive for the Cholesky; the slope stays 0
    return theta, cov


def apply_rate_history(cfg, params, book, coverage) -> tuple[str, ...]:
    """``market=rate``: fill what the config leaves to the book itself; returns those segments.

    A segment without ``market.new_logo_rate.<segment>`` (or ``default``) continues the book's
    fitted new-logo process (rate and trend per draw, the stream the capacity model uses), and an
    unset ``market.csm_coverage`` / ``market.se_coverage`` is today's covered share of the book
    (``coverage``: :class:`simengine.gtm.drivers.TodayCoverage`; 0 where the book does not say).

    Raises
    ------
    ConfigError
        A segment to continue without a start in the book's observation window.
    """
    from simengine.config import ConfigError
    from simengine.kernels.layout import M_CSM_COVERAGE, M_NEW_LOGO_RATE, M_SE_COVERAGE
    from simengine.params import assumption_stream

    market = cfg.market
    mp = params.month_params
    draws, horizon = mp.shape[0], mp.shape[2]
    for slot, name, share in (
        (M_CSM_COVERAGE, "csm_coverage", coverage.csm),
        (M_SE_COVERAGE, "se_coverage", coverage.se),
    ):
        if getattr(market, name) is None:
            mp[..., slot] = share if share is not None else 0.0
    segments = tuple(params.segments)
    own = tuple(s for s in segments if s not in market.new_logo_rate
                and "default" not in market.new_logo_rate)  # fmt: skip
    if not own:
        return own
    fit = fit_new_logos(book, segments)
    empty = [s for k, s in enumerate(segments) if s in own and (fit is None or fit.starts[k] == 0)]
    if empty:
        raise ConfigError(
            f"config key 'market.new_logo_rate.{empty[0]}': the book has no start of segment "
            f"{empty[0]!r} in its observation window to continue; set market.new_logo_rate."
            f"{empty[0]} (new logos a month)"
        )
    fitted = fit.draw_rates(assumption_stream(cfg.seed, "gtm", "new_logo_process"), draws, horizon)
    for k, seg in enumerate(segments):
        if seg in own:
            mp[:, k, :, M_NEW_LOGO_RATE] = fitted[:, k, :]
    return own
