"""The trained CNN as live formulas: 'MNIST live', 'MNIST weights' and 'MNIST digits'.

Pick one of the 100 stored test digits (or 0 for an empty canvas and type values in [0, 1] into
the grid to draw one) and every layer recalculates: normalisation, each 3x3 convolution with
its BatchNorm folded in and ReLU, the max-pool, global average pooling, the linear layer and
softmax, down to the predicted digit and a bar chart of the ten probabilities. Edit a weight
on 'MNIST weights' and the prediction follows.

Cells come from live_layout, formula text from formulas, cached values from cnn.forward.
The workbook is written in XlsxWriter's constant_memory mode, so each sheet's cells are
collected first and written in row order.
"""

from __future__ import annotations

from collections import defaultdict

from xlsxwriter.worksheet import Worksheet

from sheetgen.runs.cnn import IMAGE_SIDE, KERNEL, LiveNetwork, forward, stored_pixels
from sheetgen.runs.live_layout import (
    CHOOSER_ROW,
    DIGIT_PIXELS_COL,
    DIGITS_HEADER_ROW,
    DIGITS_SHEET,
    LABEL_COL,
    LIVE_SHEET,
    LOGIT_COL,
    MAPS_COL,
    MAPS_WIDTH,
    MEAN_ROW,
    PREDICTION_ROW,
    PROBABILITY_COL,
    PROBABILITY_ROW,
    TRUE_LABEL_ROW,
    VALUE_COL,
    WEIGHTS_SHEET,
    Band,
    LiveLayout,
    area,
    ref,
)
from sheetgen.workbook import formulas

DRAWN = "drawn"  # the true label shown for the empty canvas
FIRST_DIGIT = 1  # the chooser's value in a fresh workbook
MAP_ROW_HEIGHT = 9  # points: 12 pixels, as wide as a column of width 1
MAP_COLUMN_WIDTH = 1  # 12 pixels
INK, MAP_COLOUR = "#000000", "#1F4E79"


# Every function the live formulas call (formulas.py's CNN builders). None of them is one of
# Excel's newer functions that XlsxWriter must prefix with _xlfn., so the live sheet skips
# XlsxWriter's search for those: 29 regular expressions over each of ~19,000 long formulas
# took half of the time the sheet takes to write. tests/test_mnist_live.py checks the list.
LIVE_FUNCTIONS = frozenset({"IF", "INDEX", "MAX", "SUMPRODUCT", "AVERAGE", "EXP", "MATCH"})


class PlainFormulaWorksheet(Worksheet):
    """A worksheet whose formulas are written as given (less the leading '=')."""

    def _prepare_formula(self, formula, expand_future_functions=False):
        return formula[1:] if formula.startswith("=") else formula


class _Cells:
    """A sheet's cells, collected in any order and written in row order (constant_memory)."""

    def __init__(self, ws):
        self.ws = ws
        self.rows: dict[int, list] = defaultdict(list)
        self.heights: dict[int, float] = {}
        self.formulas = 0

    def put(self, row: int, col: int, method: str, *args) -> None:
        self.rows[row].append((col, method, args))
        if method == "write_formula":
            self.formulas += 1

    def flush(self) -> int:
        for row in sorted(set(self.rows) | set(self.heights)):
            if row in self.heights:
                self.ws.set_row(row, self.heights[row])
            for col, method, args in sorted(self.rows.get(row, ()), key=lambda c: c[0]):
                getattr(self.ws, method)(row, col, *args)
        return self.formulas


def _formats(workbook, fmt: dict) -> dict:
    hidden = {"num_format": ";;;"}  # maps are pictures; a cell's value shows when selected
    return {
        **fmt,
        "pixel": workbook.add_format({**hidden, "bg_color": "#FFFFFF"}),
        "map": workbook.add_format(hidden),
        "map_label": workbook.add_format({"font_size": 8, "font_color": "#404040"}),
        "band": workbook.add_format({"bold": True, "font_color": "#1F4E79"}),
        "big": workbook.add_format(
            {"bold": True, "font_size": 28, "align": "center", "font_color": "#C00000"}
        ),
        "percent": workbook.add_format({"num_format": "0.00%", "align": "center"}),
        "number": workbook.add_format({"num_format": "0.0000", "align": "center"}),
        "weight": workbook.add_format({"num_format": "0.000", "align": "center", "bg_color": "#FFF2CC"}),
    }


