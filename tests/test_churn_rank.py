"""Per-account churn that ranks: on a generated book whose churn is driven by usage decline and
contract anniversaries, the fitted forecast ranks the accounts that churn in the forward year
above those that stay (AUC), and its probabilities add up to the churn count (calibration)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

pytestmark = pytest.mark.slow

HISTORY = 36  # months of history, all in the window (a full export)
FORWARD = 12
BASE_HAZARD = {"team": 0.010, "self_serve": 0.015}
ANNIVERSARY_HR = {"team": 4.0, "self_serve": 1.0}  # annual renewals drive team churn only
DECLINE_HR = 6.0


def _book(seed: int, n: int = 1600):
    """A book written with rules that are not simengine's own: the decline is this month
    against three months before (``u[t] < 0.8 u[t-3]``, unlagged), and a quarter of the
    accounts are decliners (-8%/month), the rest grow ~1%/month; team contracts renew every 12
    months from ``contract_start_month`` (given for half of them, up to 5 months after the
    start) or from the start.  Returns ``(accounts, usage, churned_forward)``: the export up to
    ``as_of`` and, per account active then, whether it churned at one of the next 12 boundaries.
    """
    rng = np.random.default_rng(seed)
    segment = np.where(rng.random(n) < 0.5, "team", "self_serve")
    start = rng.integers(0, HISTORY, n)
    contract = start + np.where(
        (segment == "team") & (rng.random(n) < 0.5), rng.integers(0, 6, n), 0
    )
    decliner = rng.random(n) < 0.25
    drift = np.where(decliner, rng.normal(-0.08, 0.01, n), rng.normal(0.01, 0.005, n))
    months = HISTORY + FORWARD
    log_u = np.full((n, months), np.nan)
    level = rng.normal(7.0, 0.8, n)
    churn = np.full(n, -1)
    base = np.array([BASE_HAZARD[s] for s in segment])
    anniversary_hr = np.array([ANNIVERSARY_HR[s] for s in segment])
    for t in range(months):
        alive = (start <= t) & (churn < 0)
        level = np.where(start < t, level + drift + rng.normal(0.0, 0.05, n), level)
        log_u[alive, t] = level[alive]
        # Decision after month t (churn month t + 1): anniversary boundary and usage decline.
        b = t + 1
        hazard = base * np.where((b > contract) & ((b - contract) % 12 == 0), anniversary_hr, 1.0)
        if t >= 3:
            falling = np.exp(log_u[:, t]) < 0.8 * np.exp(log_u[:, t - 3])
            hazard = hazard * np.where(falling & (start <= t - 3), DECLINE_HR, 1.0)
        leaves = alive & (start < b) & (rng.random(n) < hazard)
        churn[leaves] = b
    as_of = HISTORY - 1
    ids = np.array([f"A{i:05d}" for i in range(n)])
    accounts = pd.DataFrame(
        {
            "account_id": ids,
            "segment": segment,
            "start_month": start,
            "churn_month": pd.array(
                np.where((churn >= 0) & (churn <= as_of), churn, -1), dtype="Int64"
            ),  # fmt: skip
            "contract_start_month": pd.array(
                np.where(contract != start, contract, -1), dtype="Int64"
            ),  # fmt: skip
        }
    )
    accounts.loc[accounts["churn_month"] == -1, "churn_month"] = pd.NA
    accounts.loc[accounts["contract_start_month"] == -1, "contract_start_month"] = pd.NA
    rows, cols = np.nonzero(np.isfinite(log_u[:, : as_of + 1]))
    usage = pd.DataFrame(
        {"account_id": ids[rows], "month": cols, "usage": np.exp(log_u[rows, cols]).round(3)}
    )
    active = (start <= as_of) & ((churn < 0) | (churn > as_of))
    forward = pd.DataFrame(
        {
            "account_id": ids[active],
            "segment": segment[active],
            "churned": (churn[active] > as_of) & (churn[active] <= as_of + FORWARD),
        }
    )
    return accounts, usage, forward


def auc(score: np.ndarray, outcome: np.ndarray) -> float:
    """Mann-Whitney AUC: the chance a churner scores above a stayer (ties half)."""
    outcome = np.asarray(outcome, dtype=bool)
    n1, n0 = int(outcome.sum()), int((~outcome).sum())
    return float((rankdata(score)[outcome].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _month_text(m: np.ndarray) -> list[str]:
    return [f"{2022 + k // 12:04d}-{k % 12 + 1:02d}" for k in m]


# The generated book has its own segment names and no use-case table: the (unused) use-case
# assumptions come from model.segments.default, which the run says in a warning.
@pytest.mark.filterwarnings("ignore:segments .* have no entry under model.segments:UserWarning")
def test_per_account_churn_ranks_and_adds_up(tmp_path):
    """Usage + churn fit (real NUTS, 2 x 150 draws), 400 simulated draws.

    Bounds: the generator's own risk is two-level within a segment (decliners ~0.39 a year,
    growers ~0.11 for team; anniversaries fall once in every account's year), which caps the AUC
    of any forecast near 0.68; a forecast blind to the account's usage (the sBG alone) scores
    0.5 with a standard error of ~0.03 here (~100 churners against ~600 stayers a segment), so
    AUC > 0.60 a segment is > 3 SE above no ranking and reachable only by using the decline.
    Calibration: the churn count's own noise is sqrt(sum p (1 - p)) ~ 13 on ~230 churns (3 SD =
    17%); the sum of p must be within 3 SD of the count (plus 5% for the fitted parameters).
    """
    pytest.importorskip("pymc")
    from simengine import pipeline
    from simengine.accounts_forecast import accounts_frame
    from simengine.api import load_config
    from simengine.config.schema import FitConfig
    from simengine.data import book_from_config
    from simengine.fitting import fit_book, save_posterior

    accounts, usage, forward = _book(seed=7)
    accounts = accounts.assign(
        start_month=_month_text(accounts["start_month"]),
        churn_month=[None if pd.isna(m) else _month_text([m])[0] for m in accounts["churn_month"]],
        contract_start_month=[
            None if pd.isna(m) else _month_text([m])[0] for m in accounts["contract_start_month"]
        ],
    )
    usage = usage.assign(month=_month_text(usage["month"]))
    accounts.to_csv(tmp_path / "accounts.csv", index=False)
    usage.to_csv(tmp_path / "usage.csv", index=False)
    data = [f"data.accounts={tmp_path / 'accounts.csv'}", f"data.usage={tmp_path / 'usage.csv'}"]
    book = book_from_config(load_config(data).data, need_usage=True)
    tree = fit_book(
        book, FitConfig(models=["usage", "churn"], draws=150, tune=150, chains=2), 3,
        progress=False,
    )  # fmt: skip
    hr = tree["posterior"]["anniversary_hazard_ratio"]
    lo, hi = (hr.quantile(q, dim=("chain", "draw")) for q in (0.01, 0.99))
    # The per-segment ratio follows the book: team's renewals (x4) found, self-serve's absent.
    # A 98% interval, so a calibrated posterior misses the true 1 on 2% of seeds, not 10% (the
    # merged model's 90% interval ended at 0.97 on this seed).
    assert float(lo.sel(segment="team")) > 2.0
    assert float(lo.sel(segment="self_serve")) < 1.0 < float(hi.sel(segment="self_serve"))
    post = save_posterior(tree, tmp_path / "posterior.nc")
    cfg = load_config([*data, f"fit.posterior={post}", "fit.allow_bad=true", "sim.draws=400",
                       "sim.horizon_months=12", "sim.progress=false", "market=rate"])  # fmt: skip
    table = accounts_frame(pipeline.simulate_config(cfg, book=book))
    scored = forward.merge(table, on=["account_id", "segment"])
    assert len(scored) == len(forward)
    for segment, g in scored.groupby("segment"):
        assert auc(g["p_churn_12m"].to_numpy(), g["churned"].to_numpy()) > 0.60, segment
    p = scored["p_churn_12m"].to_numpy()
    churned = int(scored["churned"].sum())
    noise = np.sqrt(np.sum(p * (1 - p)))
    assert abs(p.sum() - churned) < 3 * noise + 0.05 * churned, (p.sum(), churned)
