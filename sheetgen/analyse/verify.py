"""sheetgen verify: a workbook sheetgen built, recalculated by LibreOffice, held to the reference
engine, and its cached values held to the recalculation.

    sheetgen verify output/backprop.xlsx

The spec comes from the workbook's hidden record; the numbers it is compared against come from
the input cells as they are now (η, inputs, targets, initial weights), so a workbook whose
inputs a user edited and recalculated still verifies, with a note that they were edited. Cells
are found only through the layout and the quantities, never by hard-coded columns, so any
network sheetgen can build can be verified.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from xlsxwriter.utility import xl_col_to_name

from sheetgen.analyse.compare import TOLERANCE, as_number, format_error, relative_errors, scaled_errors
from sheetgen.analyse.differences import ColumnCheck, Difference, SheetCheck, show_value
from sheetgen.analyse.reading import Grid, cell, load_grids, uncached_formulas
from sheetgen.analyse.recalc import recalculate
from sheetgen.analyse.verify_live import recorded_network, verify_live
from sheetgen.files import signals_unwind
from sheetgen.record import (
    RECORD_SHEET,
    MissingRecord,
    NoSpecError,
    RecordError,
    WorkbookRecord,
    read_own_record,
)
from sheetgen.untrusted import Limits
from sheetgen.workbook import engine
from sheetgen.workbook import layout as L
from sheetgen.workbook.formulas import FormulaEmitter, term_magnitude
from sheetgen.workbook.layout import SheetLayout, sheet_name
from sheetgen.workbook.quantities import input_keys, input_value, label, values, with_inputs
from sheetgen.workbook.spec import NetworkSpec, SpecError


@dataclass(frozen=True)
class VerifyReport:
    """What verify_workbook found; `ok` when every computed cell agrees."""

    path: Path
    sheets: tuple[SheetCheck, ...]
    cached: bool  # False: the file holds no cached values to compare
    tolerance: float = TOLERANCE
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not any(sheet.differences for sheet in self.sheets)

    @property
    def first_difference(self) -> Difference | None:
        return next((d for sheet in self.sheets for d in sheet.differences), None)

    @property
    def cells(self) -> int:
        return sum(sheet.cells for sheet in self.sheets)

    def largest(self, which: str) -> float:
        """Largest relative error over every column: which is "engine" or "cached"."""
        errors = [getattr(c, f"{which}_error") for s in self.sheets for c in s.columns]
        return max((e for e in errors if e is not None), default=0.0)


def verify_workbook(path: str | Path, tolerance: float = TOLERANCE) -> VerifyReport:
    """Recalculate a sheetgen workbook in LibreOffice and compare every computed cell.

    Args:
        path: a workbook written by sheetgen build.
        tolerance: largest relative error (see sheetgen.analyse.compare) that still counts as agreeing.

    Returns:
        A VerifyReport: per sheet and column, cells compared and largest relative errors, and
        the first differing cell of each sheet with its formula.

    Raises:
        reading.WorkbookError: the file is missing, unreadable or beyond the limits of
            sheetgen.untrusted.
        record.NoSpecError: the workbook was not built by sheetgen.
        recalc.RecalcError: LibreOffice is missing or failed.
    """
    path = Path(path)
    # SIGTERM and SIGHUP unwind like Ctrl-C: LibreOffice is ended, temporary folders removed
    with signals_unwind():
        return _verify(path, tolerance)


def _verify(path: Path, tolerance: float) -> VerifyReport:
    record, limits = _read_record(path)  # before LibreOffice, which has no limits, sees the file
    spec = record.spec
    formulas = load_grids(path, formulas=True, limits=limits)
    cached = load_grids(path, formulas=False, limits=limits)
    with tempfile.TemporaryDirectory(prefix="sheetgen-verify-") as temp:
        copy = recalculate(path, temp)
        # named as the user's file: the copy is gone by the time a message is read
        recalculated = load_grids(
            copy, formulas=False, limits=limits, shown_as=f"LibreOffice's recalculated copy of {path}"
        )
    has_cache = uncached_formulas(formulas, cached) < _formula_count(formulas)
    sheet_layout = SheetLayout.for_spec(spec)
    sheets, traces, final_magnitudes = [], {}, {}
    for learning_rate in spec.learning_rates:
        check, trace, final_magnitude = _verify_rate_sheet(
            spec,
            sheet_layout,
            learning_rate,
            formulas,
            cached if has_cache else None,
            recalculated,
            tolerance,
        )
        sheets.append(check)
        if trace is not None:
            traces[learning_rate] = trace
            final_magnitudes[learning_rate] = final_magnitude
    sheets.append(
        _verify_overview(
            spec, traces, final_magnitudes, formulas, cached if has_cache else None, recalculated, tolerance
        )
    )
    network = recorded_network(record.training_json)
    if network is not None:  # an exported run with the live CNN sheet
        sheets.append(verify_live(network, formulas, cached if has_cache else None, recalculated, tolerance))
    notes = (
        ()
        if has_cache
        else (
            "the file holds no cached values (it was last saved by a program that does not "
            "calculate, such as openpyxl), so only LibreOffice's values were compared",
        )
    )
    return VerifyReport(path, tuple(sheets), has_cache, tolerance, notes)


def _read_record(path: Path) -> tuple[WorkbookRecord, Limits]:
    """record.read_own_record, its refusals as verify reports them (exit status 2)."""
    try:
        return read_own_record(path)
    except MissingRecord:
        raise NoSpecError(
            f"{path} was not built by sheetgen (it has no '{RECORD_SHEET}' "
            f"sheet); for a hand-made workbook use: sheetgen check {path}"
        ) from None
    except NoSpecError:
        raise
    except RecordError as exc:
        raise NoSpecError(str(exc)) from None


def _formula_count(grids: dict[str, Grid]) -> int:
    return sum(
        1 for grid in grids.values() for row in grid for v in row if isinstance(v, str) and v.startswith("=")
    )


def as_written(number: float) -> float:
    """A number as XlsxWriter writes it into a sheet: 16 significant digits ("%.16G"), which
    round a drawn weight's last bit away; an input cell holding that was not edited."""
    return float(f"{number:.16G}")


