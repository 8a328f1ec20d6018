"""A thinned posterior (the shipped default) is gated by its full fit's recorded figures."""

from __future__ import annotations

from simengine.config import FitConfig
from simengine.fitting import DEFAULT_POSTERIOR, check_gate, load_posterior


def test_shipped_posterior_passes_on_its_full_fit():
    tree = load_posterior(DEFAULT_POSTERIOR)
    assert "thinned_from_draws" in tree.attrs
    assert check_gate(tree, FitConfig()) == []


def test_thinned_file_with_bad_full_fit_is_refused():
    tree = load_posterior(DEFAULT_POSTERIOR)
    tree.attrs["full_fit_max_r_hat"] = 1.05
    tree.attrs["full_fit_min_ess_bulk"] = 120.0
    failures = check_gate(tree, FitConfig())
    assert any("R-hat 1.050" in f for f in failures)
    assert any("ESS 120" in f for f in failures)
    del tree.attrs["full_fit_max_r_hat"]  # figures missing: refused, not waved through
    assert any("R-hat" in f for f in check_gate(tree, FitConfig()))
