"""The trained CNN as live formulas: 'MNIST live', with 'MNIST weights' and 'MNIST digits'.

Pick one of the 100 stored test digits, or 0 and draw a digit on the canvas (values from 0,
white, to 1, black), and every layer recalculates: normalisation, each 3x3 convolution with
its BatchNorm folded in and ReLU, the max-pool, global average pooling, the linear layer and
softmax, down to the predicted digit and a bar chart of the ten probabilities. The input grid
stays formulas (the stored digit, or the canvas), so drawing never overwrites a stored digit
and clearing the canvas is selecting it and pressing Delete. Edit a weight on 'MNIST weights'
and the prediction follows.

Cells come from live_layout, formula text from formulas, cached values from cnn.forward.
The workbook is written in XlsxWriter's constant_memory mode, so each sheet's cells are
collected first and written in row order (row_order).
"""

from __future__ import annotations

from sheetgen.runs.cnn import BLANK_INK, IMAGE_SIDE, KERNEL, LiveNetwork, forward, nearly_blank, stored_pixels
from sheetgen.runs.live_inputs import write_digits_sheet, write_weights_sheet
from sheetgen.runs.live_layout import (
    BLANK_NOTE,
    CAPTION_LABEL,
    CHART_ANCHOR,
    CHOOSER_ROW,
    DIGIT_COLS,
    DIGIT_ROWS,
    DIGITS_PER_ROW,
    DIGITS_SHEET,
    GAP_WIDTH,
    LABEL_COL,
    LABEL_WIDTH,
    LIVE_SHEET,
    LOGIT_COL,
    MAP_COLUMN_WIDTH,
    MAPS_COL,
    MAPS_WIDTH,
    PREDICTION_ROW,
    PROBABILITY_COL,
    PROBABILITY_ROW,
    TRUE_LABEL_ROW,
    VALUE_COL,
    VALUE_WIDTH,
    WEIGHTS_SHEET,
    Band,
    LiveLayout,
    area,
    column_absolute,
    ref,
)
from sheetgen.runs.row_order import RowOrderCells
from sheetgen.workbook import formulas, printing
from sheetgen.workbook.worksheets import PlainFormulaWorksheet

DRAWN = "drawn"  # the true label shown for the canvas
FIRST_DIGIT = 1  # the chooser's value in a fresh workbook
BLANK_NOTE_TEXT = "nearly blank: the network never saw such an image; draw a digit"
INK, MAP_COLOUR = "#000000", "#1F4E79"
CANVAS_GRID, CANVAS_EDGE = "#D9D9D9", "#595959"  # the canvas's light gridlines and its border
BAR_COLOUR = "#F4B6B6"  # the probabilities' data bars: light, so their dark text reads


# Every function the live formulas call (formulas.py's CNN builders). None of them is one of
# Excel's newer functions that XlsxWriter must prefix with _xlfn., so the live sheet skips
# XlsxWriter's search for those (PlainFormulaWorksheet): 29 regular expressions over each of
# ~19,000 long formulas took half of the time the sheet takes to write.
# tests/test_mnist_live.py checks the list.
LIVE_FUNCTIONS = frozenset(
    {"IF", "INDEX", "INT", "MOD", "MAX", "SUM", "SUMPRODUCT", "AVERAGE", "EXP", "MATCH"}
)


