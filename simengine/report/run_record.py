"""What a run was: the assumptions it made, the fit it drew its parameters from, its provenance.

The sections of ``report.html`` that describe a run rather than its forecast: the assumptions
(the resolved config, the ``adjust`` values, the overrides typed), the diagnostics of the
posterior it used (R-hat, ESS, divergences, the gate) and the provenance attrs; and the
scenario's name as the report titles it.  Each returns a :class:`simengine.report.html.Section`;
none writes a file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from simengine.report.figures import parameter_source, scenario_label
from simengine.report.html import Section, facts, pre, table, text

__all__ = [
    "PROVENANCE_KEYS",
    "assumptions_section",
    "diagnostics_section",
    "folder_overrides",
    "provenance_section",
    "scenario_name",
]

#: Provenance attrs shown first, in this order (the rest follow as recorded).
PROVENANCE_KEYS = (
    "seed", "config_hash", "data_hash", "simengine_version", "created_at", "as_of", "data_source",
    "parameters", "posterior", "posterior_method", "posterior_created_at", "posterior_data_hash",
    "posterior_gate", "scenario", "config_groups", "scenario_file", "market", "staffing", "comp",
    "prices", "fitted_parameters",
    "default_segments", "use_case_process", "overrides", "notes", "account_months",
    "existing_accounts",
)  # fmt: skip


def _flatten(value, prefix: str) -> list[tuple[str, str]]:
    """``[("adjust.churn_hazard", "1.0"), ...]``: the leaves of a nested config section."""
    if isinstance(value, dict) and value:
        return [pair for k, v in value.items() for pair in _flatten(v, f"{prefix}.{k}")]
    if isinstance(value, dict):
        return [(prefix, "{}")]
    return [(prefix, "null" if value is None else str(value))]


def folder_overrides(folder: Path | None) -> list[str]:
    """The overrides a run was started with (``.hydra/overrides.yaml`` of its folder), or ``[]``."""
    path = None if folder is None else folder / ".hydra" / "overrides.yaml"
    if path is None or not path.is_file():
        return []
    try:
        found = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError:
        return []
    return [str(x) for x in found] if isinstance(found, list) else []


def assumptions_section(attrs: dict, folder: Path | None = None) -> Section:
    """What the forecast assumed, in the words of its config: scenario, parameters, data window,
    horizon and draws, new-logo market and staffing, every ``adjust`` value, the overrides typed,
    and the whole resolved config."""
    config = str(attrs.get("config", ""))
    try:
        tree = yaml.safe_load(config) or {}
    except yaml.YAMLError:
        tree = {}
    tree = tree if isinstance(tree, dict) else {}
    data, sim = tree.get("data") or {}, tree.get("sim") or {}
    staffing = tree.get("staffing") or {}
    pairs = [
        ("scenario", scenario_name(attrs, folder)),
        ("parameters", attrs.get("parameters")),
        ("posterior", attrs.get("posterior")),
        ("data", attrs.get("data_source")),
        ("forecast from (as_of)", attrs.get("as_of")),
        ("observation window from (data.observed_from)", data.get("observed_from") or "default"),
        ("currency", attrs.get("currency") or data.get("currency") or "not given"),
        ("horizon (months)", sim.get("horizon_months")),
        ("draws", sim.get("draws")),
        ("seed", attrs.get("seed", tree.get("seed"))),
        ("new logos (market)", attrs.get("market")),
        ("staffing plan", attrs.get("staffing") or staffing.get("name")),
        ("comp plan", attrs.get("comp")),
        ("prices", attrs.get("prices")),
        ("fitted parameters replaced", attrs.get("overrides")),
    ]
    blocks = [facts(pairs)]
    adjust = _flatten(tree.get("adjust") or {}, "adjust")
    if adjust:
        blocks.append(
            text(
                "Scenario adjustments (adjust.*) as the run applied them: a multiplier "
                "of 1.0 or an addition of 0.0 leaves the fitted parameter as it is."
            )
        )
        blocks.append(table(["key", "value"], adjust))
    typed = folder_overrides(folder)
    if typed:
        blocks.append(table(["override"], [[o] for o in typed],
                            caption="Overrides the run was started with"))  # fmt: skip
    if config:
        blocks.append(pre(config, summary="Resolved config (YAML): every setting of the run"))
    return Section("Assumptions", "assumptions", blocks)


def _fit_config(config_yaml: str):
    """The run's ``fit`` settings (its gate thresholds), from the resolved config YAML."""
    from dataclasses import fields

    from simengine.config import FitConfig, config_section

    try:
        fit = config_section(config_yaml, "fit")
    except yaml.YAMLError:
        fit = {}
    names = {f.name for f in fields(FitConfig)}
    return FitConfig(**{k: v for k, v in fit.items() if k in names})


