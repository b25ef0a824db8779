"""sheetgen verify for 'MNIST live': LibreOffice's recalculation against the NumPy forward pass.

The network is the one the workbook's record holds, with the weights as 'MNIST weights' holds
them now and the image as the sheet holds it now (the chooser's stored digit or, at 0, the
canvas; and any pixel typed over the input grid's formulas), so an edited and recalculated
sheet still verifies, with notes saying what was edited. Each layer is one row of the report:
its cells, the largest relative error against the engine, and the cached values against the
recalculation. The note beside the prediction that an image is nearly blank is checked too.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from sheetgen.analyse.compare import as_number, relative_errors
from sheetgen.analyse.differences import ColumnCheck, Difference, SheetCheck
from sheetgen.analyse.reading import Grid, cell
from sheetgen.runs import cnn
from sheetgen.runs.live_layout import (
    BLANK_NOTE,
    CHOOSER_ROW,
    DIGITS_SHEET,
    LIVE_SHEET,
    PREDICTION_ROW,
    PROBABILITY_ROW,
    TRUE_LABEL_ROW,
    VALUE_COL,
    WEIGHTS_SHEET,
    LiveLayout,
    ref,
)
from sheetgen.runs.mnist_live import BLANK_NOTE_TEXT, DRAWN
from sheetgen.runs.training import RunError, TrainingRecord


def recorded_network(training_json: str | None) -> cnn.LiveNetwork | None:
    """The live network in the workbook's record (record.WorkbookRecord.training_json), or None
    (no run, one without it, or a record that cannot be read: the live sheet is then not
    verified, and the rest of the workbook still is)."""
    if training_json is None:
        return None
    try:
        return TrainingRecord.from_json(training_json).live
    except (RunError, ValueError, KeyError, TypeError):
        return None


def _read(grid: Grid, cells) -> np.ndarray:
    return np.array([as_number(cell(grid, r, c)) for r, c in cells], dtype=np.float64)


def _changed(now: np.ndarray, recorded) -> int:
    """How many values were edited: a program that saves 15 or 16 significant digits (XlsxWriter,
    openpyxl, LibreOffice) changes none beyond a relative 1e-14."""
    return int(np.sum(~np.isclose(now, recorded, rtol=1e-14, atol=0)))


def _sheet_network(network: cnn.LiveNetwork, layout: LiveLayout, weights: Grid):
    """The network with the weights as the sheet holds them, and how many were edited."""
    convs, edited = [], 0
    for index, conv in enumerate(network.convs, start=1):
        weight = np.empty_like(conv.weight)
        for (i, out, channel), (top, left) in layout.kernel_origins.items():
            if i == index:
                weight[out, channel] = _read(
                    weights, [(top + y, left + x) for y in range(3) for x in range(3)]
                ).reshape(3, 3)
        shift = _read(weights, [layout.shift_cells[(index, out)] for out in range(conv.out_channels)])
        edited += _changed(weight, conv.weight) + _changed(shift, conv.shift)
        convs.append(cnn.Conv(weight, shift))
    classes, channels = network.linear_weight.shape
    linear = _read(
        weights, [layout.linear_weight_cell(d, c) for d in range(classes) for c in range(channels)]
    ).reshape(classes, channels)
    bias = _read(weights, [layout.bias_cell(d) for d in range(classes)])
    mean, std = _read(weights, [(3, 1), (3, 3)])
    edited += (
        _changed(linear, network.linear_weight)
        + _changed(bias, network.linear_bias)
        + _changed(np.array([mean, std]), np.array([network.mean, network.std]))
    )
    return replace(
        network, mean=float(mean), std=float(std), convs=tuple(convs), linear_weight=linear, linear_bias=bias
    ), edited


def _blocks(layout: LiveLayout, act: cnn.Activations):
    """(label, cells, expected values) per layer, in the model's order."""
    network = layout.network
    side = cnn.IMAGE_SIDE
    yield (
        "normalised",
        [layout.normalized(y, x) for y in range(side) for x in range(side)],
        act.normalized.ravel(),
    )
    for index, band in enumerate(layout.convs, start=1):
        cells = [
            (top + y, left + x)
            for top, left in band.origins
            for y in range(band.side)
            for x in range(band.side)
        ]
        yield band.name, cells, act.convs[index - 1].ravel()
        if index == network.pool_after:
            pool = layout.pool
            yield (
                "pool",
                [
                    (top + y, left + x)
                    for top, left in pool.origins
                    for y in range(pool.side)
                    for x in range(pool.side)
                ],
                act.pooled.ravel(),
            )
    classes = len(act.logits)
    yield ("average", [layout.gap_cell(c) for c in range(len(act.averages))], act.averages)
    yield "logit", [layout.logit_cell(d) for d in range(classes)], act.logits
    yield "probability", [layout.probability_cell(d) for d in range(classes)], act.probabilities
    best = int(act.probabilities.argmax())
    yield (
        "predicted digit",
        [(PREDICTION_ROW, VALUE_COL), (PROBABILITY_ROW, VALUE_COL)],
        np.array([best, act.probabilities[best]]),
    )