def _formats(workbook, fmt: dict) -> dict:
    hidden = {"num_format": ";;;"}  # maps are pictures; a cell's value shows when selected
    border = {"border": 1, "border_color": "#A6A6A6"}
    caption = {"font_size": 9, "align": "left", "valign": "bottom"}
    formats = {
        **fmt,
        "pixel": workbook.add_format({**hidden, "bg_color": "#FFFFFF"}),
        "map": workbook.add_format(hidden),
        "map_label": workbook.add_format({"font_size": 9, "font_color": "#404040"}),
        "canvas_note": workbook.add_format({"font_size": 9, "italic": True, "font_color": "#404040"}),
        "band": workbook.add_format({"bold": True, "font_color": "#1F4E79"}),
        "side_label": workbook.add_format({"valign": "vcenter"}),
        # its own number format: a spreadsheet would take the caption's ("label 7") from INDEX
        "label_value": workbook.add_format({"align": "center", "num_format": "0"}),
        "big": workbook.add_format(
            {"bold": True, "font_size": 28, "align": "center", "valign": "vcenter", "font_color": "#C00000"}
        ),
        "blank_note": workbook.add_format(
            {"bold": True, "font_size": 9, "font_color": "#C55A11", "text_wrap": True, "valign": "vcenter"}
        ),
        "chooser": workbook.add_format({"bg_color": "#FFF2CC", "align": "center", "locked": False, **border}),
        "percent": workbook.add_format({"num_format": "0.00%", "align": "center"}),
        "number": workbook.add_format({"num_format": "0.0000", "align": "center"}),
        "winner": workbook.add_format({"bold": True, "font_color": "#9C0006"}),
        "weight": workbook.add_format({"num_format": "0.000", "align": "center", "bg_color": "#FFF2CC"}),
        # a white edge on a kernel's left: the kernels of a line read as separate blocks
        "weight_first": workbook.add_format(
            {
                "num_format": "0.000",
                "align": "center",
                "bg_color": "#FFF2CC",
                "left": 5,
                "left_color": "#FFFFFF",
            }
        ),
        "digit_number": workbook.add_format({**caption, "bold": True}),
        "digit_label": workbook.add_format({**caption, "num_format": '"label "0'}),
        "digit_index": workbook.add_format({**caption, "num_format": '"#"0', "font_color": "#7F7F7F"}),
    }
    for top in (False, True):
        for bottom in (False, True):
            for left in (False, True):
                for right in (False, True):
                    formats[("canvas", top, bottom, left, right)] = workbook.add_format(
                        {
                            **hidden,
                            "bg_color": "#FFFFFF",
                            "locked": False,
                            "top": 2 if top else 1,
                            "bottom": 2 if bottom else 1,
                            "left": 2 if left else 1,
                            "right": 2 if right else 1,
                            "top_color": CANVAS_EDGE if top else CANVAS_GRID,
                            "bottom_color": CANVAS_EDGE if bottom else CANVAS_GRID,
                            "left_color": CANVAS_EDGE if left else CANVAS_GRID,
                            "right_color": CANVAS_EDGE if right else CANVAS_GRID,
                        }
                    )
    return formats


def write_live_sheets(workbook, fmt: dict, network: LiveNetwork) -> int:
    """Add 'MNIST live', 'MNIST weights' and 'MNIST digits'; return the live formulas written."""
    layout = LiveLayout.for_network(network)
    fmt = _formats(workbook, fmt)
    activations = forward(network, stored_pixels(network, FIRST_DIGIT))
    count = _live_sheet(workbook, fmt, layout, activations)
    write_weights_sheet(workbook, fmt, layout)
    write_digits_sheet(workbook, fmt, layout)
    return count


def _map_scale(
    ws,
    top: int,
    left: int,
    side: int,
    low_colour: str,
    high_colour: str,
    fixed: tuple[float, float] | None = None,
) -> None:
    scale = {"type": "2_color_scale", "min_color": low_colour, "max_color": high_colour}
    if fixed is not None:
        scale.update({"min_type": "num", "min_value": fixed[0], "max_type": "num", "max_value": fixed[1]})
    ws.conditional_format(top, left, top + side - 1, left + side - 1, scale)


def _stored(layout: LiveLayout, place: tuple[int, int]) -> str:
    """The chosen stored digit's cell at `place` (1-based within its block on 'MNIST digits')."""
    return formulas.gallery_index(
        layout.chooser, layout.gallery(), (DIGIT_ROWS, DIGIT_COLS), DIGITS_PER_ROW, place
    )


