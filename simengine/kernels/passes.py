"""One month of one draw as passes over the accounts in play, struct-of-arrays.

:func:`simulate_draw <simengine.kernels.account.simulate_draw>` keeps every account's state by
*position*, field major, and hands it to a pass by name: ``fl.x[p]``
(:class:`~simengine.kernels.state.Floats`), ``ints.born[p]``
(:class:`~simengine.kernels.state.Ints`), the month's :class:`Flags` and :class:`Contrib`, and the
rings ``ring[u % 24, p]`` (revenue) and ``uring[u % 8, p]`` (usage).  Each of the vector passes
takes one named tuple of exactly the arrays it reads and writes
(:class:`~simengine.kernels.boundary.ChurnFields`,
:class:`~simengine.kernels.usage_step.StepFields`,
:class:`~simengine.kernels.month_revenue.MonthFields`,
:class:`~simengine.kernels.month_revenue.CohortFields`, built once per draw) and
unpacks it at its top, so its loop reads as the model (numba passes each array of a tuple as its own
argument, ``noalias`` included).  Each segment owns a block of positions: its book accounts in row
order, then its new logos by start month, each initialised straight into its position.  A month runs
over two ranges of each block, the book's positions and the logos' in play (past the horizon only
the logos still inside their cohort window), with the segment's values as scalars, as a few passes,
one module each by what they model:

1. :func:`~simengine.kernels.boundary.churn_pass`: the boundary into month ``t`` (hazard ratios, the
   decline rule, the cumulative hazard against the threshold) and failed onboarding;
2. :func:`~simengine.kernels.usage_step.normal_pass`: the usage step's normal, the ziggurat's fast
   path for every stepping account (branch-free, so it vectorises), the rare tail / wedge lanes
   finished by :func:`~simengine.kernels.usage_step.normal_fixup` in a scalar second pass from the
   same stream: each account's normal is the same number :func:`simengine.kernels.rng.next_normal`
   returns;
3. :func:`~simengine.kernels.usage_step.step_pass`: the level, ramp, health and use-case ramp
   updates and the use-case trigger;
4. :func:`~simengine.kernels.month_revenue.month_pass` (inside the horizon) or
   :func:`~simengine.kernels.month_revenue.cohort_pass` (past it): ``exp`` of the level
   (:func:`~simengine.kernels.vmath.vexp`), usage, zero months, revenue, commits, the trailing sums,
   and each account's contribution to the month's sums.

The common path of each pass is branch-free (selects, ``min``/``max``) over float64 / int64 lanes,
so LLVM vectorises it (AVX-512 on the machine measured).  Two things make that happen: the passes
are compiled with their array arguments ``noalias`` (:func:`simengine.kernels._jit.pass_jit`; the
caller passes distinct arrays or distinct rows), and positions are unsigned (``np.uintp``), so
numba's negative-index wraparound does not turn the index into a select LLVM cannot analyse.  The
rare events (churn, a use case, a skipped month, a tail normal) are flagged (uint8) and counted
per position and handled in scalar passes in position order (:func:`next_flag`), only when the
count is not zero.  Sums add in a fixed order, so the results do not depend on the thread count.
They agree with the NumPy oracle (``tests/kernels/oracle.py``) to its tests' tolerance:
:func:`~simengine.kernels.vmath.vexp` is a few ulp from libm, and the 12-month sums run
(:func:`~simengine.kernels.month_revenue.month_pass`).

This module holds what the passes share: the month's :class:`Flags` and :class:`Contrib`, and
:func:`next_flag`.

A churned position stays where it is with ``alive`` 0 (it contributes nothing) and, for the 12
months after its churn, still rolls its ring and trailing sums, which keeps it in the NRR bases
of those months.  :mod:`simengine.kernels.ranges` squeezes out the positions that no longer
count: the book's in the horizon once they are a sixteenth of its range (filling each hole from
its end, which reorders the book's positions), the logos' past it once they are an eighth
(keeping their start order; a logo's position is fixed until the horizon).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import inline_jit


class Contrib(NamedTuple):
    """Each position's contributions to the month's sums (0 where none), one row of the
    workspace each.  The month's active and zero-month counts are the passes' own counts, and
    its book-only and logo-only sums come from running the book's and the logos' positions as
    separate ranges (:func:`simengine.kernels.ranges.add_sums`)."""

    revenue: np.ndarray
    usage: np.ndarray
    expansion: np.ndarray
    overage: np.ndarray
    leak: np.ndarray
    retention_base: np.ndarray
    retained: np.ndarray
    retained_capped: np.ndarray
    ttm_base: np.ndarray
    ttm_retained: np.ndarray
    ttm_retained_capped: np.ndarray


class Flags(NamedTuple):
    """The month's per-position flags, uint8 0/1, one row of the workspace each, padded to a
    multiple of 8 so that a row reads as uint64 words (``row.view(np.uint64)``): :func:`next_flag`
    skips eight clear flags with one load."""

    step: np.ndarray  # survives the boundary and takes a usage step
    churn: np.ndarray  # churns at the boundary (or fails onboarding)
    normal_slow: np.ndarray  # the usage normal left the ziggurat's fast path
    use_case: np.ndarray  # a use case starts this month
    skipped: np.ndarray  # the month shows no usage (the hurdle)
    active: np.ndarray  # in play and not churned: it has a month


@inline_jit
def next_flag(words, flags, p, hi):
    """The first position ``>= p`` (and ``< hi``) whose flag is set; the caller knows one is.

    ``words`` is ``flags.view(np.uint64)``: past the rest of ``p``'s word, whole words of eight
    clear flags are skipped with one load each.  Flags beyond ``hi`` may be stale, but the set
    one before ``hi`` stops the search first.
    """
    while (p & 7) != 0:
        if flags[p] != 0:
            return p
        p += 1
    w = p >> 3
    while words[w] == 0:
        w += 1
    p = w << 3
    while flags[p] == 0:
        p += 1
    return p
