"""A month's usage and revenue as passes over the accounts in play: inside the horizon
:func:`month_pass` (usage, zero months, revenue, commits, the trailing sums and each account's
contribution to the month's sums), past it :func:`cohort_pass` (usage and revenue for the
cohort cells)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simengine.kernels._jit import inline_jit, jit, pass_jit
from simengine.kernels.layout import HISTORY_MONTHS
from simengine.kernels.vmath import vexp


class MonthInputs(NamedTuple):
    """What a month's usage and revenue read beyond the accounts' state (:func:`month_pass`,
    :func:`cohort_pass`)."""

    ring_now: np.ndarray  # revenue ring row of month t (month t - 24 on entry)
    ring_ago: np.ndarray  # revenue ring row of month t - 12
    usage_now: np.ndarray  # usage ring row of month t (the decline rule's)
    season_now: float  # season multiplier of the month
    price_mult: float  # the month's price multiplier
    renewal_ratio: float  # renewal commit over the term's consumption


class MonthFields(NamedTuple):
    """The arrays :func:`month_pass` reads and writes, by position (:func:`month_fields`)."""

    active: np.ndarray  # read: Flags.active
    gone: np.ndarray  # read
    born: np.ndarray  # read
    x: np.ndarray  # read
    ramp_tail: np.ndarray  # read
    health: np.ndarray  # read
    healthy_size: np.ndarray  # read
    healthy_ramp: np.ndarray  # read
    unhealthy_level: np.ndarray  # read
    unhealthy_ramp: np.ndarray  # read
    hist_size: np.ndarray  # read
    hist_ramp: np.ndarray  # read
    price: np.ndarray  # read
    zero_gap: np.ndarray  # read and written from here on
    term: np.ndarray
    commit: np.ndarray
    consumed: np.ndarray
    cur12: np.ndarray
    prev12: np.ndarray
    last_revenue: np.ndarray
    skipped: np.ndarray  # written: Flags.skipped


class CohortFields(NamedTuple):
    """The arrays :func:`cohort_pass` reads and writes, by position (:func:`cohort_fields`)."""

    active: np.ndarray  # read: Flags.active
    x: np.ndarray  # read
    ramp_tail: np.ndarray  # read
    health: np.ndarray  # read
    healthy_size: np.ndarray  # read
    healthy_ramp: np.ndarray  # read
    unhealthy_level: np.ndarray  # read
    unhealthy_ramp: np.ndarray  # read
    price: np.ndarray  # read
    zero_gap: np.ndarray  # read and written
    skipped: np.ndarray  # written: Flags.skipped


@jit
def month_fields(fl, ints, flags):
    """The :class:`MonthFields` of a draw's state and flags (views, no copies)."""
    return MonthFields(flags.active, ints.gone, ints.born, fl.x, fl.ramp_tail, fl.health,
                       fl.healthy_size, fl.healthy_ramp, fl.unhealthy_level, fl.unhealthy_ramp,
                       fl.hist_size, fl.hist_ramp, fl.price, ints.zero_gap, ints.term, fl.commit,
                       fl.consumed, fl.cur12, fl.prev12, fl.last_revenue,
                       flags.skipped)  # fmt: skip


@jit
def cohort_fields(fl, ints, flags):
    """The :class:`CohortFields` of a draw's state and flags (views, no copies)."""
    return CohortFields(flags.active, fl.x, fl.ramp_tail, fl.health, fl.healthy_size,
                        fl.healthy_ramp, fl.unhealthy_level, fl.unhealthy_ramp, fl.price,
                        ints.zero_gap, flags.skipped)  # fmt: skip


@inline_jit
def counts(t, live, gone, ghosts):
    """Whether a position still counts in month ``t``: in play, or (with ``ghosts``) churned at a
    boundary ``gone`` within the last 12 months, so that :func:`month_pass` still rolls it into
    that month's NRR bases."""
    since = t - gone
    return live or (ghosts and since >= 0 and since < HISTORY_MONTHS)