def _live_sheet(workbook, fmt, layout: LiveLayout, act) -> int:
    network = layout.network
    ws = workbook.add_worksheet(LIVE_SHEET, worksheet_class=PlainFormulaWorksheet)
    ws.hide_gridlines(2)
    ws.set_column(LABEL_COL, LABEL_COL, LABEL_WIDTH)
    ws.set_column(VALUE_COL, PROBABILITY_COL, VALUE_WIDTH)
    ws.set_column(PROBABILITY_COL + 1, PROBABILITY_COL + 1, GAP_WIDTH)
    ws.set_column(MAPS_COL, MAPS_COL + MAPS_WIDTH, MAP_COLUMN_WIDTH)
    # Only the chooser and the canvas take typing: the input grid's formulas cannot be typed
    # over by mistake. No password: a user who wants to change a formula can unprotect it.
    ws.protect("", {"format_columns": True, "format_rows": True})
    cells = RowOrderCells(ws, fmt["map"])
    cells.heights.update(layout.row_heights)
    count = len(network.digit_labels)
    cells.put(0, 0, "write", "The trained CNN, live: every number below is a formula", fmt["title"])
    cells.put(
        1,
        0,
        "write",
        f"Pick a stored test digit (1-{count}, pictured on '{DIGITS_SHEET}') in the yellow cell, "
        "or 0 to draw your own on the canvas below: values from 0 (white) to 1 (black).",
        fmt["note"],
    )
    cells.put(
        2,
        0,
        "write",
        "Select any cell of a picture to see its value and formula; edit a weight "
        f"on '{WEIGHTS_SHEET}' and the prediction follows. Only the yellow cell and the canvas "
        "take typing here (the sheet is protected, without a password).",
        fmt["note"],
    )

    chooser = layout.chooser
    probabilities = layout.probabilities()
    best = int(act.probabilities.argmax())
    cells.put(CHOOSER_ROW - 1, VALUE_COL, "write", f"1-{count}; 0 = canvas", fmt["note"])
    cells.put(CHOOSER_ROW, VALUE_COL, "write_number", FIRST_DIGIT, fmt["chooser"])
    ws.data_validation(
        CHOOSER_ROW,
        VALUE_COL,
        CHOOSER_ROW,
        VALUE_COL,
        {
            "validate": "integer",
            "criteria": "between",
            "minimum": 0,
            "maximum": count,
            "error_message": f"Pick a digit from 1 to {count}, or 0 to draw your own on the canvas.",
        },
    )
    cells.put(CHOOSER_ROW, 0, "write", "digit number", fmt["input_label"])
    cells.put(TRUE_LABEL_ROW, 0, "write", "true label")
    cells.put(
        TRUE_LABEL_ROW,
        VALUE_COL,
        "write_formula",
        formulas.stored_label(chooser, _stored(layout, (1, CAPTION_LABEL[0] + 1)), DRAWN),
        fmt["label_value"],
        network.digit_labels[FIRST_DIGIT - 1],
    )
    cells.put(PREDICTION_ROW, 0, "write", "the network says", fmt["side_label"])
    cells.put(
        PREDICTION_ROW, VALUE_COL, "write_formula", formulas.predicted_digit(probabilities), fmt["big"], best
    )
    note_row, note_first, note_last = BLANK_NOTE
    cells.put(note_row, note_first, "merge_range", note_row, note_last, "", fmt["blank_note"])
    cells.put(
        note_row,
        note_first,
        "write_formula",
        formulas.blank_note(layout.input_grid(), BLANK_INK, BLANK_NOTE_TEXT),
        fmt["blank_note"],
        BLANK_NOTE_TEXT if nearly_blank(act.pixels) else "",
    )
    cells.put(PROBABILITY_ROW, 0, "write", "with probability")
    cells.put(
        PROBABILITY_ROW,
        VALUE_COL,
        "write_formula",
        formulas.largest(probabilities),
        fmt["percent"],
        float(act.probabilities[best]),
    )

    _input_band(cells, fmt, layout, act)

    # convolutions and the pool, in the model's order
    for index, band in enumerate(layout.convs, start=1):
        _conv_band(cells, fmt, layout, index, band, act.convs[index - 1])
        if index == network.pool_after:
            _pool_band(cells, fmt, layout, band, act.pooled)

    # global average pooling, logits, softmax
    last = layout.pool if network.pool_after == len(network.convs) else layout.convs[-1]
    last_values = act.pooled if last is layout.pool else act.convs[-1]
    cells.put(layout.gap_heading_row, 0, "write", "global average pool", fmt["band"])
    cells.put(layout.gap_heading_row, VALUE_COL, "write", "average", fmt["header"])
    for channel, (top, left) in enumerate(last.origins):
        row, col = layout.gap_cell(channel)
        cells.put(row, 0, "write", f"{last.name} ch{channel + 1}")
        cells.put(
            row,
            col,
            "write_formula",
            formulas.average_of(area(top, left, last.side, last.side)),
            fmt["number"],
            float(last_values[channel].mean()),
        )
    header = layout.output_first_row - 1
    cells.put(header, 0, "write", "digit", fmt["header"])
    cells.put(header, LOGIT_COL, "write", "logit", fmt["header"])
    cells.put(header, PROBABILITY_COL, "write", "probability", fmt["header"])
    gap_range = (
        ref(layout.gap_first_row, VALUE_COL, absolute=True)
        + ":"
        + ref(layout.gap_first_row + len(last.origins) - 1, VALUE_COL, absolute=True)
    )
    logits = [ref(*layout.logit_cell(d), absolute=True) for d in range(len(act.logits))]
    for digit in range(len(act.logits)):
        row, col = layout.logit_cell(digit)
        cells.put(row, 0, "write_number", digit, fmt["centered"])
        cells.put(
            row,
            col,
            "write_formula",
            formulas.linear(
                gap_range, layout.linear_column(digit), ref(*layout.bias_cell(digit), WEIGHTS_SHEET)
            ),
            fmt["number"],
            float(act.logits[digit]),
        )
        p_row, p_col = layout.probability_cell(digit)
        cells.put(
            p_row,
            p_col,
            "write_formula",
            formulas.softmax(logits, digit),
            fmt["percent"],
            float(act.probabilities[digit]),
        )
    first, classes = layout.output_first_row, len(act.logits)
    ws.conditional_format(
        first,
        PROBABILITY_COL,
        first + classes - 1,
        PROBABILITY_COL,
        {
            "type": "data_bar",
            "bar_color": BAR_COLOUR,
            "bar_solid": True,
            "min_type": "num",
            "min_value": 0,
            "max_type": "num",
            "max_value": 1,
        },
    )
    # the winning digit and its probability in bold
    ws.conditional_format(
        first,
        LABEL_COL,
        first + classes - 1,
        PROBABILITY_COL,
        {
            "type": "formula",
            "criteria": formulas.is_largest(column_absolute(first, PROBABILITY_COL), probabilities),
            "format": fmt["winner"],
        },
    )
    formula_count = cells.flush()

    chart = workbook.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "probability",
            "categories": [LIVE_SHEET, first, LABEL_COL, first + classes - 1, LABEL_COL],
            "values": [LIVE_SHEET, first, PROBABILITY_COL, first + classes - 1, PROBABILITY_COL],
            # the caches (constant_memory mode keeps no cells to take them from)
            "categories_data": list(range(classes)),
            "values_data": act.probabilities.tolist(),
            "fill": {"color": "#C00000"},
            "gap": 40,
        }
    )
    chart.set_title({"name": "Probability of each digit (softmax)", "name_font": {"size": 11}})
    chart.set_x_axis({"name": "digit", "name_font": {"size": 10}, "num_font": {"size": 10}})
    chart.set_y_axis(
        {
            "min": 0,
            "max": 1,
            "num_format": "0%",
            "num_font": {"size": 10},
            "major_unit": 0.25,
            "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
        }
    )
    chart.set_legend({"none": True})
    chart.set_size({"width": 520, "height": 215})
    ws.insert_chart(*CHART_ANCHOR, chart, {"x_offset": 6})
    breaks = printing.page_breaks(
        layout.live_page_groups(),
        layout.last_row + 1,
        lambda row: layout.row_heights.get(row, printing.DEFAULT_ROW_PT),
    )
    printing.set_up_pages(ws, breaks)
    return formula_count


