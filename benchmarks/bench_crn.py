"""Common random numbers: how much less noisy a paired scenario difference is than an independent one.

Run ``python benchmarks/bench_crn.py`` (default book, 1,000 draws x 36 months; ``--draws`` and
``--accounts`` shrink it).  The difference measured is revenue in forecast year 3, staffing
``se_heavy`` minus ``ae_heavy``: *paired* with the same seed in both (common streams), and
*independent* with seeds 1 and 2.  The factor is Var(independent) / Var(paired).  It is printed
twice: with the config's uncertain effects (win rate, health effects drawn per draw, so part of what
stays in the paired difference is the real uncertainty about the staffing effect), and with those
effects fixed at their means (all that stays is noise CRN could not remove).
"""

from __future__ import annotations

import argparse

import numpy as np

from simengine.api import load_config, simulate_config

FIXED = [
    "effects.win_rate=0.25",
    "effects.uncovered_win_ratio=0.7",
    "effects.unhealthy_covered=0.05",
    "effects.unhealthy_uncovered=0.25",
]


def year3(base: list[str], staffing: str, seed: int) -> np.ndarray:
    ds = simulate_config(load_config([*base, f"staffing={staffing}", f"seed={seed}"]))
    return ds["revenue"].isel(month=slice(24, 36)).sum(("month", "segment")).values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=2000)
    args = parser.parse_args()
    base = [
        f"sim.draws={args.draws}", "sim.horizon_months=36", "sim.progress=false",
        "sim.cohort_months=0", f"data.synthetic.n_accounts={args.accounts}",
    ]  # fmt: skip
    for name, extra in (("uncertain effects (config)", []), ("effects fixed", FIXED)):
        se, ae, ae2 = (year3([*base, *extra], s, seed) for s, seed in
                       (("se_heavy", 1), ("ae_heavy", 1), ("ae_heavy", 2)))  # fmt: skip
        paired, indep = np.var(se - ae, ddof=1), np.var(se - ae2, ddof=1)
        print(
            f"{name}: {args.accounts} accounts x {args.draws} draws: SD paired "
            f"{np.sqrt(paired):,.0f}, independent {np.sqrt(indep):,.0f}; "
            f"variance reduction {indep / paired:.1f}x"
        )


if __name__ == "__main__":
    main()