def _first_beyond(tolerance, errors, cells, label, sheet_formulas, got, expected, sources):
    """The first cell whose error is beyond tolerance, as a Difference; None if there is none.
    sources: what `got` and `expected` are ("LibreOffice gives", "the reference engine")."""
    bad = np.flatnonzero(errors > tolerance)
    if not bad.size:
        return None
    i = int(bad[0])
    wanted = expected[i]
    wanted = wanted.item() if isinstance(wanted, np.generic) else wanted  # a plain float
    return Difference(
        LIVE_SHEET,
        ref(*cells[i]),
        label,
        cell(sheet_formulas, *cells[i]),
        got[i],
        wanted,
        *sources,
        float(errors[i]),
    )


def verify_live(network: cnn.LiveNetwork, formulas, cached, recalculated, tolerance):
    """The SheetCheck of 'MNIST live'."""
    if LIVE_SHEET not in recalculated or WEIGHTS_SHEET not in recalculated:
        problem = Difference(
            LIVE_SHEET,
            "-",
            "sheet",
            None,
            "no such sheet",
            "the live sheets of the recorded run",
            "the workbook has",
            "the record asks for",
            math.inf,
        )
        return SheetCheck(LIVE_SHEET, (), (problem,))
    layout = LiveLayout.for_network(network)
    live, notes = recalculated[LIVE_SHEET], []
    # Inputs (weights, chooser, typed pixels) are read from the file itself, which holds them
    # to the last bit; LibreOffice's copy keeps 15 significant digits.
    sheet_network, edited = _sheet_network(network, layout, formulas[WEIGHTS_SHEET])
    if edited:
        notes.append(
            f"{WEIGHTS_SHEET}: {edited} weight{'s differ' if edited > 1 else ' differs'} "
            "from the recorded run; compared with what the sheet's weights give"
        )
    if DIGITS_SHEET in recalculated:
        digits = recalculated[DIGITS_SHEET]
        side = cnn.IMAGE_SIDE
        stored = np.array(
            [
                [
                    as_number(cell(digits, *layout.digit_pixel(n, y, x)))
                    for y in range(side)
                    for x in range(side)
                ]
                for n in range(1, len(network.digit_labels) + 1)
            ]
        )
        if not np.array_equal(stored, network.digit_pixels.reshape(len(stored), -1)):
            notes.append(f"{DIGITS_SHEET}: stored pixels differ from the recorded run")
    chooser = as_number(cell(formulas[LIVE_SHEET], CHOOSER_ROW, VALUE_COL))
    if not (chooser.is_integer() and 0 <= chooser <= len(network.digit_labels)):
        problem = Difference(
            LIVE_SHEET,
            ref(CHOOSER_ROW, VALUE_COL),
            "chooser",
            None,
            cell(live, CHOOSER_ROW, VALUE_COL),
            f"a whole number from 0 to {len(network.digit_labels)}",
            "the chooser holds",
            "it must hold",
            math.inf,
        )
        return SheetCheck(LIVE_SHEET, (), (problem,), tuple(notes))
    side = cnn.IMAGE_SIDE
    grid_cells = [layout.pixel(y, x) for y in range(side) for x in range(side)]
    if chooser == 0:  # the canvas, as the file holds it: a blank cell is 0 to a formula
        canvas = [cell(formulas[LIVE_SHEET], *layout.canvas(y, x)) for y in range(side) for x in range(side)]
        stored = np.array([0.0 if v is None else as_number(v) for v in canvas])
    else:
        stored = cnn.stored_pixels(network, int(chooser)).ravel()
    formula_pixels = [
        i for i, (r, c) in enumerate(grid_cells) if str(cell(formulas[LIVE_SHEET], r, c)).startswith("=")
    ]
    pixels = _read(formulas[LIVE_SHEET], grid_cells)
    pixels[formula_pixels] = stored[formula_pixels]
    typed = side * side - len(formula_pixels)
    if typed:
        notes.append(
            f"{LIVE_SHEET}: {typed} pixel{'s' if typed > 1 else ''} typed into the "
            "grid; the network is checked on the image the grid holds"
        )
    act = cnn.forward(sheet_network, np.nan_to_num(pixels))
    blocks = [
        ("input pixels", [grid_cells[i] for i in formula_pixels], stored[formula_pixels]),
        *_blocks(layout, act),
    ]
    columns, differences = [], []
    sheet_formulas = formulas.get(LIVE_SHEET, [])
    for label, cells, expected in blocks:
        got = [cell(live, r, c) for r, c in cells]
        got_numbers = [as_number(v) for v in got]
        errors = relative_errors(got_numbers, expected)
        cached_error = None
        first = _first_beyond(
            tolerance,
            errors,
            cells,
            label,
            sheet_formulas,
            got,
            expected,
            ("LibreOffice gives", "the reference engine"),
        )
        if cached is not None and LIVE_SHEET in cached:
            stored_values = [as_number(cell(cached[LIVE_SHEET], r, c)) for r, c in cells]
            cache_errors = relative_errors(stored_values, got_numbers)
            cached_error = float(cache_errors.max()) if cache_errors.size else 0.0
            if first is None:
                first = _first_beyond(
                    tolerance,
                    cache_errors,
                    cells,
                    label,
                    sheet_formulas,
                    stored_values,
                    got,
                    ("the cached value is", "LibreOffice gives"),
                )
        columns.append(
            ColumnCheck(label, len(cells), float(errors.max()) if errors.size else 0.0, cached_error)
        )
        if first is not None:
            differences.append(first)
    # the one text-or-number cell: the chosen digit's true label, "drawn" for the canvas
    label = cell(live, TRUE_LABEL_ROW, VALUE_COL)
    expected_label = DRAWN if chooser == 0 else network.digit_labels[int(chooser) - 1]
    if isinstance(expected_label, str):
        right = label == expected_label
    else:  # a number, whether the file holds it as 7 or 7.0
        right = not isinstance(label, (str, bool)) and as_number(label) == expected_label
    checks = [(label, expected_label, right, "true label", TRUE_LABEL_ROW, VALUE_COL, "the recorded label")]
    # the note beside the prediction: there exactly when the grid is nearly blank
    note_row, note_col, _ = BLANK_NOTE
    note = cell(live, note_row, note_col)
    expected_note = BLANK_NOTE_TEXT if cnn.nearly_blank(np.nan_to_num(pixels)) else ""
    checks.append(
        (
            note,
            expected_note,
            (note or "") == expected_note,
            "blank note",
            note_row,
            note_col,
            "the reference engine",
        )
    )
    for got, expected, right, name, row, col, source in checks:
        columns.append(ColumnCheck(name, 1, 0.0 if right else math.inf, None))
        if not right:
            differences.append(
                Difference(
                    LIVE_SHEET,
                    ref(row, col),
                    name,
                    cell(formulas[LIVE_SHEET], row, col),
                    got,
                    expected,
                    "LibreOffice gives",
                    source,
                    math.inf,
                )
            )
    return SheetCheck(LIVE_SHEET, tuple(columns), tuple(differences[:1]), tuple(notes))