def _input_band(cells: RowOrderCells, fmt, layout: LiveLayout, act) -> None:
    """The canvas, the input grid (formulas: the stored digit, or the canvas) and its
    normalisation, side by side."""
    band = layout.input_band
    label_row = band.label_rows[0]
    cells.put(band.heading_row, 0, "write", "input", fmt["band"])
    cells.put(
        band.heading_row,
        MAPS_COL,
        "write",
        "The canvas is yours to draw on (read when the digit number is 0); the input grid is "
        "formulas: the stored digit, or the canvas. Then normalised: (x - mean) / std",
        fmt["note"],
    )
    cells.put(
        label_row, layout.canvas_origin[1], "write", "draw here (0 = white, 1 = black)", fmt["map_label"]
    )
    cells.put(label_row, layout.input_origin[1], "write", "input pixels", fmt["map_label"])
    cells.put(label_row, layout.normalized_origin[1], "write", "normalised", fmt["map_label"])
    cells.put(
        layout.canvas_note_row,
        layout.canvas_origin[1],
        "write",
        "to clear: select the canvas and press Delete. To ink many cells at once: select them, "
        "type 1 and press Ctrl+Enter (LibreOffice: Alt+Enter).",
        fmt["canvas_note"],
    )
    last = IMAGE_SIDE - 1
    for y in range(IMAGE_SIDE):
        for x in range(IMAGE_SIDE):
            canvas = layout.canvas(y, x)
            cells.put(*canvas, "write_blank", None, fmt[("canvas", y == 0, y == last, x == 0, x == last)])
            row, col = layout.pixel(y, x)
            cells.put(
                row,
                col,
                "write_formula",
                formulas.stored_pixel(layout.chooser, ref(*canvas), _stored(layout, (2 + y, 1 + x))),
                fmt["pixel"],
                float(act.pixels[y, x]),
            )
            n_row, n_col = layout.normalized(y, x)
            cells.put(
                n_row,
                n_col,
                "write_formula",
                formulas.normalize(ref(row, col), layout.mean, layout.std),
                fmt["map"],
                float(act.normalized[y, x]),
            )
    ws = cells.ws
    top, left = layout.canvas_origin
    ws.data_validation(
        top,
        left,
        top + last,
        left + last,
        {
            "validate": "decimal",
            "criteria": "between",
            "minimum": 0,
            "maximum": 1,
            "error_title": "A value from 0 to 1",
            "error_message": "Type a value from 0 (white) to 1 (black), or press Delete to clear.",
        },
    )
    _map_scale(ws, *layout.canvas_origin, IMAGE_SIDE, "#FFFFFF", INK, fixed=(0, 1))
    _map_scale(ws, *layout.input_origin, IMAGE_SIDE, "#FFFFFF", INK, fixed=(0, 1))
    _map_scale(ws, *layout.normalized_origin, IMAGE_SIDE, "#FFFFFF", INK)