@pass_jit
def month_pass(t, lo, hi, acc, month, contrib):
    """Usage, revenue, commits and the trailing sums of every active position (``flags.active``)
    in month ``t`` (inside the horizon), and its contributions to the month's sums
    (:class:`Contrib`, rows that do not alias).

    ``acc`` (:class:`MonthFields`): reads ``gone``, ``born``, the level, ramp, health and
    use-case fields, and ``month`` (:class:`MonthInputs`); writes ``zero_gap``, ``term``, ``commit``,
    ``consumed``, ``cur12``, ``prev12``, ``last_revenue``, the rings' rows of the month and
    ``flags.skipped``: 1 where the month shows no usage (the hurdle), its next gap drawn in a
    scalar pass.  The contributions are also what the per-account record and the cohort cells
    read (revenue, overage, leak: 0 where not active).
    Returns the numbers of skipped months and of active positions.

    An account that churned at the boundary into month ``c`` (``gone[p] = c``) is not active,
    but in months ``c .. c + 11`` it still rolls its ring and trailing sums with no revenue: it
    was a customer 12 months before, so it stays in the year-ago base and, if it had been one
    for the whole base year, in the trailing-twelve-month base (numerators 0).
    """
    (active, gone, born, x, ramp_tail, health, healthy_size, healthy_ramp, unhealthy_level,
     unhealthy_ramp, hist_size, hist_ramp, price, zero_gap, term, commit, consumed, cur12, prev12,
     last_revenue, skipped) = acc  # fmt: skip
    ring_now, ring_ago, u0, season_now, price_mult, renewal_ratio = month
    n_skipped = 0
    n_active = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        on = active[p] != 0
        n_active += 1 if on else 0
        rolling = counts(t, on, gone[p], True)
        expansion = healthy_size[p] - healthy_ramp[p] + unhealthy_level[p] - unhealthy_ramp[p]
        # Expansion revenue counts the forecast's use cases only; past ones are in the level.
        new_expansion = expansion - (hist_size[p] - hist_ramp[p])
        base = vexp(x[p]) * season_now * (1.0 - ramp_tail[p]) * health[p]
        usage = base * (1.0 + expansion)
        gz = zero_gap[p]
        skip = gz == 0
        usage = 0.0 if skip else usage
        base = 0.0 if skip else base
        sk = 1 if (on and skip) else 0
        skipped[p] = sk
        n_skipped += sk
        zero_gap[p] = gz - 1 if (on and not skip) else gz
        unit = price[p] * price_mult
        revenue = usage * unit if on else 0.0
        u0[p] = usage if on else u0[p]
        # Commits: consumption against the annual commit, overage, leak and renewal at term end.
        c = commit[p]
        has = on and c > 0.0
        before = consumed[p]
        used = before + revenue
        overage = used - max(before, c) if (has and used > c) else 0.0
        tm = term[p] + 1
        renew = has and tm == 12
        leak = max(c - used, 0.0) if renew else 0.0
        commit[p] = renewal_ratio * used if renew else c
        consumed[p] = (0.0 if renew else used) if has else before
        term[p] = (0 if renew else tm) if has else term[p]
        # Trailing sums: revenue of months t - 12 and t - 24 leave them.
        year_ago = ring_ago[p]
        # Running sums of revenues: rounding may leave -1e-12 where the months are all gone
        # (an account 11 months after its churn), and a sum of revenues is not negative.
        c12 = max(cur12[p] + revenue - year_ago, 0.0)
        p12 = max(prev12[p] + year_ago - ring_now[p], 0.0)
        cur12[p] = c12 if rolling else cur12[p]
        prev12[p] = p12 if rolling else prev12[p]
        ring_now[p] = revenue if rolling else ring_now[p]
        last_revenue[p] = revenue if on else last_revenue[p]
        expansion_revenue = base * new_expansion * unit
        retained = rolling and year_ago > 0.0
        ttm = rolling and t - 23 >= born[p]
        contrib.revenue[p] = revenue  # 0 where not active
        contrib.usage[p] = usage if on else 0.0
        contrib.expansion[p] = expansion_revenue if on else 0.0
        contrib.overage[p] = overage
        contrib.leak[p] = leak
        contrib.retention_base[p] = year_ago if retained else 0.0
        contrib.retained[p] = revenue if retained else 0.0
        contrib.retained_capped[p] = min(revenue, year_ago) if retained else 0.0
        contrib.ttm_base[p] = p12 if ttm else 0.0
        contrib.ttm_retained[p] = c12 if ttm else 0.0
        contrib.ttm_retained_capped[p] = min(c12, p12) if ttm else 0.0
    return n_skipped, n_active


@pass_jit
def cohort_pass(t, lo, hi, acc, month, revenue_out):
    """Past the horizon (cohort tracking) only usage (for the decline rule, into
    ``month.usage_now``) and revenue (into ``revenue_out``, 0 where not active, as
    :func:`month_pass`'s contribution) count; writes ``acc.zero_gap`` and
    ``acc.skipped`` (:class:`CohortFields`) as :func:`month_pass`.  Returns the number of skipped months."""
    (active, x, ramp_tail, health, healthy_size, healthy_ramp, unhealthy_level, unhealthy_ramp,
     price, zero_gap, skipped) = acc  # fmt: skip
    u0, season_now, price_mult = month.usage_now, month.season_now, month.price_mult
    n_skipped = 0
    for k in range(hi - lo):
        p = np.uintp(lo + k)  # unsigned: no wraparound select, so the index stays affine
        on = active[p] != 0
        expansion = healthy_size[p] - healthy_ramp[p] + unhealthy_level[p] - unhealthy_ramp[p]
        usage = vexp(x[p]) * season_now * (1.0 - ramp_tail[p]) * health[p] * (1.0 + expansion)
        gz = zero_gap[p]
        skip = gz == 0
        usage = 0.0 if skip else usage
        sk = 1 if (on and skip) else 0
        skipped[p] = sk
        n_skipped += sk
        zero_gap[p] = gz - 1 if (on and not skip) else gz
        u0[p] = usage if on else u0[p]
        revenue_out[p] = usage * (price[p] * price_mult) if on else 0.0
    return n_skipped
