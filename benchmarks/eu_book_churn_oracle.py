"""The churn ceiling of ``../shared/books/eu_saas_book.py``: each account's true churn probability.

A copy of that generator (same seed, same scale: the same book and truth, byte for byte) that
also writes ``oracle.csv``: for every account active at the export's end, its probability of a
churn decision in the next 12 (``p12``) and 13 (``p13``, what ``churned_2026`` counts) months
under the book's own process, true parameters and the account's true state (drift, level, use
cases, usage history), by 400 Monte Carlo continuations; and its realised churn month.  The AUC of
``p13`` against ``churned_2026`` is the best any forecast can rank that book's accounts
(``bench_churn_rank.py --oracle``).  Usage: ``python eu_book_churn_oracle.py OUTDIR SEED [SCALE]``.

The generator's own docstring follows.
"""
# A European consumption-priced SaaS company's export, written outside the simengine project: a book
# the defaults do not describe. Truth is kept for 12 months past the export, so a forward forecast (new
# logos included) can be scored, not only a backtest. Do not edit; copy it for variants.
#
# How it differs from simengine's synthetic book:
# - own segment names (self_serve / team / enterprise), EUR, volume-discount prices, +6% list price
#   from 2025-01 in the history (revenue/usage changes inside the window);
# - annual-contract churn: team/enterprise hazard x3 in anniversary months; usage-decline hazard x2.5;
# - summer dip (Jul/Aug -15%) for team and enterprise, December dip for self_serve;
# - Student-t(4) monthly log-usage shocks, per-account drift heterogeneity, 8% 'decliners';
# - the export window starts 2023-01 and holds only accounts alive then (left truncation);
# - use cases: SE support changes their size (x1.5), not their rate;
# - months written as dates ('2025-03-01').
# Usage: python eu_saas_book.py OUTDIR SEED [SCALE]   (SCALE 1.0 ~ 3,900 accounts; needs numpy)
#         -> OUTDIR/{accounts,usage,use_cases}.csv (export to 2025-12)
# and OUTDIR/truth_2026.csv (monthly revenue in 2026: installed base at 2025-12, and new logos),
# OUTDIR/truth_accounts_2026.csv (each account active at 2025-12: its 2026 revenue, churned in 2026).
# Blank commit_annual / contract_start_month mean: no commit.

import csv
import sys
from pathlib import Path

import numpy as np

SEGS = {  # name: (new logos / month at 2021-01, monthly logo growth, base hazard, drift, sd, level mu, uc rate, se share)
    "self_serve": (40.0, 0.010, 0.022, 0.006, 0.16, np.log(900.0), 0.008, 0.05),
    "team": (10.0, 0.012, 0.009, 0.010, 0.10, np.log(9000.0), 0.035, 0.30),
    "enterprise": (1.6, 0.008, 0.003, 0.012, 0.07, np.log(90000.0), 0.070, 0.60),
}
START = (2021, 1)  # company history starts
EXPORT_FROM = (2023, 1)  # export window
EXPORT_TO = (2025, 12)
TRUTH_TO = (2026, 12)


def midx(y, m):
    return (y - START[0]) * 12 + (m - START[1])


def mname(i, day=True):
    y, m = START[0] + (START[1] - 1 + i) // 12, (START[1] - 1 + i) % 12 + 1
    return f"{y:04d}-{m:02d}-01" if day else f"{y:04d}-{m:02d}"


def season(seg, month_of_year):
    if seg == "self_serve":
        return -0.10 if month_of_year == 12 else 0.0
    return -0.15 if month_of_year in (7, 8) else 0.0


def price(units, i):
    p = np.where(units > 100_000, 0.09, 0.12)
    return p * (1.06 if i >= midx(2025, 1) else 1.0)


ORNG = np.random.default_rng(12345)
R = 400


def _oracle(seg, t0, t_end, x0, b_i, level, ucs0, hist0, haz, drift, sd, uc_rate, se_share):
    """P(churn decision fires at t_end .. t_end+11) and at t_end .. t_end+12 under the true process."""
    n12 = n13 = 0
    for _ in range(R):
        x = x0
        ucs = list(ucs0)
        hist = list(hist0)
        churned = None
        for t in range(t_end, t_end + 13):
            age = t - t0
            if t > t_end:
                x += b_i + sd * ORNG.standard_t(4) / np.sqrt(2.0)
                if ORNG.random() < uc_rate:
                    se = ORNG.random() < se_share
                    ucs.append(
                        (t, float(ORNG.lognormal(np.log(0.25), 0.5) * (1.5 if se else 1.0)), se)
                    )
                ramp = -1.2 * np.exp(-age / 2.5)
                uplift = sum(s * min(1.0, (t - s0 + 1) / 6.0) for s0, s, _ in ucs)
                hist.append(
                    float(
                        np.exp(level + ramp + x + season(seg, (START[1] - 1 + t) % 12 + 1))
                        * (1.0 + uplift)
                    )
                )
            h = haz
            if seg != "self_serve" and age > 0 and age % 12 == 11:
                h *= 3.0
            if len(hist) >= 4 and hist[-1] < 0.75 * hist[-4]:
                h *= 2.5
            if ORNG.random() < h:
                churned = t
                break
        if churned is not None:
            n13 += 1
            n12 += churned <= t_end + 11
    return n12 / R, n13 / R


