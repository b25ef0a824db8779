"""Native Excel charts of E_total: one per learning-rate sheet and one overlay of them all."""

from __future__ import annotations

from xlsxwriter.workbook import Workbook

from sheetgen.layout import SheetLayout, sheet_name
from sheetgen.spec import format_rate

_AXIS_FONT = {"size": 9}


def loss_chart(workbook: Workbook, layout: SheetLayout, learning_rate: float, rows: int):
    """E_total against iteration on one learning rate's sheet."""
    sheet = sheet_name(learning_rate)
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight"})
    chart.add_series({
        "name": "E_total",
        "categories": layout.chart_series(("iteration",), rows, sheet),
        "values": layout.chart_series(("E_total",), rows, sheet),
        "line": {"width": 2, "color": "#1F4E79"},
    })
    chart.set_title({"name": f"E_total per iteration, η = {format_rate(learning_rate)}",
                     "name_font": {"size": 12}})
    chart.set_x_axis({"name": "iteration", "min": 0, "max": rows - 1,
                      "num_font": _AXIS_FONT})
    chart.set_y_axis({"name": "E_total", "num_font": _AXIS_FONT,
                      "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
    chart.set_legend({"none": True})
    chart.set_size({"width": 760, "height": 350})
    return chart


def overview_chart(workbook: Workbook, layout: SheetLayout, learning_rates, rows: int):
    """Every learning rate's E_total on one log-scale chart."""
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight"})
    for learning_rate in learning_rates:
        sheet = sheet_name(learning_rate)
        chart.add_series({
            "name": f"η = {format_rate(learning_rate)}",
            "categories": layout.chart_series(("iteration",), rows, sheet),
            "values": layout.chart_series(("E_total",), rows, sheet),
            "line": {"width": 1.75},
        })
    chart.set_title({"name": "E_total per iteration, every learning rate (log scale)",
                     "name_font": {"size": 12}})
    chart.set_x_axis({"name": "iteration", "min": 0, "max": rows - 1,
                      "num_font": _AXIS_FONT})
    chart.set_y_axis({"name": "E_total (log scale)", "log_base": 10, "num_font": _AXIS_FONT,
                      "num_format": "0.0E+00",
                      "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}})
    chart.set_legend({"position": "right"})
    chart.set_size({"width": 820, "height": 460})
    return chart
