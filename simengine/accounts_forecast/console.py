"""The account signals on the console: a short rich table after a single run."""

from __future__ import annotations

from simengine.accounts_forecast.dataset import accounts_frame
from simengine.accounts_forecast.tables import SIGNALS_TOP, signals_table

__all__ = ["print_signals"]


def print_signals(ds, console=None, top: int = 3, written: int = SIGNALS_TOP) -> None:
    """A short rich table: the first ``top`` accounts of every signal, with their probability
    (``written``: how many ``signals.csv`` holds, for the title)."""
    from rich.console import Console
    from rich.table import Table

    if "account" not in ds.dims:
        return
    console = console or Console()
    signals = signals_table(accounts_frame(ds), top=top)
    table = Table(title=f"Account signals (signals.csv has the top {written} of each)",
                  title_justify="left")  # fmt: skip
    for column, justify in (("signal", "left"), ("account", "left"), ("segment", "left"),
                            ("value", "right"), ("probability", "right")):  # fmt: skip
        table.add_column(column, justify=justify)
    for row in signals.itertuples(index=False):
        if row.value_name == "usage_trend":
            value = f"{row.value:+.0%} usage"
        else:
            value = f"{row.value:,.0f} ({row.value_name})"
        table.add_row(row.signal, row.account_id, row.segment, value,
                      f"{row.probability:.0%} {row.probability_name}")  # fmt: skip
    console.print(table)