def _sheet_spec(
    spec: NetworkSpec, sheet_layout: SheetLayout, learning_rate: float, grid: Grid, recalculated: Grid
) -> tuple[NetworkSpec, float, list[str]]:
    """The spec and η as the sheet's input cells hold them now, and notes on what was edited.

    A number is read from the file itself (`grid`, its formulas and constants), which is what
    LibreOffice computed with: its saved copy rounds numbers to 15 significant digits. An input
    cell given a formula by hand is read from the copy (`recalculated`).
    """
    changed = {}
    eta, notes = learning_rate, []
    for key in input_keys(spec):
        ref = sheet_layout.input_ref(key).replace("$", "")
        raw = cell(grid, L.INPUT_VALUE_ROW, sheet_layout.input_col[key])
        if isinstance(raw, str) and raw.startswith("="):
            raw = cell(recalculated, L.INPUT_VALUE_ROW, sheet_layout.input_col[key])
        value = as_number(raw)
        if math.isnan(value):
            raise SpecError(f"input cell {ref} ({label(spec, key)}) holds {show_value(raw)}, not a number")
        recorded = input_value(spec, key, learning_rate)
        if value not in (recorded, as_written(recorded)):
            notes.append(
                f"{label(spec, key)} ({ref}) is {value:.15g} in the sheet, "
                f"{recorded:.15g} in the recorded spec"
            )
        if key[0] == "eta":
            eta = value
        else:
            changed[key] = value
    return with_inputs(spec, changed), eta, notes


def _verify_rate_sheet(
    spec, sheet_layout: SheetLayout, learning_rate: float, formulas, cached, recalculated, tolerance
) -> tuple[SheetCheck, engine.Trace | None]:
    name = sheet_name(learning_rate)
    missing = [book for book in (formulas, recalculated) if name not in book]
    if missing:
        problem = Difference(
            name,
            "-",
            "sheet",
            None,
            "no such sheet",
            "one per learning rate",
            "the workbook has",
            "the recorded spec asks for",
            math.inf,
        )
        return SheetCheck(name, (), (problem,)), None, None
    try:
        sheet_spec, eta, notes = _sheet_spec(
            spec, sheet_layout, learning_rate, formulas[name], recalculated[name]
        )
        trace = engine.train(sheet_spec, eta, spec.iterations)
    except (SpecError, engine.NumericalError) as exc:
        problem = Difference(name, "-", "inputs", None, str(exc), "usable inputs", "", "", math.inf)
        return SheetCheck(name, (), (problem,)), None, None
    notes = [f"{name}: {note}; compared with what the sheet's inputs give" for note in notes]
    rows = spec.iterations + 1
    cells = [sheet_layout.row(t) for t in range(rows)]
    magnitudes = _magnitudes(spec, sheet_layout, trace, recalculated[name])
    columns, first = _compare_columns(
        name,
        [
            (q.label, sheet_layout.column_of[q.key], cells, values(trace, q.key), magnitudes[q.key])
            for q in sheet_layout.quantities
            if q.key != ("iteration",)
        ],
        formulas,
        cached,
        recalculated,
        tolerance,
    )
    final_magnitude = magnitudes[("E_total",)]
    final_magnitude = None if final_magnitude is None else float(final_magnitude[-1])
    return SheetCheck(name, columns, first, tuple(notes)), trace, final_magnitude


