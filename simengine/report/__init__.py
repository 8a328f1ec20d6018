"""Tables and plots from forecast datasets (they take datasets; they are never model methods)."""

from simengine.report.plots import fan_chart
from simengine.report.tables import quantile_table, summary_table

__all__ = ["fan_chart", "quantile_table", "summary_table"]
