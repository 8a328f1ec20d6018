"""The churn rules have one home: the fit records the parameters it used, the simulation reads
them back and the kernel applies them (a fit with a non-default threshold simulates that one)."""

from __future__ import annotations

import numpy as np
import pytest

from simengine.bookstats import ChurnRules
from simengine.kernels import layout as L
from simengine.kernels.account import simulate_draws
from tests.kernels._book import make_book, make_params, run
from tests.kernels.oracle import simulate_draws_reference


def _falling_book(n: int = 60) -> L.Accounts:
    """``n`` accounts of one segment, 30 months old, whose usage fell 30% between the quarters
    the boundary into horizon month 0 compares (log ratio -0.357)."""
    book = make_book(n, n_segments=1, seed=4)
    hist = np.full((n, L.RING_MONTHS), 100.0)
    hist[:, -4:] = 70.0  # months as_of-3 .. as_of: the later quarter (and the lagged-out month)
    return book._replace(
        tenure=np.full(n, 30, dtype=np.int64),
        data_from=np.full(n, -31, dtype=np.int64),
        hist_usage=hist,
        log_usage=np.log(hist[:, -1]),
        csm_covered=np.full(n, -1.0),
        declining=np.zeros(n),
        contract_from=np.full(n, -31, dtype=np.int64),  # anniversaries at months 5, 17, ...
        anniversaries=np.full(n, 2.0),  # survived before as_of: those at -19 and -7
        declining_anniversaries=np.zeros(n),
    )


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_kernel_applies_the_threshold_it_is_given(fn):
    # A fall of 30% (log -0.357) is declining at -0.20 and not at -0.50.  With a decline hazard
    # ratio of 1,000 and theta ~ Beta(1, 80 + 30) (the account's rate given 30 survived
    # boundaries), P(survive a declining boundary) = E[exp(-1000 theta)] ~ 110 / 1110 = 0.1: of
    # 60 accounts x 4 draws ~216 churn (SD 4.6; > 180 is 7.8 SD below); not declining, ~0.9% do
    # (expected ~2, P(>= 30) < 1e-20).
    book = _falling_book()
    churned = {}
    for threshold in (-0.20, -0.50):
        sp, mp = make_params(
            4, 3, n_segments=1, jitter=0.0,
            segment={"usage_decline_hazard_ratio": 1000.0, "decline_threshold": threshold,
                     "churn_alpha": 1.0, "churn_beta": 80.0, "csm_hazard_ratio": 1.0},
            month={"new_logo_rate": 0.0},
        )  # fmt: skip
        out, _ = run(fn, 11, sp, mp, book)
        churned[threshold] = out[:, 0, 0, L.OUTPUTS.index("churned_accounts")].sum()
    assert churned[-0.20] > 180
    assert churned[-0.50] < 30


@pytest.mark.parametrize("fn", [simulate_draws, simulate_draws_reference])
def test_kernel_churns_at_contract_anniversaries(fn):
    # Segment 0's contracts started 10 months before horizon month 0 (anniversary at the boundary
    # into month 2), segment 1's 9 months before (month 3); usage flat (no decline).  With an
    # anniversary hazard ratio of 1,000, ~90% of an anniversary's accounts churn at it (test
    # above: P(survive) ~ 0.1), ~1% elsewhere: 30 accounts x 4 draws a segment, > 80 of 120 is
    # 5.9 SD below the expected 108, < 20 far above the expected ~1.3.
    book = _falling_book()
    n = book.segment.size
    segment = (np.arange(n) % 2).astype(np.int64)
    book = book._replace(
        segment=segment,
        hist_usage=np.full((n, L.RING_MONTHS), 100.0),
        log_usage=np.full(n, np.log(100.0)),
        contract_from=np.where(segment == 0, -10, -9).astype(np.int64),
        anniversaries=np.zeros(n),  # contracts younger than a year: none survived yet
    )
    sp, mp = make_params(
        4, 5, n_segments=2, jitter=0.0,
        segment={"anniversary_hazard_ratio": 1000.0, "churn_alpha": 1.0, "churn_beta": 80.0,
                 "csm_hazard_ratio": 1.0},
        month={"new_logo_rate": 0.0},
    )  # fmt: skip
    out, _ = run(fn, 5, sp, mp, book)
    churned = out[..., L.OUTPUTS.index("churned_accounts")].sum(axis=0)  # (month, segment)
    assert churned[2, 0] > 80 and churned[3, 1] > 80
    assert churned[3, 0] < 20 and churned[2, 1] < 20


def test_rules_round_trip_and_refuse_what_the_kernel_cannot_simulate():
    rules = ChurnRules(decline_threshold=-0.35)
    assert ChurnRules.from_attrs(rules.to_attrs()) == rules
    assert ChurnRules.from_attrs(None) == ChurnRules()  # no posterior: the defaults
    assert ChurnRules.from_attrs({"seed": 1}) == ChurnRules()  # a posterior from before the record
    with pytest.raises(ValueError, match="churn_rule_decline_quarter_months"):
        ChurnRules.from_attrs(ChurnRules().to_attrs() | {"churn_rule_decline_quarter_months": 2})
    with pytest.raises(ValueError, match="negative log ratio"):
        ChurnRules.from_attrs({"churn_rule_decline_threshold": 0.1})