def write_live_sheets(workbook, fmt: dict, network: LiveNetwork) -> int:
    """Add 'MNIST live', 'MNIST weights' and 'MNIST digits'; return the live formulas written."""
    layout = LiveLayout.for_network(network)
    fmt = _formats(workbook, fmt)
    activations = forward(network, stored_pixels(network, FIRST_DIGIT))
    count = _live_sheet(workbook, fmt, layout, activations)
    _weights_sheet(workbook, fmt, layout)
    _digits_sheet(workbook, fmt, layout)
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


def _band_rows(cells: _Cells, band: Band, side: int) -> None:
    for top, _ in band.origins:
        for y in range(side):
            cells.heights[top + y] = MAP_ROW_HEIGHT


def _live_sheet(workbook, fmt, layout: LiveLayout, act) -> int:
    network = layout.network
    ws = workbook.add_worksheet(LIVE_SHEET, worksheet_class=PlainFormulaWorksheet)
    ws.hide_gridlines(2)
    ws.set_landscape()
    ws.set_paper(9)  # A4
    ws.fit_to_pages(1, 0)
    ws.set_column(LABEL_COL, LABEL_COL, 26)
    ws.set_column(VALUE_COL, PROBABILITY_COL, 12)
    ws.set_column(PROBABILITY_COL + 1, PROBABILITY_COL + 1, 2)
    ws.set_column(MAPS_COL, MAPS_COL + MAPS_WIDTH, MAP_COLUMN_WIDTH)
    cells = _Cells(ws)
    count = len(network.digit_labels)
    cells.put(0, 0, "write", "The trained CNN, live: every number below is a formula", fmt["title"])
    cells.put(
        1,
        0,
        "write",
        f"Pick a stored test digit (1-{count}) in the yellow cell, or 0 for an "
        "empty canvas, and type values from 0 (white) to 1 (black) into the input "
        "grid to draw your own.",
        fmt["note"],
    )
    cells.put(
        2,
        0,
        "write",
        "Select any cell of a picture to see its value and formula; edit a weight "
        f"on '{WEIGHTS_SHEET}' and the prediction follows.",
        fmt["note"],
    )

    chooser = layout.chooser
    probabilities = layout.probabilities()
    best = int(act.probabilities.argmax())
    cells.put(CHOOSER_ROW - 1, VALUE_COL, "write", f"1-{count}; 0 = draw", fmt["note"])
    cells.put(CHOOSER_ROW, VALUE_COL, "write_number", FIRST_DIGIT, fmt["input"])
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
            "error_message": f"Pick a digit from 1 to {count}, or 0 to draw your own.",
        },
    )
    cells.put(CHOOSER_ROW, 0, "write", "digit number", fmt["input_label"])
    cells.put(TRUE_LABEL_ROW, 0, "write", "true label")
    cells.put(
        TRUE_LABEL_ROW,
        VALUE_COL,
        "write_formula",
        formulas.stored_label(chooser, layout.digit_labels(), DRAWN),
        fmt["centered"],
        network.digit_labels[FIRST_DIGIT - 1],
    )
    cells.put(PREDICTION_ROW, 0, "write", "the network says")
    cells.heights[PREDICTION_ROW] = 36
    cells.put(
        PREDICTION_ROW, VALUE_COL, "write_formula", formulas.predicted_digit(probabilities), fmt["big"], best
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

    # the input and its normalisation
    band = layout.input_band
    cells.put(band.heading_row, 0, "write", "input", fmt["band"])
    cells.put(
        band.heading_row,
        MAPS_COL,
        "write",
        "28x28 pixels in [0, 1], read from 'MNIST digits' (type into the grid to draw), "
        "and normalised: (x - mean) / std",
        fmt["note"],
    )
    cells.put(band.label_rows[0], MAPS_COL, "write", "input pixels", fmt["map_label"])
    cells.put(band.label_rows[0], layout.normalized_origin[1], "write", "normalised", fmt["map_label"])
    _band_rows(cells, band, IMAGE_SIDE)
    pixels = layout.digit_pixels()
    for y in range(IMAGE_SIDE):
        for x in range(IMAGE_SIDE):
            row, col = layout.pixel(y, x)
            cells.put(
                row,
                col,
                "write_formula",
                formulas.stored_pixel(chooser, pixels, y * IMAGE_SIDE + x + 1),
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
    _map_scale(ws, *layout.input_origin, IMAGE_SIDE, "#FFFFFF", INK, fixed=(0, 1))
    _map_scale(ws, *layout.normalized_origin, IMAGE_SIDE, "#FFFFFF", INK)

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
    cells.put(header, LOGIT_COL, "write", "logit (linear)", fmt["header"])
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
            "bar_color": "#C00000",
            "bar_solid": True,
            "min_type": "num",
            "min_value": 0,
            "max_type": "num",
            "max_value": 1,
        },
    )
    formula_count = cells.flush()

    chart = workbook.add_chart({"type": "column"})
    chart.add_series(
        {
            "name": "probability",
            "categories": [LIVE_SHEET, first, LABEL_COL, first + classes - 1, LABEL_COL],
            "values": [LIVE_SHEET, first, PROBABILITY_COL, first + classes - 1, PROBABILITY_COL],
            "fill": {"color": "#C00000"},
            "gap": 40,
        }
    )
    chart.set_title({"name": "Probability of each digit (softmax)", "name_font": {"size": 11}})
    chart.set_x_axis({"name": "digit"})
    chart.set_y_axis(
        {
            "min": 0,
            "max": 1,
            "num_format": "0%",
            "major_unit": 0.25,
            "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
        }
    )
    chart.set_legend({"none": True})
    chart.set_size({"width": 520, "height": 215})
    ws.insert_chart(CHOOSER_ROW - 1, PROBABILITY_COL - 1, chart, {"x_offset": 20})
    return formula_count


