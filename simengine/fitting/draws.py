"""Joint posterior draws for the simulation: one (chain, draw) index for every parameter."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

__all__ = ["PARAMETER_NAMES", "posterior_draws"]

#: Posterior variables the simulation reads (the generative model's parameter names).
PARAMETER_NAMES = (
    "usage_drift", "usage_volatility", "account_sd", "churn_alpha", "churn_beta",
    "use_case_rate", "use_case_size_mu", "use_case_size_sigma", "use_case_ramp_months",
    "ramp_start", "ramp_months", "initial_log_usage_mu", "initial_log_usage_sd",
    "season_cos", "season_sin", "csm_hazard_ratio", "se_use_case_ratio",
    "usage_decline_hazard_ratio", "usage_tail_nu", "usage_tail_weight", "usage_tail_ratio",
    "anniversary_hazard_ratio", "zero_month_prob", "onboarding_failure", "season", "ramp_log",
)  # fmt: skip


def posterior_draws(
    tree: xr.DataTree, n_draws: int, seed: int, segments: Sequence[str]
) -> dict[str, np.ndarray]:
    """``n_draws`` joint draws of every parameter in the posterior.

    Parameters
    ----------
    tree : xarray.DataTree
        With a ``posterior`` group (dims chain, draw[, segment]).
    n_draws : int
        Draws wanted.  They are the first ``n_draws`` of a concatenation of seeded permutations
        of all (chain, draw) pairs: up to the number available they are distinct, and beyond it
        every stored draw is used ``floor`` or ``ceil`` of ``n_draws / available`` times (evenly,
        never with replacement), deterministically by seed.
    seed : int
    segments : sequence of str
        Order of the segment axis in the output.

    Returns
    -------
    dict of numpy.ndarray
        Per-segment parameters: shape (n_draws, len(segments)); scalars: (n_draws,); ``season``
        (the monthly profile, January first): (n_draws, len(segments), 12) from a fit with a
        profile per segment, (n_draws, 12) from one with a model-wide profile; ``ramp_log`` (the
        onboarding curve, tenure 0..K): (n_draws, len(segments), K + 1).  Only names in
        :data:`PARAMETER_NAMES` that the posterior holds; a posterior with ``usage_tail_nu`` and no
        mixture also gets ``usage_tail_weight`` / ``usage_tail_ratio`` from it.

    Raises
    ------
    KeyError
        Some of ``segments`` are not in the posterior (the message names them).
    """
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    post = tree["posterior"].to_dataset()
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    available = n_chain * n_draw
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xD4A5]))
    # Even use: whole permutations one after another (a draw sampled with replacement would leave
    # ~exp(-n_draws / available) of the posterior unused: 13.5% at 1,000 draws of 500).
    rounds = -(-n_draws // available)
    flat = np.concatenate([rng.permutation(available) for _ in range(rounds)])[:n_draws]
    chain, draw = np.divmod(flat, n_draw)
    names = [n for n in PARAMETER_NAMES if n in post.data_vars]
    seg_index = None
    if any("segment" in post[n].dims for n in names):
        have = [str(s) for s in post["segment"].values]
        missing = [s for s in segments if s not in have]
        if missing:
            raise KeyError(f"segments {missing} are not in the posterior (it has {have})")
        seg_index = np.array([have.index(s) for s in segments], dtype=np.int64)
    out = {}
    for name in names:
        da = post[name]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        values = da.transpose("chain", "draw", *extra).to_numpy()[chain, draw]
        if extra and extra[0] == "segment":
            values = values[:, seg_index]
            extra = extra[1:]
        if extra and extra not in (["month_of_year"], ["ramp_tenure"]):
            continue
        out[name] = np.ascontiguousarray(values, dtype=np.float64)
    _tail_law_from_nu(out)
    return out


def _tail_law_from_nu(out: dict[str, np.ndarray]) -> None:
    """A posterior with a Student-t shape ``usage_tail_nu`` (a Student-t step law, or a robust
    fit's sampled ``nu``) and no mixture: each draw's ``nu`` as the mixture closest to
    t(nu) (:func:`~simengine.bookstats.tails.mixture_from_student_t`), in place.  ``nu = 0`` (or
    <= 2) stays normal steps."""
    if "usage_tail_nu" not in out or "usage_tail_weight" in out:
        return
    from simengine.bookstats.tails import mixture_from_student_t

    nu = out["usage_tail_nu"]
    # A sampled nu has a value per draw: to 0.01 (t laws that close differ by < 1e-3 in CDF),
    # so the fits are few.
    unique, inverse = np.unique(np.round(nu, 2), return_inverse=True)
    laws = np.array([mixture_from_student_t(float(v)) for v in unique]).reshape(-1, 2)
    out["usage_tail_weight"] = np.ascontiguousarray(laws[inverse.ravel(), 0].reshape(nu.shape))
    out["usage_tail_ratio"] = np.ascontiguousarray(laws[inverse.ravel(), 1].reshape(nu.shape))
