"""Native Excel charts of E_total: one per learning-rate sheet and one overlay of them all.

Every series carries its data points as the chart's cache, taken from the reference engine's
values: the workbook is written in constant_memory mode, where XlsxWriter keeps no cell to fill
a cache from, and a viewer that does not recalculate (a file previewer, a web preview) draws a
chart from its cache alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from xlsxwriter.workbook import Workbook

from sheetgen.workbook.formulas import number_text
from sheetgen.workbook.layout import SheetLayout, sheet_name

_AXIS_FONT = {"size": 9}
_GRIDLINES = {"visible": True, "line": {"color": "#D9D9D9"}}
LOSS_CHART_SIZE = (760, 350)  # pixels: a learning-rate sheet's chart
OVERVIEW_CHART_SIZE = (820, 460)
LOG_SCALE_DECADES = 2  # a linear axis over more than this flattens the tail onto zero


class CachedPoints(Sequence):
    """An engine column as a chart cache, read point by point without copying it.

    XlsxWriter's 'values_data' and 'categories_data' series options take any sequence; a list
    of a million-row column would double what the engine already holds.
    """

    def __init__(self, array: np.ndarray):
        self._array = array

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, index):
        return self._array[index].item()  # a Python number, written as Python writes it


def spans_decades(values: np.ndarray, decades: float = LOG_SCALE_DECADES) -> bool:
    """Whether positive `values` span more than `decades` powers of ten (then log scale reads)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)) or values.min() <= 0:
        return False  # a log axis cannot show zero or a negative number
    return bool(np.log10(values.max() / values.min()) > decades)


def loss_title(loss: np.ndarray) -> tuple[str, str]:
    """A loss chart's title, the text before and after η: the sheet writes it as a formula of
    its η cell, and the chart's title refers to that cell, so the title follows an edit."""
    return "E_total per iteration, η = ", " (log scale)" if spans_decades(loss) else ""


LEGEND_NAME = ("η = ", "")  # an Overview series' name, around η, the same way


def named(parts: tuple[str, str], learning_rate: float) -> str:
    """The text of such a title before any edit (its cached value)."""
    return parts[0] + number_text(learning_rate) + parts[1]


def _iterations(rows: int) -> CachedPoints:
    return CachedPoints(np.arange(rows, dtype=np.int64))


def loss_chart(workbook: Workbook, layout: SheetLayout, learning_rate: float, loss: np.ndarray):
    """E_total against iteration on one learning rate's sheet.

    Args:
        workbook: the workbook.
        layout: the learning-rate sheets' layout.
        learning_rate: the sheet's η.
        loss: the engine's E_total per iteration: the chart's cache, and whether the y axis is
            logarithmic (more than LOG_SCALE_DECADES decades) or linear.
    """
    sheet = sheet_name(learning_rate)
    rows = len(loss)
    log_scale = spans_decades(loss)
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight"})
    chart.add_series(
        {
            "name": "E_total",
            "categories": layout.chart_series(("iteration",), rows, sheet),
            "values": layout.chart_series(("E_total",), rows, sheet),
            "categories_data": _iterations(rows),
            "values_data": CachedPoints(loss),
            "line": {"width": 2, "color": "#1F4E79"},
        }
    )
    scale = " (log scale)" if log_scale else ""
    chart.set_title(
        {
            "name": layout.chart_title_cell(sheet),
            "data": [named(loss_title(loss), learning_rate)],  # the cache, as the cell holds it
            "name_font": {"size": 12},
        }
    )
    chart.set_x_axis({"name": "iteration", "min": 0, "max": rows - 1, "num_font": _AXIS_FONT})
    y_axis = {"name": "E_total" + scale, "num_font": _AXIS_FONT, "major_gridlines": _GRIDLINES}
    if log_scale:
        y_axis.update({"log_base": 10, "num_format": "0.0E+00"})
    chart.set_y_axis(y_axis)
    chart.set_legend({"none": True})
    chart.set_size({"width": LOSS_CHART_SIZE[0], "height": LOSS_CHART_SIZE[1]})
    return chart


def overview_chart(workbook: Workbook, layout: SheetLayout, traces):
    """Every learning rate's E_total on one log-scale chart (traces: the engine's, in order)."""
    chart = workbook.add_chart({"type": "scatter", "subtype": "straight"})
    rows = traces[0].rows
    iterations = _iterations(rows)
    for trace in traces:
        sheet = sheet_name(trace.learning_rate)
        chart.add_series(
            {
                "name": layout.legend_name_cell(sheet),
                "name_data": [named(LEGEND_NAME, trace.learning_rate)],
                "categories": layout.chart_series(("iteration",), rows, sheet),
                "values": layout.chart_series(("E_total",), rows, sheet),
                "categories_data": iterations,
                "values_data": CachedPoints(trace.loss),
                "line": {"width": 1.75},
            }
        )
    chart.set_title(
        {"name": "E_total per iteration, every learning rate (log scale)", "name_font": {"size": 12}}
    )
    chart.set_x_axis({"name": "iteration", "min": 0, "max": rows - 1, "num_font": _AXIS_FONT})
    chart.set_y_axis(
        {
            "name": "E_total (log scale)",
            "log_base": 10,
            "num_font": _AXIS_FONT,
            "num_format": "0.0E+00",
            "major_gridlines": _GRIDLINES,
        }
    )
    chart.set_legend({"position": "right"})
    # the series' names are in a hidden row of each sheet: a chart that plots visible cells
    # only takes them for hidden too (LibreOffice then names a series after its column)
    chart.show_hidden_data()
    chart.set_size({"width": OVERVIEW_CHART_SIZE[0], "height": OVERVIEW_CHART_SIZE[1]})
    return chart