def _conv_band(cells: _Cells, fmt, layout: LiveLayout, index: int, band: Band, values) -> None:
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
    _band_rows(cells, band, band.side)
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


def _pool_band(cells: _Cells, fmt, layout: LiveLayout, source: Band, values) -> None:
    band = layout.pool
    cells.put(band.heading_row, 0, "write", "max-pool", fmt["band"])
    cells.put(
        band.heading_row,
        MAPS_COL,
        "write",
        f"2x2 max-pool of {source.name}: each cell is the largest of a 2x2 window",
        fmt["note"],
    )
    _band_rows(cells, band, band.side)
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


def _weights_sheet(workbook, fmt, layout: LiveLayout) -> None:
    network = layout.network
    ws = workbook.add_worksheet(WEIGHTS_SHEET)
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_column(0, 0, 18)
    ws.set_column(1, 4 * max(c.in_channels for c in network.convs) + 2, 7)
    cells = _Cells(ws)
    cells.put(0, 0, "write", "The trained network's weights, as the live sheet uses them", fmt["title"])
    cells.put(
        1,
        0,
        "write",
        "BatchNorm is folded into each convolution (inference mode): "
        "kernel = W·γ/√(σ²+ε), shift = β − μ·γ/√(σ²+ε). Yellow cells are "
        f"inputs: edit one and '{LIVE_SHEET}' follows.",
        fmt["note"],
    )
    cells.put(MEAN_ROW, 0, "write", "normalise: mean", fmt["input_label"])
    cells.put(MEAN_ROW, 1, "write_number", network.mean, fmt["weight"])
    cells.put(MEAN_ROW, 2, "write", "std", fmt["input_label"])
    cells.put(MEAN_ROW, 3, "write_number", network.std, fmt["weight"])
    for index, conv in enumerate(network.convs, start=1):
        heading = layout.conv_heading_rows[index]
        cells.put(
            heading,
            0,
            "write",
            f"conv{index}: {conv.in_channels} -> {conv.out_channels} channels, 3x3 kernels",
            fmt["heading"],
        )
        bottom = heading
        for out in range(conv.out_channels):
            top, _ = layout.kernel_origins[(index, out, 0)]
            cells.put(top - 1, 0, "write", f"conv{index} ch{out + 1}", fmt["band"])
            for channel in range(conv.in_channels):
                k_top, k_left = layout.kernel_origins[(index, out, channel)]
                cells.put(k_top - 1, k_left, "write", f"from ch{channel + 1}", fmt["map_label"])
                for dy in range(KERNEL):
                    for dx in range(KERNEL):
                        cells.put(
                            k_top + dy,
                            k_left + dx,
                            "write_number",
                            float(conv.weight[out, channel, dy, dx]),
                            fmt["weight"],
                        )
            s_row, s_col = layout.shift_cells[(index, out)]
            cells.put(s_row - 1, s_col, "write", "shift", fmt["map_label"])
            cells.put(s_row, s_col, "write_number", float(conv.shift[out]), fmt["weight"])
            bottom = top + KERNEL - 1
        # blue for negative, red for positive weights, white at zero, per convolution
        ws.conditional_format(
            heading + 1,
            1,
            bottom,
            4 * conv.in_channels + 1,
            {
                "type": "3_color_scale",
                "min_color": "#5B9BD5",
                "mid_type": "num",
                "mid_value": 0,
                "mid_color": "#FFFFFF",
                "max_color": "#F8696B",
            },
        )
    header = layout.linear_header_row
    channels = network.convs[-1].out_channels
    cells.put(
        header - 1,
        0,
        "write",
        f"linear: {channels} averages -> {len(network.linear_bias)} logits (one column per digit)",
        fmt["heading"],
    )
    cells.put(header, 0, "write", "from \\ digit", fmt["header"])
    for digit in range(len(network.linear_bias)):
        cells.put(header, 1 + digit, "write_number", digit, fmt["header"])
        for channel in range(channels):
            cells.put(
                *layout.linear_weight_cell(digit, channel),
                "write_number",
                float(network.linear_weight[digit, channel]),
                fmt["weight"],
            )
        cells.put(*layout.bias_cell(digit), "write_number", float(network.linear_bias[digit]), fmt["weight"])
    for channel in range(channels):
        cells.put(header + 1 + channel, 0, "write", f"ch{channel + 1}")
    cells.put(layout.bias_row, 0, "write", "bias")
    cells.flush()