def _num(value: float, spec: str) -> str:
    return format(value, spec) if np.isfinite(value) else "-"


def _diagnostics_tables(diag: pd.DataFrame, fit_cfg) -> list[dict]:
    """The worst parameters first (highest R-hat, lowest bulk ESS), then all of them, folded."""
    public = diag[~diag["parameter"].astype(str).str.contains(r"_(?:pop|raw|log)$")]
    public = public.sort_values(["r_hat", "ess_bulk"], ascending=[False, True], na_position="last")

    def rows_flags(frame):
        rows, flags = [], []
        for r in frame.itertuples(index=False):
            seg = "" if pd.isna(r.segment) else r.segment
            rows.append([r.parameter, seg, f"{r.mean:.4g}", f"{r.eti_5:.4g}", f"{r.eti_95:.4g}",
                         _num(r.r_hat, ".3f"), _num(r.ess_bulk, ".0f"), _num(r.ess_tail, ".0f")])  # fmt: skip
            flags.append([False] * 5 + [
                bool(r.r_hat > fit_cfg.max_rhat), bool(r.ess_bulk < fit_cfg.min_ess_bulk), False,
            ])  # fmt: skip
        return rows, flags

    columns = ["parameter", "segment", "mean", "5%", "95%", "R-hat", "bulk ESS", "tail ESS"]
    numeric = [False, False, True, True, True, True, True, True]
    worst, worst_flags = rows_flags(public.head(8))
    every, every_flags = rows_flags(public)
    return [
        table(columns, worst, numeric=numeric, flags=worst_flags,
              caption=f"The 8 parameters that mix worst (highlighted: R-hat above "
              f"{fit_cfg.max_rhat:g} or bulk ESS below {fit_cfg.min_ess_bulk:g}; '-': not "
              "defined, e.g. one chain)"),
        table(columns, every, numeric=numeric, flags=every_flags,
              fold=f"All {len(public)} parameters"),
    ]  # fmt: skip