def _magnitudes(spec, sheet_layout: SheetLayout, trace: engine.Trace, grid: Grid) -> dict:
    """Per quantity, how large the terms of each of its cells are (formulas.term_magnitude).

    Within a row the magnitudes propagate: a cell's terms are the magnitudes of the cells it
    refers to (E_total = E1 + E2 inherits the rounding of each E's t - a), never less than their
    values; the previous row's cells (the weights an update starts from) count by their values,
    and the sheet's inputs by theirs. Columns run in dependency order, so one pass suffices.
    """
    from xlsxwriter.utility import xl_cell_to_rowcol

    by_column = {
        xl_col_to_name(sheet_layout.column_of[q.key]): np.abs(np.asarray(values(trace, q.key), dtype=float))
        for q in sheet_layout.quantities
    }
    propagated = dict(by_column)

    def constant(letters: str, row: int) -> float:
        value = as_number(cell(grid, *xl_cell_to_rowcol(f"{letters}{row}")))
        return 0.0 if math.isnan(value) else value

    emitter = FormulaEmitter(spec, sheet_layout)
    magnitudes = {}
    for quantity in sheet_layout.quantities:
        first = emitter.template(quantity.key, first_row=True)
        later = emitter.template(quantity.key, first_row=False)
        if first is None or later is None:
            magnitudes[quantity.key] = None
            continue
        head = term_magnitude(first, lambda c, which: propagated[c][:1], constant)
        tail = term_magnitude(
            later, lambda c, which: propagated[c][1:] if which == "this" else by_column[c][:-1], constant
        )
        letters = xl_col_to_name(sheet_layout.column_of[quantity.key])
        magnitude = np.concatenate([np.broadcast_to(head, (1,)), np.broadcast_to(tail, (trace.rows - 1,))])
        magnitude = np.fmax(np.where(np.isfinite(magnitude), magnitude, 0.0), by_column[letters])
        magnitudes[quantity.key] = propagated[letters] = magnitude
    return magnitudes


def _compare_columns(name, columns, formulas, cached, recalculated, tolerance):
    """Each (title, col, rows, expected[, magnitude]) column's check, and the first differing
    cell; a column with magnitudes is judged by scaled_errors, one without by relative_errors.

    The first differing cell in (row, column) order is where the difference starts: columns
    run in dependency order and every row depends only on the rows above.
    """
    checks, differences = [], []
    for title, col, rows, expected, *magnitude in columns:
        column = _Column(name, title, col, rows, formulas[name])
        check, first = column.compare(
            recalculated[name],
            expected,
            cached and cached[name],
            tolerance,
            magnitude[0] if magnitude else None,
        )
        checks.append(check)
        if first is not None:
            differences.append(first)
    differences.sort(key=lambda d: _row_col(d.cell))
    return tuple(checks), tuple(differences[:1])


def _verify_overview(spec, traces, final_magnitudes, formulas, cached, recalculated, tolerance) -> SheetCheck:
    """The overview's table: per learning rate its η, final E_total and updates to threshold,
    where the layout puts them. The final E_total is its sheet's last E_total cell, so it is
    judged as that cell is, against the size of the terms it is made of (near a loss of 1e-16,
    ½(t − a)² keeps the rounding of a and t, not of its own tiny value)."""
    name = L.OVERVIEW_SHEET
    if name not in formulas or name not in recalculated:
        return SheetCheck(name, ())
    threshold = as_number(cell(recalculated[name], L.OVERVIEW_THRESHOLD_ROW, L.OVERVIEW_THRESHOLD_COL))
    rates = [lr for lr in spec.learning_rates if lr in traces]
    rows = [L.overview_row(spec.learning_rates.index(lr)) for lr in rates]
    etas = [traces[lr].learning_rate for lr in rates]  # the η its sheet's input cell holds
    finals = [float(traces[lr].loss[-1]) for lr in rates]
    magnitudes = [final_magnitudes.get(lr) for lr in rates]
    final_magnitude = None if None in magnitudes else np.asarray(magnitudes, dtype=np.float64)
    reached = []
    for lr in rates:
        updates = engine.updates_until_below(traces[lr].loss, threshold)
        reached.append(L.NEVER if updates is None else updates)
    header = (
        recalculated[name][L.OVERVIEW_TABLE_HEADER_ROW]
        if len(recalculated[name]) > L.OVERVIEW_TABLE_HEADER_ROW
        else ()
    )

    def title(col: int) -> str:
        return str(header[col]) if col < len(header) and header[col] else f"column {col + 1}"

    columns, first = _compare_columns(
        name,
        [
            (title(col), col, rows, expected, *([] if magnitude is None else [magnitude]))
            for col, expected, magnitude in (
                (L.OVERVIEW_RATE_COL, etas, None),
                (L.OVERVIEW_FINAL_LOSS_COL, finals, final_magnitude),
                (L.OVERVIEW_UPDATES_COL, reached, None),
            )
        ],
        formulas,
        cached,
        recalculated,
        tolerance,
    )
    return SheetCheck(name, columns, first)


