"""Tables and plots from forecast datasets (they take datasets; they are never model methods).

``simengine.report.build.build_report`` writes the self-contained ``report.html``
(``simengine report PATH``).
"""

from simengine.report.plots import fan_chart, scenario_fans
from simengine.report.tables import quantile_table, summary_table

__all__ = ["fan_chart", "quantile_table", "scenario_fans", "summary_table"]