def diagnostics_section(
    attrs: dict, folder: Path | None = None, diagnostics_csv: Path | None = None
) -> Section:
    """R-hat, ESS and divergences of the posterior the run used, and its gate; or "assumptions".

    The posterior is the file named in ``attrs['posterior']`` (or ``folder/posterior.nc``);
    ``diagnostics_csv`` (a fit's or backtest's ``diagnostics.csv``) is read when given.
    """
    title, anchor = "Diagnostics of the fit", "diagnostics"
    if parameter_source(attrs) == "assumptions" and diagnostics_csv is None:
        return Section(title, anchor, [
            text("Parameters: assumptions (config defaults, not fitted), so there is no "
                 "posterior to diagnose.", tone="warn"),
            facts([("segments on the config's default entry", attrs.get("default_segments")),
                   ("notes", attrs.get("notes"))]),
        ])  # fmt: skip
    fit_cfg = _fit_config(str(attrs.get("config", "")))
    path = Path(str(attrs["posterior"])) if attrs.get("posterior") else None
    if path is None and folder is not None and (folder / "posterior.nc").is_file():
        path = folder / "posterior.nc"
    blocks = []
    tree = None
    if path is not None and path.is_file():
        from simengine.fitting import check_gate, diagnostics_table, load_posterior

        tree = load_posterior(path)
        diag = diagnostics_table(tree)
        failures = check_gate(tree, fit_cfg)
    elif diagnostics_csv is not None and diagnostics_csv.is_file():
        diag = pd.read_csv(diagnostics_csv, keep_default_na=False, na_values=[""])
        failures = None
    else:
        blocks.append(text(f"The posterior this run used ({path}) is not there any more; what "
                           "the run recorded follows.", tone="warn"))  # fmt: skip
        blocks.append(facts((k, attrs.get(k)) for k in (
            "parameters", "posterior", "posterior_method", "posterior_created_at",
            "posterior_gate")))  # fmt: skip
        return Section(title, anchor, blocks)
    a = tree.attrs if tree is not None else {}
    divergences = int(diag["divergences"].max()) if len(diag) else 0
    blocks.append(facts([
        ("posterior", path),
        ("method", a.get("method", attrs.get("posterior_method"))),
        ("models", a.get("models")),
        ("fitted", a.get("created_at", attrs.get("posterior_created_at"))),
        ("max R-hat (draws in the file)", _num(diag["r_hat"].max(), ".3f")),
        ("min bulk ESS (draws in the file)", _num(diag["ess_bulk"].min(), ".0f")),
        ("divergences", divergences),
        ("full fit: max R-hat", a.get("full_fit_max_r_hat")),
        ("full fit: min bulk ESS", a.get("full_fit_min_ess_bulk")),
        ("full fit: divergences", a.get("full_fit_divergences")),
    ]))  # fmt: skip
    if failures is None:
        pass
    elif failures:
        blocks.append(text("Gate fails: " + "; ".join(failures), tone="warn"))
    else:
        blocks.append(text(f"Gate passes: R-hat <= {fit_cfg.max_rhat:g}, bulk ESS >= "
                           f"{fit_cfg.min_ess_bulk:g}, divergences <= "
                           f"{fit_cfg.max_divergences}.", tone="ok"))  # fmt: skip
    if attrs.get("posterior_gate"):
        blocks.append(text(f"The run recorded: {attrs['posterior_gate']}", tone="warn"))
    blocks += _diagnostics_tables(diag, fit_cfg)
    return Section(title, anchor, blocks)


def provenance_section(
    attrs: dict, extra: list[tuple[str, object]] = (), config: bool = True
) -> Section:
    """Seed, config hash, data hash, version and the rest of the provenance; the resolved config
    unless ``config`` is False (a run report shows it under :func:`assumptions_section`)."""
    keys = [k for k in PROVENANCE_KEYS if k in attrs]
    keys += sorted(k for k in attrs if k not in PROVENANCE_KEYS and k != "config")
    blocks = [facts([*extra, *((k, attrs[k]) for k in keys)])]
    if config and attrs.get("config"):
        blocks.append(pre(str(attrs["config"]), summary="Resolved config (YAML)"))
    return Section("Config and provenance", "provenance", blocks)


def scenario_name(attrs: dict, folder: Path | None = None) -> str:
    """A run's scenario label: the forecast's ``scenario`` attr, its scenario file, else the
    ``scenario=`` override its run folder was started with (``.hydra/overrides.yaml``); ``default
    scenario`` when it named none."""
    if not attrs.get("scenario") and not attrs.get("scenario_file"):
        chosen = [o.split("=", 1)[1] for o in folder_overrides(folder)
                  if o.split("=", 1)[0].lstrip("+~") == "scenario" and "=" in o]  # fmt: skip
        if chosen and chosen[-1] not in ("", "null"):
            attrs = {**attrs, "scenario": chosen[-1]}
    return scenario_label(attrs)