@dataclass(frozen=True)
class _Column:
    """One column's cells on one sheet, and how to compare them."""

    sheet: str
    label: str
    col: int
    rows: list[int]
    formulas: Grid

    def _ref(self, row: int) -> str:
        from xlsxwriter.utility import xl_rowcol_to_cell

        return xl_rowcol_to_cell(row, self.col)

    def _difference(self, index, got, expected, got_source, expected_source, error):
        row = self.rows[index]
        formula = cell(self.formulas, row, self.col)
        return Difference(
            self.sheet,
            self._ref(row),
            self.label,
            formula if isinstance(formula, str) else None,
            got,
            expected,
            got_source,
            expected_source,
            float(error),
        )

    def compare(self, recalculated: Grid, expected, cached: Grid | None, tolerance: float, magnitude=None):
        raw = [cell(recalculated, r, self.col) for r in self.rows]
        expected = list(expected)
        numeric = all(isinstance(v, (int, float)) for v in expected)

        def judge(got, wanted):
            if magnitude is not None:
                return scaled_errors(got, wanted, magnitude)
            return relative_errors(got, wanted)

        errors = (
            judge([as_number(v) for v in raw], expected)
            if numeric
            else np.array([0.0 if g == e else math.inf for g, e in zip(raw, expected)])
        )
        first, first_index = None, len(raw)
        bad = np.flatnonzero(errors > tolerance)
        if bad.size:
            first_index = i = int(bad[0])
            first = self._difference(
                i, raw[i], expected[i], "LibreOffice gives", "the reference engine", errors[i]
            )
        cached_error = None
        if cached is not None:
            stored = [cell(cached, r, self.col) for r in self.rows]
            if numeric:
                cache_errors = judge([as_number(v) for v in stored], [as_number(v) for v in raw])
            else:
                cache_errors = np.array([0.0 if s == g else math.inf for s, g in zip(stored, raw)])
            cached_error = float(cache_errors.max()) if cache_errors.size else 0.0
            bad = np.flatnonzero(cache_errors > tolerance)
            if bad.size and bad[0] < first_index:
                i = int(bad[0])
                first = self._difference(
                    i, stored[i], raw[i], "the cached value is", "LibreOffice gives", cache_errors[i]
                )
        engine_error = float(errors.max()) if errors.size else 0.0
        return ColumnCheck(self.label, len(self.rows), engine_error, cached_error), first


def _row_col(ref: str) -> tuple[int, int]:
    """(0-based row, column) of an A1 reference, for ordering differences."""
    from xlsxwriter.utility import xl_cell_to_rowcol

    if ref == "-":
        return (-1, -1)
    return xl_cell_to_rowcol(ref)


def format_report(report: VerifyReport) -> str:
    """The report as verify prints it: a table per sheet, then a verdict line."""
    lines = []
    for note in report.notes:
        lines.append(f"note: {note}")
    for sheet in report.sheets:
        for note in sheet.notes:
            lines.append(f"note: {note}")
    for sheet in report.sheets:
        width = max([len(c.label) for c in sheet.columns] + [6])
        lines.append("")
        lines.append(f"{sheet.sheet}: {sheet.cells:,} cells")
        if sheet.columns:
            lines.append(
                f"  {'column':<{width}}  {'cells':>5}  {'vs engine':>9}  {'cached vs recalculated':>22}"
            )
        for column in sheet.columns:
            cached = "-" if column.cached_error is None else format_error(column.cached_error)
            lines.append(
                f"  {column.label:<{width}}  {column.cells:>5}  "
                f"{format_error(column.engine_error):>9}  {cached:>22}"
            )
        for difference in sheet.differences:
            lines.append(f"  first difference: {difference.describe()}")
    lines.append("")
    if report.ok:
        cached = (
            f" and with the cached values (largest {format_error(report.largest('cached'))})"
            if report.cached
            else ""
        )
        lines.append(
            f"OK: {report.cells:,} computed cells agree with the reference engine "
            f"(largest relative error {format_error(report.largest('engine'))}){cached}; "
            f"tolerance {report.tolerance:g}"
        )
    else:
        failing = sum(1 for s in report.sheets if s.differences)
        lines.append(
            f"DIFFERS on {failing} sheet{'s' if failing > 1 else ''}: first at "
            f"{report.first_difference.describe()}"
        )
    return "\n".join(lines).lstrip("\n")