@pytest.mark.slow
def test_a_fit_with_a_non_default_threshold_simulates_that_threshold(tmp_path):
    """Real NUTS (churn only, 1 x 100 draws) with ``decline_threshold = -0.5``: the posterior
    records it, the run reads it, and the book's declining counts and the kernel's parameter are
    the -0.5 ones (not the default -0.20)."""
    pytest.importorskip("pymc")
    from simengine import pipeline, run_cache
    from simengine.api import load_config
    from simengine.bookstats import declining_at
    from simengine.config.schema import FitConfig
    from simengine.data import book_from_config, generate_book, write_book
    from simengine.fitting import fit_book, save_posterior

    paths = write_book(generate_book(n_accounts=300, history_months=24, seed=3).book, tmp_path)
    data = [f"data.{table}={path}" for table, path in paths.items()]
    book = book_from_config(load_config(data).data, need_usage=True)
    tree = fit_book(
        book, FitConfig(models=["churn"], draws=100, tune=100, chains=1), 0, progress=False,
        model_configs={"churn": {"decline_threshold": -0.5}},
    )  # fmt: skip
    assert tree.attrs["churn_rule_decline_threshold"] == -0.5
    post = save_posterior(tree, tmp_path / "posterior.nc")
    cfg = load_config([*data, f"fit.posterior={post}", "fit.allow_bad=true", "sim.draws=8",
                       "sim.horizon_months=6", "sim.progress=false", "market=rate"])  # fmt: skip
    checked = pipeline.check_run(cfg, book)
    rules = pipeline.churn_rules(checked)
    assert rules.decline_threshold == -0.5
    ds = pipeline.simulate_config(cfg, book=book)
    assert ds.attrs["churn_rule_decline_threshold"] == -0.5
    # What the kernel was handed: the book state's declining counts at -0.5 ...
    state = run_cache.book_state_of(
        book, run_cache.book_hash_of(book), checked.segments, checked.prices.account, rules
    )
    decline, first = declining_at(book, -0.5)
    active = np.flatnonzero(book.accounts["churn_month"].isna().to_numpy())
    expected = decline[active, : book.as_of - first + 1].sum(axis=1)
    np.testing.assert_array_equal(state.declining, expected)
    assert not np.array_equal(expected, declining_at(book, -0.2)[0][active].sum(axis=1))
    # ... and the threshold slot of every draw and segment.
    from simengine.params import build_parameters

    params = build_parameters(cfg, checked.segments, rules=rules)
    assert np.all(params.seg_params[..., L.P_DECLINE_THRESHOLD] == -0.5)


def test_a_coverage_effect_the_fit_could_not_see_is_not_applied_on_top_of_its_rates():
    # A churn fit on a book without csm_covered: its rates already hold the book's own coverage,
    # so a run with fixed coverage shares (market=rate) holds csm_hazard_ratio at 1 unless the
    # config sets it (or overrides it).  The go-to-market model (market=capacity) applies the
    # ratio only to the change from today's coverage (simengine.gtm.drivers): nothing to hold.
    from simengine import pipeline
    from simengine.api import load_config
    from simengine.params import build_parameters

    blind = {"churn_alpha": np.ones((4, 1)), "churn_beta": np.full((4, 1), 80.0)}
    seeing = blind | {"csm_hazard_ratio": np.full(4, 0.8)}
    cfg = load_config(["sim.draws=4", "sim.horizon_months=12", "market=rate"])
    assert pipeline.assumed_effects(cfg, blind) == ("csm_hazard_ratio",)
    assert pipeline.assumed_effects(cfg, seeing) == ()
    assert pipeline.assumed_effects(cfg, None) == ()
    rate_set = load_config(["model.csm_hazard_ratio=0.5", "market=rate"])
    assert pipeline.assumed_effects(rate_set, blind) == ()
    assert pipeline.assumed_effects(load_config(["sim.draws=4"]), blind) == ()  # capacity
    slot = L.SEGMENT_PARAMS.index("csm_hazard_ratio")
    params = build_parameters(cfg, ("smb",), blind, ("smb",), neutral=("csm_hazard_ratio",))
    assert np.all(params.seg_params[..., slot] == 1.0)
    assert np.all(build_parameters(cfg, ("smb",), blind, ("smb",)).seg_params[..., slot] != 1.0)
    overridden = load_config(["sim.draws=4", "sim.horizon_months=12",
                              "model.override.smb.csm_hazard_ratio=0.6"])  # fmt: skip
    params = build_parameters(overridden, ("smb",), blind, ("smb",), neutral=("csm_hazard_ratio",))
    assert np.all(params.seg_params[..., slot] == 0.6)
