"""The per-account files of a run: ``accounts_forecast.csv``, ``accounts_forecast.parquet`` and
``signals.csv``, each written atomically from a dataset that holds the per-account forecast."""

from __future__ import annotations

from simengine.accounts_forecast.dataset import accounts_frame
from simengine.accounts_forecast.tables import SIGNALS_TOP, signals_table

__all__ = ["write_account_outputs"]


def write_account_outputs(ds, out_dir, top: int = SIGNALS_TOP, table=None, signals=None) -> dict:
    """Write ``accounts_forecast.csv``, ``accounts_forecast.parquet`` and ``signals.csv`` (the
    first ``top`` accounts of each signal: ``signals.top``).

    ``table`` / ``signals``: ``accounts_frame(ds)`` / ``signals_table(table, top)`` when the caller
    has them already (a run's workbook reads the same tables); computed here otherwise.

    Returns ``{name: path}``; nothing when ``ds`` has no per-account forecast.
    """
    from pathlib import Path

    from simengine.atomic import atomic_path
    from simengine.csvtext import plain_csv

    if "account" not in ds.dims:
        return {}
    out_dir = Path(out_dir)
    if table is None:
        table = accounts_frame(ds)
    if signals is None:
        signals = signals_table(table, top)
    paths = {}
    # CSVs: six significant digits, as plain decimals (1234570, never 1.23457e+06).
    for key, name, write in (
        ("accounts_forecast", "accounts_forecast.csv",
         lambda f, p: p.write_text(plain_csv(f, significant=6))),
        ("accounts_forecast_parquet", "accounts_forecast.parquet",
         lambda f, p: f.to_parquet(p, index=False)),
        ("signals", "signals.csv",
         lambda f, p: p.write_text(plain_csv(signals, significant=6))),
    ):  # fmt: skip
        with atomic_path(out_dir / name) as tmp:
            write(table, tmp)
        paths[key] = out_dir / name
    return paths
