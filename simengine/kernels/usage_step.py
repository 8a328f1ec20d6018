"""The usage step into a month as passes over the accounts in play: its noise (the ziggurat's
fast path, :func:`normal_pass`, its rare lanes, :func:`normal_fixup`, and the heavy tails'
mixture, :func:`mixture_pass`), then the step itself (:func:`step_pass`): level, ramp, health,
the use cases' ramps and the use-case trigger."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import jit, pass_jit
from simengine.kernels.passes import next_flag
from simengine.kernels.rng import (
    GOLDEN,
    ZIG_K,
    ZIG_W,
    _normal_slow,
    mix64,
    next_normal,
    next_uniform,
)

_M8 = np.uint64(0xFF)


_S8 = np.uint64(8)


_S9 = np.uint64(9)


_ONE = np.uint64(1)


_M52 = np.uint64((1 << 52) - 1)


class StepRates(NamedTuple):
    """A segment's values for the usage step into one month (:func:`step_pass`)."""

    drift_shift: float  # the month's drift shift
    volatility: float  # SD of the step's noise (1 where eps already carries the mixture's scale)
    ramp_tails: np.ndarray  # 1 - ramp(k) for k = 0 .. RAMP_TABLE_MONTHS, the last 0
    q: float  # the use-case ramp's monthly factor exp(-1 / r)
    decay: float  # the unhealthy use cases' monthly factor
    decay_q: float  # decay * q
    se_share: float  # the month's SE / adoption support share
    intensity_plain: float  # use-case intensity without support
    intensity_supported: float  # ... with it


class StepFields(NamedTuple):
    """The arrays :func:`step_pass` reads and writes, by position (:func:`step_fields`)."""

    step: np.ndarray  # read: Flags.step
    exist: np.ndarray  # read
    born: np.ndarray  # read
    eps: np.ndarray  # read: the step's noise
    drift: np.ndarray  # read
    health_step: np.ndarray  # read
    u_se: np.ndarray  # read
    x: np.ndarray  # read and written from here on
    ramp_tail: np.ndarray
    health: np.ndarray
    healthy_ramp: np.ndarray
    unhealthy_level: np.ndarray
    unhealthy_ramp: np.ndarray
    hist_ramp: np.ndarray
    uc_gap: np.ndarray
    use_case: np.ndarray  # written: Flags.use_case


@jit
def step_fields(fl, ints, flags, eps):
    """The :class:`StepFields` of a draw's state, flags and noise ``eps`` (views, no copies)."""
    return StepFields(flags.step, ints.exist, ints.born, eps, fl.drift, fl.health_step, fl.u_se,
                      fl.x, fl.ramp_tail, fl.health, fl.healthy_ramp, fl.unhealthy_level,
                      fl.unhealthy_ramp, fl.hist_ramp, fl.uc_gap, flags.use_case)  # fmt: skip


@pass_jit
def normal_pass(lo, hi, step, usage_state, eps, slow):
    """The usage step's normal of every stepping position: the ziggurat's fast path, branch-free.

    ``eps[p]`` is the fast path's value and ``slow[p]`` is 1 where the candidate fell outside the
    layer's box (~1.2%): :func:`normal_fixup` then continues that stream exactly as
    :func:`simengine.kernels.rng.next_normal` would.  Non-stepping positions keep their state.
    This is the one place the usage step draws its noise.  Returns the number of slow lanes.
    """
    n_slow = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        old = usage_state[p]
        state = old + GOLDEN
        r = mix64(state)
        idx = np.intp(r & _M8)
        rabs = (r >> _S9) & _M52
        x = np.float64(rabs) * ZIG_W[idx]
        on = step[p] != 0
        eps[p] = -x if ((r >> _S8) & _ONE) == _ONE else x
        sl = 1 if (on and rabs >= ZIG_K[idx]) else 0
        slow[p] = sl
        n_slow += sl
        usage_state[p] = state if on else old
    return n_slow