def _conv_band(cells: RowOrderCells, fmt, layout: LiveLayout, index: int, band: Band, values) -> None:
    network = layout.network
    conv = network.convs[index - 1]
    cells.put(band.heading_row, 0, "write", band.name, fmt["band"])
    cells.put(
        band.heading_row,
        MAPS_COL,
        "write",
        f"3x3 convolution, {conv.in_channels} -> {conv.out_channels} channels, BatchNorm "
        "folded in (kernels and shifts on 'MNIST weights'), then ReLU: "
        "MAX(0, Σ SUMPRODUCT(window, kernel) + shift)",
        fmt["note"],
    )
    # every output channel reads the same windows: name each once (writing is formula-bound)
    sources = [layout.layer_input(index, channel) for channel in range(conv.in_channels)]
    windows = [
        [
            [area(s_top + y, s_left + x, KERNEL, KERNEL) for s_top, s_left, _ in sources]
            for x in range(band.side)
        ]
        for y in range(band.side)
    ]
    for out, (top, left) in enumerate(band.origins):
        cells.put(top - 1, left, "write", f"{band.name} ch{out + 1}", fmt["map_label"])
        kernels = [layout.kernel(index, out, channel) for channel in range(conv.in_channels)]
        shift = layout.shift(index, out)
        for y in range(band.side):
            for x in range(band.side):
                pairs = list(zip(windows[y][x], kernels))
                cells.put(
                    top + y,
                    left + x,
                    "write_formula",
                    formulas.conv_relu(pairs, shift),
                    fmt["map"],
                    float(values[out, y, x]),
                )
        _map_scale(cells.ws, top, left, band.side, "#FFFFFF", MAP_COLOUR)


def _pool_band(cells: RowOrderCells, fmt, layout: LiveLayout, source: Band, values) -> None:
    band = layout.pool
    cells.put(band.heading_row, 0, "write", "max-pool", fmt["band"])
    cells.put(
        band.heading_row,
        MAPS_COL,
        "write",
        f"2x2 max-pool of {source.name}: each cell is the largest of a 2x2 window",
        fmt["note"],
    )
    for channel, ((top, left), (s_top, s_left)) in enumerate(zip(band.origins, source.origins)):
        cells.put(top - 1, left, "write", f"pool ch{channel + 1}", fmt["map_label"])
        for y in range(band.side):
            for x in range(band.side):
                cells.put(
                    top + y,
                    left + x,
                    "write_formula",
                    formulas.max_of(area(s_top + 2 * y, s_left + 2 * x, 2, 2)),
                    fmt["map"],
                    float(values[channel, y, x]),
                )
        _map_scale(cells.ws, top, left, band.side, "#FFFFFF", MAP_COLOUR)