def main(out: Path, seed: int, scale: float = 1.0) -> None:
    rng = np.random.default_rng(seed)
    n_months = midx(*TRUTH_TO) + 1
    exp_from, exp_to = midx(*EXPORT_FROM), midx(*EXPORT_TO)
    acc_rows, use_rows, uc_rows = [], [], []
    truth_base = np.zeros(12)
    truth_new = np.zeros(12)
    oracle = []
    churn_month_of = {}
    truth_acc = []  # (account, segment, revenue 2026, churned in 2026)
    aid = 0
    for seg, (logos0, lg, haz, drift, sd, lvl, uc_rate, se_share) in SEGS.items():
        for t0 in range(n_months):
            for _ in range(rng.poisson(scale * logos0 * np.exp(lg * t0))):
                aid += 1
                a = f"C{aid:06d}"
                b_i = drift + rng.normal(0, 0.006) + (-0.03 if rng.random() < 0.08 else 0.0)
                level = lvl + rng.normal(0, 0.8)
                x = 0.0
                ucs = []  # (start, size)
                churn = None
                hist = []
                commit = None
                if seg == "enterprise" and rng.random() < 0.7:
                    commit = round(12 * np.exp(level) * 0.12 * 0.9, -2)
                for t in range(t0, n_months):
                    age = t - t0
                    ramp = -1.2 * np.exp(-age / 2.5)
                    if age > 0:
                        x += b_i + sd * rng.standard_t(4) / np.sqrt(2.0)
                    if rng.random() < uc_rate:
                        se = rng.random() < se_share
                        ucs.append(
                            (t, float(rng.lognormal(np.log(0.25), 0.5) * (1.5 if se else 1.0)), se)
                        )
                    uplift = sum(s * min(1.0, (t - s0 + 1) / 6.0) for s0, s, _ in ucs)
                    u = np.exp(level + ramp + x + season(seg, (START[1] - 1 + t) % 12 + 1)) * (
                        1.0 + uplift
                    )
                    u = float(np.round(u, 1))
                    hist.append(u)
                    rev = float(np.round(u * price(u, t), 2))
                    if t <= exp_to:
                        if t >= exp_from:
                            use_rows.append((a, mname(t), u, rev))
                    else:
                        k = t - exp_to - 1
                        if t0 <= exp_to:
                            truth_base[k] += rev
                        else:
                            truth_new[k] += rev
                    if t == exp_to and t0 <= exp_to:
                        oracle.append(
                            (
                                a,
                                seg,
                                _oracle(
                                    seg,
                                    t0,
                                    t,
                                    x,
                                    b_i,
                                    level,
                                    list(ucs),
                                    list(hist),
                                    haz,
                                    drift,
                                    sd,
                                    uc_rate,
                                    se_share,
                                ),
                            )
                        )
                    h = haz
                    if seg != "self_serve" and age > 0 and age % 12 == 11:
                        h *= 3.0
                    if len(hist) >= 4 and hist[-1] < 0.75 * hist[-4]:
                        h *= 2.5
                    if rng.random() < h:
                        churn = t + 1  # first month without usage
                        break
                if t0 <= exp_to and (churn is None or churn > exp_to):
                    churn_month_of[a] = churn
                if churn is not None and churn <= exp_from:
                    continue  # gone before the export window: not in the export
                if t0 > exp_to:
                    continue  # a future logo: only in the truth
                if churn is None or churn > exp_to:
                    r26 = sum(
                        v * price(v, exp_to + 1 + k) for k, v in enumerate(hist[exp_to + 1 - t0 :])
                    )
                    truth_acc.append((a, seg, f"{r26:.2f}", "1" if churn is not None else "0"))
                acc_rows.append(
                    (
                        a,
                        seg,
                        mname(t0),
                        mname(churn) if churn is not None and churn <= exp_to else "",
                        "" if commit is None else f"{commit:.0f}",
                        "" if commit is None else mname(t0),
                    )
                )
                for j, (s0, _size, se) in enumerate(ucs):
                    if exp_from <= s0 <= exp_to or (s0 < exp_from):
                        if s0 <= exp_to:
                            uc_rows.append(
                                (a, f"{a}-U{j + 1}", mname(s0), "true" if se else "false")
                            )
    out.mkdir(parents=True, exist_ok=True)
    with (out / "accounts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "account_id",
                "segment",
                "start_month",
                "churn_month",
                "commit_annual",
                "contract_start_month",
            ]
        )
        w.writerows(acc_rows)
    with (out / "usage.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "month", "usage", "revenue"])
        w.writerows(use_rows)
    with (out / "use_cases.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "use_case_id", "start_month", "se_supported"])
        w.writerows(uc_rows)
    with (out / "truth_2026.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["month", "installed_base_revenue", "new_logo_revenue", "total_revenue"])
        for k in range(12):
            w.writerow(
                [
                    mname(exp_to + 1 + k, day=False),
                    f"{truth_base[k]:.2f}",
                    f"{truth_new[k]:.2f}",
                    f"{truth_base[k] + truth_new[k]:.2f}",
                ]
            )
    with (out / "truth_accounts_2026.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "segment", "revenue_2026", "churned_2026"])
        w.writerows(truth_acc)
    with (out / "oracle.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["account_id", "segment", "p12", "p13", "churn_month"])
        for a, s, (p12, p13) in oracle:
            cm = churn_month_of.get(a)
            w.writerow([a, s, p12, p13, "" if cm is None else mname(cm, day=False)])
    print(
        f"{len(acc_rows)} accounts, {len(use_rows)} usage rows, {len(uc_rows)} use cases; "
        f"2026 base {truth_base.sum():.0f} new {truth_new.sum():.0f}"
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 1.0)