def _digits_sheet(workbook, fmt, layout: LiveLayout) -> None:
    network = layout.network
    ws = workbook.add_worksheet(DIGITS_SHEET)
    ws.freeze_panes(DIGITS_HEADER_ROW + 1, DIGIT_PIXELS_COL)
    ws.set_landscape()
    ws.fit_to_pages(1, 1)  # 787 columns: one (tiny) page rather than hundreds
    ws.set_column(0, 2, 10)
    ws.set_column(DIGIT_PIXELS_COL, DIGIT_PIXELS_COL + IMAGE_SIDE**2 - 1, 4)
    ws.write(
        0, 0, f"The {len(network.digit_labels)} stored test digits the live sheet can show", fmt["title"]
    )
    ws.write(
        1,
        0,
        "One row per digit: its number (the live sheet's chooser), its index in the "
        "MNIST test set, its label, then its 784 grey levels (0-255), row by row.",
        fmt["note"],
    )
    for col, text in enumerate(("number", "test index", "label")):
        ws.write(DIGITS_HEADER_ROW, col, text, fmt["header"])
    for k in range(IMAGE_SIDE**2):
        ws.write(DIGITS_HEADER_ROW, DIGIT_PIXELS_COL + k, f"r{k // IMAGE_SIDE + 1}c{k % IMAGE_SIDE + 1}")
    for n, (index, label, picture) in enumerate(
        zip(network.digit_indices, network.digit_labels, network.digit_pixels)
    ):
        row = DIGITS_HEADER_ROW + 1 + n
        ws.write_number(row, 0, n + 1)
        ws.write_number(row, 1, index)
        ws.write_number(row, 2, label)
        for k, value in enumerate(picture.ravel().tolist()):
            ws.write_number(row, DIGIT_PIXELS_COL + k, value)