@jit
def normal_fixup(lo, hi, n_slow, usage_state, eps, slow, slow_words):
    """Finish the ``n_slow`` rare normals of :func:`normal_pass` (tail or wedge) in position
    order."""
    p = lo
    for _ in range(n_slow):
        p = next_flag(slow_words, slow, p, hi)
        state = usage_state[p]
        r = mix64(state)
        idx = np.intp(r & _M8)
        sign = ((r >> _S8) & _ONE) == _ONE
        rabs = (r >> _S9) & _M52
        state, z, done = _normal_slow(state, idx, np.float64(rabs) * ZIG_W[idx], sign)
        if not done:
            state, z = next_normal(state)
        usage_state[p] = state
        eps[p] = z
        p += 1


@jit
def mixture_pass(lo, hi, step, usage_state, eps, weight, narrow, wide):
    """The usage step's noise where the usage fit found heavy tails: each stepping position's unit
    normal ``eps[p]`` (from :func:`normal_pass`) scaled to the wide component's SD ``wide`` with
    probability ``weight``, else to ``narrow`` (:mod:`simengine.bookstats.tails`), the choice by one
    uniform drawn after the normal from the position's usage stream, in position order.  Only
    segments with ``usage_tail_weight > 0`` come here."""
    for k in range(hi - lo):
        p = np.uintp(lo + k)
        if step[p] == 0:
            continue
        state, u = next_uniform(usage_state[p])
        usage_state[p] = state
        eps[p] = eps[p] * (wide if u < weight else narrow)


@pass_jit
def step_pass(t, lo, hi, acc, rates):
    """The usage step of every stepping position (``flags.step``) into month ``t``: the level
    ``x += drift + drift_shift + volatility * eps``, the ramp, health and use-case ramp updates;
    ``flags.use_case[p]`` = 1 where a use case starts this month (the arrivals are then drawn by
    :func:`simengine.kernels.state.start_use_cases` in a scalar pass, with the gap left as it
    was).  The ramp's remaining share is the segment's table at the tenure ``t - born[p]``
    (``rates.ramp_tails``, :class:`StepRates`).

    ``acc`` (:class:`StepFields`): reads ``exist``, ``born``, ``eps`` (the step's noise),
    ``drift``, ``health_step``, ``u_se``; writes ``x``, ``ramp_tail``, ``health``,
    ``healthy_ramp``, ``unhealthy_level``, ``unhealthy_ramp``, ``hist_ramp``, ``uc_gap``.
    Returns how many start a use case."""
    (step, exist, born, eps, drift, health_step, u_se, x, ramp_tail, health, healthy_ramp,
     unhealthy_level, unhealthy_ramp, hist_ramp, uc_gap, use_case) = acc  # fmt: skip
    (drift_shift, volatility, ramp_tails, q, decay, decay_q, se_share, intensity_plain,
     intensity_supported) = rates  # fmt: skip
    last = ramp_tails.shape[0] - 1
    n_use_case = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        on = step[p] != 0
        x[p] = (x[p] + ((drift[p] + drift_shift) + volatility * eps[p])) if on else x[p]
        ramp_tail[p] = ramp_tails[min(t - born[p], last)] if on else ramp_tail[p]
        health[p] = health[p] * health_step[p] if on else health[p]
        healthy_ramp[p] = healthy_ramp[p] * q if on else healthy_ramp[p]
        unhealthy_level[p] = unhealthy_level[p] * decay if on else unhealthy_level[p]
        unhealthy_ramp[p] = unhealthy_ramp[p] * decay_q if on else unhealthy_ramp[p]
        hist_ramp[p] = hist_ramp[p] * q if (on and exist[p] != 0) else hist_ramp[p]
        intensity = intensity_supported if u_se[p] < se_share else intensity_plain
        gap = uc_gap[p]
        starts = on and intensity >= gap
        uc = 1 if starts else 0
        use_case[p] = uc
        n_use_case += uc
        uc_gap[p] = gap - intensity if (on and not starts) else gap
    return n_use_case
