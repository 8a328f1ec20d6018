"""Common random numbers: how much less noisy a paired scenario difference is than an independent one.

Run ``python benchmarks/bench_crn.py`` (default book, 1,000 draws x 36 months; ``--draws`` and
``--accounts`` shrink it).  The difference measured is revenue in forecast year 3, staffing
``se_heavy`` minus ``ae_heavy``: *paired* with the same seed in both (common streams), and
*independent* with seeds 1 and 2.  The factor is Var(independent) / Var(paired).  It is printed
twice: with the config's uncertain effects (win rate, health effects drawn per draw, so part of what
stays in the paired difference is the real uncertainty about the staffing effect), and with those
effects fixed at their means (all that stays is noise CRN could not remove).

**Decomposition.**  Draw ``d``'s paired difference is ``D = f(theta_d, omega_d)``: ``theta`` the
draw's parameters (posterior draw, drawn effects, attrition; keyed by ``seed``) and ``omega`` the
kernel's account streams (keyed by the kernel seed).  ``Var(D) = Var(E[D | theta]) + E[Var(D |
theta)]``: the first part is parameter doubt (the staffing effect itself is uncertain: no pairing
can remove it), the second is simulation noise left after pairing.  The second is measured by
running the same pair again with only the kernel seed changed (``theta`` kept): ``D1 - D2`` has
variance ``2 E[Var(D | theta)]``.  The "noise-only" factor Var(independent) / E[Var(D | theta)] is
what CRN does to the noise.
"""

from __future__ import annotations

import argparse

import numpy as np

from simengine.api import load_config, simulate_config
from simengine.engine import run_kernel

FIXED = [
    "effects.win_rate=0.25",
    "effects.uncovered_win_ratio=0.7",
    "effects.unhealthy_covered=0.05",
    "effects.unhealthy_uncovered=0.25",
]
KERNEL_SEED_SHIFT = 7_919  # another kernel seed for the same parameter draws


def _other_kernel_seed(*args, **kwargs):
    kwargs["seed"] = kwargs["seed"] + KERNEL_SEED_SHIFT
    return run_kernel(*args, **kwargs)


def year3(base: list[str], staffing: str, seed: int, kernel=None) -> np.ndarray:
    cfg = load_config([*base, f"staffing={staffing}", f"seed={seed}"])
    ds = simulate_config(cfg, kernel=kernel)
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
        cfg = [*base, *extra]
        se, ae, ae2 = (year3(cfg, s, seed) for s, seed in
                       (("se_heavy", 1), ("ae_heavy", 1), ("ae_heavy", 2)))  # fmt: skip
        se_k, ae_k = (year3(cfg, s, 1, _other_kernel_seed) for s in ("se_heavy", "ae_heavy"))
        d1, d2 = se - ae, se_k - ae_k
        paired, indep = np.var(d1, ddof=1), np.var(se - ae2, ddof=1)
        noise = np.var(d1 - d2, ddof=1) / 2.0  # E[Var(D | theta)]
        doubt = paired - noise  # Var(E[D | theta])
        print(
            f"{name}: {args.accounts} accounts x {args.draws} draws: SD paired "
            f"{np.sqrt(paired):,.0f}, independent {np.sqrt(indep):,.0f}; variance reduction "
            f"{indep / paired:.1f}x (corr(se, ae) = {np.corrcoef(se, ae)[0, 1]:.3f})\n"
            f"  paired variance = parameter doubt {doubt / paired:.0%} + simulation noise "
            f"{noise / paired:.0%}; noise-only reduction Var(indep) / noise = {indep / noise:.0f}x"
        )


if __name__ == "__main__":
    main()
