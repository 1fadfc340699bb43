"""Reports of an analysis: summary tables, figures and a self-contained HTML page.

Tables (pandas only)
    :func:`monthly_summary`, :func:`watch_list`, :func:`port_table`.
Figures (matplotlib, imported only when a figure is drawn)
    :func:`map_figure`, :func:`monthly_gaps_figure`, :func:`vessel_timeline_figure`,
    :func:`gap_density_figure`.
Report
    :func:`write_report` writes the CSVs, the figures (PNG and SVG) and ``report.html``.

Importing this package imports neither matplotlib nor movingpandas.
"""

from __future__ import annotations

from caspian_ais.report.figures import (
    gap_density_figure,
    map_figure,
    monthly_gaps_figure,
    vessel_timeline_figure,
)
from caspian_ais.report.html import render_html, report_figures, report_tables, write_report
from caspian_ais.report.tables import gap_ports, monthly_summary, port_table, watch_list

__all__ = [
    "monthly_summary",
    "watch_list",
    "port_table",
    "gap_ports",
    "map_figure",
    "monthly_gaps_figure",
    "vessel_timeline_figure",
    "gap_density_figure",
    "report_tables",
    "report_figures",
    "render_html",
    "write_report",
]
