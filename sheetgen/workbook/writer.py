"""Write the backprop workbook: a sheet that explains the network, an overview, one live sheet
per learning rate, and a hidden record of the spec it was built from.

    sheetgen build --lr 0.8        # the CLI over build_workbook()
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import tempfile
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter
import xlsxwriter.exceptions

from sheetgen import __version__
from sheetgen.files import atomic_path, check_replaceable, check_workbook_suffix
from sheetgen.record import seal, write_record
from sheetgen.workbook import charts, engine, formulas, printing
from sheetgen.workbook import layout as L
from sheetgen.workbook.diagram import Picture, network_picture
from sheetgen.workbook.engine import Trace
from sheetgen.workbook.equations import equations
from sheetgen.workbook.layout import SheetLayout, sheet_name
from sheetgen.workbook.limits import check_build_size
from sheetgen.workbook.quantities import input_keys, input_value, label, values
from sheetgen.workbook.spec import NetworkSpec
from sheetgen.workbook.worksheets import worksheet_class

# A fixed creation date makes the same inputs give a byte-identical file.
CREATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ExtraSheets:
    """Sheets that another part of sheetgen adds after the learning-rate sheets (a training
    run's: sheetgen.runs.export.run_sheets), so that the writer need not know what they show.

    Attributes:
        names: the sheets `write` adds, in order (for the BuildReport).
        write: called with the XlsxWriter workbook and the formats of _formats(); adds them.
        record_json: what they were made from, as JSON: the record keeps it beside the spec,
            so that the workbook can be rendered again whole.
    """

    names: tuple[str, ...]
    write: Callable[[object, dict], None]
    record_json: str


@dataclass(frozen=True)
class BuildReport:
    """What build_workbook wrote."""

    path: Path
    sheets: tuple[str, ...]
    formulas: int
    final_loss: dict[float, float]
    spec: NetworkSpec  # what it was built from


def compute_traces(spec: NetworkSpec) -> list[Trace]:
    """Run the reference engine for every learning rate (raises engine.NumericalError)."""
    return [engine.train(spec, lr) for lr in spec.learning_rates]


def build_workbook(
    spec: NetworkSpec,
    output: str | Path,
    traces: list[Trace] | None = None,
    *,
    extra: ExtraSheets | None = None,
) -> BuildReport:
    """Write the workbook for `spec` to `output`, replacing it only once the new one is complete.

    Args:
        spec: the network, data and training settings.
        output: the .xlsx path.
        traces: the engine's traces for spec.learning_rates, if already computed.
        extra: sheets to add after the learning-rate sheets (an MNIST run's); None: none.

    Returns:
        A BuildReport.

    Raises:
        spec.SpecError: the workbook would not fit a spreadsheet or memory (limits.py).
        engine.NumericalError: a learning rate drives the sheet out of a spreadsheet's range;
            nothing is written.
        files.OutputError: `output` cannot be written, or is not named .xlsx.
    """
    output = Path(output)
    check_replaceable(output)
    check_workbook_suffix(output)
    check_build_size(spec)
    traces = compute_traces(spec) if traces is None else traces
    # drawn (matplotlib imported) before any file exists: Ctrl-C during that import surfaces as
    # an ImportError from matplotlib's compiled parts, not as a clean interrupt mid-write
    picture = network_picture(spec)
    with atomic_path(output) as temporary:
        count = _write(spec, traces, extra, picture, temporary)
    return BuildReport(
        path=output,
        sheets=(L.NETWORK_SHEET, L.OVERVIEW_SHEET)
        + tuple(map(sheet_name, spec.learning_rates))
        + (extra.names if extra is not None else ()),
        formulas=count,
        final_loss={t.learning_rate: float(t.loss[-1]) for t in traces},
        spec=spec,
    )


def _formats(workbook) -> dict:
    border = {"border": 1, "border_color": "#A6A6A6"}
    return {
        "title": workbook.add_format({"bold": True, "font_size": 14}),
        "note": workbook.add_format({"italic": True, "font_color": "#595959"}),
        "heading": workbook.add_format({"bold": True, "font_size": 11, "font_color": "#1F4E79"}),
        "input_label": workbook.add_format(
            {"bold": True, "align": "center", "bg_color": "#F2F2F2", **border}
        ),
        "input": workbook.add_format({"bg_color": "#FFF2CC", "align": "center", **border}),
        "group": workbook.add_format({"italic": True, "font_color": "#7F7F7F"}),
        "header": workbook.add_format({"bold": True, "align": "center", "bottom": 2, "bg_color": "#DDEBF7"}),
        "row_header": workbook.add_format(
            {"bold": True, "align": "center", "right": 1, "bg_color": "#DDEBF7"}
        ),
        "iteration": workbook.add_format({"align": "center", "font_color": "#595959"}),
        "centered": workbook.add_format({"align": "center"}),
        "diagonal": workbook.add_format(
            {"align": "center", "bold": True, "bg_color": "#C6EFCE", "font_color": "#006100"}
        ),
        "two_decimals": workbook.add_format({"num_format": "0.00", "align": "center"}),
        "scientific": workbook.add_format({"num_format": "0.0000E+00", "align": "center"}),
    }


def _write(
    spec: NetworkSpec, traces: list[Trace], extra: ExtraSheets | None, picture: Picture, path: Path
) -> int:
    # XlsxWriter's scratch files go in a folder of our own, removed whatever happens (Ctrl-C
    # included); text is never taken for a formula or a link: templates and run dirs are
    # untrusted, and "=cmd|..." in a description must stay text.
    with tempfile.TemporaryDirectory(prefix="sheetgen-build-") as scratch:
        workbook = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": scratch,
                "strings_to_formulas": False,
                "strings_to_urls": False,
            },
        )
        try:
            count = _write_sheets(workbook, spec, traces, extra, picture)
            seal(path, spec, extra.record_json if extra is not None else None)
            return count
        except xlsxwriter.exceptions.FileCreateError as exc:
            # a full disk or a vanished folder on close(); atomic_path names the target
            cause = exc.__context__
            _abandon_zip_files(cause)
            raise (cause if isinstance(cause, OSError) else OSError(str(exc))) from None


def _abandon_zip_files(error: BaseException | None) -> None:
    """Close, without writing, the zip files that the failed frames of `error` left open.

    XlsxWriter leaves its ZipFile open when writing it fails (a full disk); when the garbage
    collector finalises it later, it tries again to write the zip's directory, fails again and
    prints "Exception ignored in ZipFile.__del__" with a traceback after sheetgen's one line.
    The file itself is removed by atomic_path.
    """
    if error is None:
        return
    for frame, _ in traceback.walk_tb(error.__traceback__):
        for value in list(frame.f_locals.values()):
            if isinstance(value, zipfile.ZipFile) and value.fp is not None:
                stream, value.fp = value.fp, None  # ZipFile.close() then does nothing
                with contextlib.suppress(OSError):
                    stream.close()


def _write_sheets(
    workbook, spec: NetworkSpec, traces: list[Trace], extra: ExtraSheets | None, picture: Picture
) -> int:
    workbook.set_properties(
        {
            "title": f"Backpropagation, step by step: {spec.name}",
            "subject": spec.description,
            "author": "sheetgen",
            "comments": f"Built by sheetgen {__version__}; every computed cell is a live formula.",
            "created": CREATED,
        }
    )
    fmt = _formats(workbook)
    sheet_layout = SheetLayout.for_spec(spec)
    _write_network_sheet(workbook, fmt, spec, picture)
    _write_overview(workbook, fmt, spec, sheet_layout, traces)
    count = 0
    for trace in traces:
        count += _write_rate_sheet(workbook, fmt, spec, sheet_layout, trace)
    if extra is not None:
        extra.write(workbook, fmt)
    write_record(workbook, spec, extra.record_json if extra is not None else None)
    workbook.close()
    return count


def _write_network_sheet(workbook, fmt, spec: NetworkSpec, picture: Picture) -> None:
    ws = workbook.add_worksheet(L.NETWORK_SHEET)
    ws.hide_gridlines(2)
    ws.set_column(0, 0, L.NETWORK_MARGIN_WIDTH)
    how_to = [
        "Each 'lr …' sheet trains the network with one learning rate η,",
        "one row per gradient-descent step.",
        "Edit a yellow cell (η, inputs, targets, initial weights) and every",
        "formula, and the chart, follows. 'Overview' compares the learning rates.",
    ]
    sections = [("How to use this workbook", how_to)] + equations(spec)
    longest = max(len(line) for _, lines in sections for line in lines)
    text_width = min(255, max(L.NETWORK_TEXT_WIDTH, longest + 2))  # 255: a column's maximum
    place = L.network_text_place(picture.width_px, picture.height_px, printing.column_px(text_width))
    if place.default_cols:
        ws.set_column(*place.default_cols, printing.DEFAULT_COLUMN_WIDTH)
    ws.set_column(place.col, place.col, text_width)
    text_rows = place.row + sum(len(lines) + 2 for _, lines in sections) - 1  # no blank after the last
    picture_bottom = L.NETWORK_PICTURE_ROW * L.DEFAULT_ROW_PX + picture.height_px
    printing.set_up(ws, place.content_px, content_height_px=max(text_rows * L.DEFAULT_ROW_PX, picture_bottom))
    ws.write(0, 1, f"The network: {spec.name}", fmt["title"])
    ws.write_string(1, 1, spec.description, fmt["note"])
    row = place.row
    for heading, lines in sections:
        ws.write(row, place.col, heading, fmt["heading"])
        row += 1
        for line in lines:
            ws.write(row, place.col, line)
            row += 1
        row += 1
    ws.insert_image(
        L.NETWORK_PICTURE_ROW,
        L.NETWORK_PICTURE_COL,
        "network.png",
        {
            "image_data": io.BytesIO(picture.png),
            "object_position": 3,
            "x_scale": picture.scale,
            "y_scale": picture.scale,
        },
    )


def _write_overview(workbook, fmt, spec, sheet_layout: SheetLayout, traces) -> None:
    ws = workbook.add_worksheet(L.OVERVIEW_SHEET)
    widths = {L.OVERVIEW_RATE_COL: 16, L.OVERVIEW_FINAL_LOSS_COL: 16, L.OVERVIEW_UPDATES_COL: 34}
    for col, width in widths.items():
        ws.set_column(col, col, width)
    gap_cols = L.OVERVIEW_CHART_COL - len(widths)
    printing.set_up(
        ws,
        sum(map(printing.column_px, widths.values()))
        + gap_cols * printing.DEFAULT_COLUMN_PX
        + charts.OVERVIEW_CHART_SIZE[0],
    )
    ws.write(0, 0, "Every learning rate side by side", fmt["title"])
    ws.write(1, 0, "Edit the threshold; the table and chart are formulas over the 'lr' sheets.", fmt["note"])
    ws.write(L.OVERVIEW_THRESHOLD_ROW, L.OVERVIEW_THRESHOLD_LABEL_COL, "threshold", fmt["input_label"])
    ws.write_number(L.OVERVIEW_THRESHOLD_ROW, L.OVERVIEW_THRESHOLD_COL, spec.loss_threshold, fmt["input"])
    for col, text in (
        (L.OVERVIEW_RATE_COL, "learning rate η"),
        (L.OVERVIEW_FINAL_LOSS_COL, "final E_total"),
        (L.OVERVIEW_UPDATES_COL, "updates until E_total < threshold"),
    ):
        ws.write(L.OVERVIEW_TABLE_HEADER_ROW, col, text, fmt["header"])
    rows = spec.iterations + 1
    for i, trace in enumerate(traces):
        row = L.overview_row(i)
        sheet = sheet_name(trace.learning_rate)
        eta_cell = sheet_layout.input_ref(("eta",), sheet)
        ws.write_formula(row, L.OVERVIEW_RATE_COL, formulas.final_value(eta_cell), None, trace.learning_rate)
        final_cell = sheet_layout.last_cell(("E_total",), rows, sheet)
        ws.write_formula(
            row,
            L.OVERVIEW_FINAL_LOSS_COL,
            formulas.final_value(final_cell),
            fmt["scientific"],
            float(trace.loss[-1]),
        )
        cached = engine.updates_until_below(trace.loss, spec.loss_threshold)
        cached = L.NEVER if cached is None else cached
        column = sheet_layout.column_range(("E_total",), rows, sheet)
        updates = formulas.updates_until_below(column, L.overview_threshold_ref(), L.NEVER)
        ws.write_array_formula(
            row, L.OVERVIEW_UPDATES_COL, row, L.OVERVIEW_UPDATES_COL, updates, fmt["centered"], cached
        )
    chart = charts.overview_chart(workbook, sheet_layout, traces)
    ws.insert_chart(L.OVERVIEW_CHART_ROW, L.OVERVIEW_CHART_COL, chart)


TITLE_NAME_LIMIT = 100  # characters of the network's name in a title formula


def _short(name: str) -> str:
    """A template's name as a title formula holds it: a spreadsheet formula is at most 8,192
    characters, and a title needs no more than its start."""
    return name if len(name) <= TITLE_NAME_LIMIT else name[: TITLE_NAME_LIMIT - 1] + "…"


def _write_rate_sheet(workbook, fmt, spec, sheet_layout: SheetLayout, trace: Trace) -> int:
    learning_rate = trace.learning_rate
    rows = trace.rows
    ws = workbook.add_worksheet(
        sheet_name(learning_rate), worksheet_class=_rate_sheet_class(spec, sheet_layout)
    )
    for first_col, last_col, width in sheet_layout.column_widths():
        ws.set_column(first_col, last_col, width)
    table_px = printing.column_px(L.ITERATION_WIDTH) + (
        len(sheet_layout.quantities) - 1
    ) * printing.column_px(L.COLUMN_WIDTH)
    one_page_wide = printing.set_up(
        ws,
        max(table_px, printing.column_px(L.ITERATION_WIDTH) + charts.LOSS_CHART_SIZE[0]),
        header_rows=(L.GROUP_ROW, L.HEADER_ROW),
        header_columns=(sheet_layout.iteration_col, sheet_layout.iteration_col),
    )
    eta = sheet_layout.input_ref(("eta",))
    before, after = "Backpropagation with η = ", f": {_short(spec.name)}, {rows - 1} updates"
    ws.write_formula(
        L.TITLE_ROW,
        L.TEXT_COL,
        formulas.text_with_value(before, eta, after),
        fmt["title"],
        before + formulas.number_text(learning_rate) + after,
    )
    ws.write(
        L.NOTE_ROW,
        L.TEXT_COL,
        "Yellow cells are inputs: edit them and the whole sheet "
        "recalculates. Every other number is a formula.",
        fmt["note"],
    )
    if not one_page_wide:
        ws.write(
            L.PRINT_NOTE_ROW,
            L.TEXT_COL,
            f"Printed at {printing.LEGIBLE_SCALE}% across pages, left to right and then down, "
            "with the header rows and the iteration column on every page.",
            fmt["note"],
        )
    # constant_memory mode flushes a row once a later one is written: write top to bottom
    ws.write(L.INPUT_LABEL_ROW, L.INPUT_LABEL_COL, "input", fmt["input_label"])
    for key in input_keys(spec):
        col = sheet_layout.input_col[key]
        ws.write(L.INPUT_LABEL_ROW, col, label(spec, key), fmt["input_label"])
    ws.write(L.INPUT_VALUE_ROW, L.INPUT_LABEL_COL, "value", fmt["input_label"])
    for key in input_keys(spec):
        ws.write_number(
            L.INPUT_VALUE_ROW,
            sheet_layout.input_col[key],
            input_value(spec, key, learning_rate),
            fmt["input"],
        )
    # the hidden row of texts that name η, for the chart's title and the Overview's legend
    ws.set_row(L.CHART_TITLE_ROW, None, None, {"hidden": True})
    for col, parts in (
        (L.CHART_TITLE_COL, charts.loss_title(trace.loss)),
        (L.LEGEND_NAME_COL, charts.LEGEND_NAME),
    ):
        ws.write_formula(
            L.CHART_TITLE_ROW,
            col,
            formulas.text_with_value(parts[0], eta, parts[1]),
            None,
            charts.named(parts, learning_rate),
        )
    ws.insert_chart(
        L.CHART_ROW, L.CHART_COL, charts.loss_chart(workbook, sheet_layout, learning_rate, trace.loss)
    )
    column_of = sheet_layout.column_of
    group = None
    for quantity in sheet_layout.quantities:  # left to right: a group's name over its first
        if quantity.group != group:
            group = quantity.group
            ws.write(L.GROUP_ROW, column_of[quantity.key], group, fmt["group"])
    for quantity in sheet_layout.quantities:
        ws.write(L.HEADER_ROW, column_of[quantity.key], quantity.label, fmt["header"])

    emitter = formulas.FormulaEmitter(spec, sheet_layout)
    first, later = [], []
    for quantity in sheet_layout.quantities:
        if quantity.key == ("iteration",):
            continue
        col = column_of[quantity.key]
        cached = values(trace, quantity.key).tolist()
        first.append((col, emitter.template(quantity.key, first_row=True), cached))
        later.append((col, emitter.template(quantity.key, first_row=False), cached))
    iteration_col, iteration_format = sheet_layout.iteration_col, fmt["iteration"]
    write_formula = ws.write_formula
    for t in range(rows):
        row = sheet_layout.row(t)
        ws.write_number(row, iteration_col, t, iteration_format)
        row_numbers = sheet_layout.template_rows(t)
        for col, template, cached in first if t == 0 else later:
            write_formula(row, col, template.format_map(row_numbers), None, cached[t])
    return len(first) * rows


def _rate_sheet_class(spec: NetworkSpec, sheet_layout: SheetLayout):
    """The worksheet class of a learning-rate sheet: one that skips XlsxWriter's search for
    newer function names where none of the sheet's formulas has one (worksheets.py)."""
    emitter = formulas.FormulaEmitter(spec, sheet_layout)
    row_numbers = sheet_layout.template_rows(1)
    return worksheet_class(
        template.format_map(row_numbers)
        for quantity in sheet_layout.quantities
        for first_row in (True, False)
        if (template := emitter.template(quantity.key, first_row)) is not None
    )
