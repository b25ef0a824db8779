"""Where everything goes: the only module that maps a quantity to a sheet, row and column.

A learning-rate sheet reads, top to bottom: a title, the editable inputs (labels above values),
the E_total chart, then the table with one row per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xlsxwriter.utility import quote_sheetname, xl_col_to_name, xl_rowcol_to_cell

from sheetgen.workbook.quantities import Key, Quantity, columns, input_keys
from sheetgen.workbook.spec import format_rate

THIS, PREV = "this", "prev"  # a row template's placeholders: the cell's row, the row above

# Rows are 0-based, as XlsxWriter counts them.
TITLE_ROW = 0
NOTE_ROW = 1
PRINT_NOTE_ROW = 2  # how the sheet prints, where it prints across pages
TEXT_COL = 1  # the title and notes: not A, which is repeated on every printed page
INPUT_LABEL_ROW = 3
INPUT_VALUE_ROW = 4
INPUT_LABEL_COL = 0  # labels the block: "input" above "value"
INPUT_FIRST_COL = 1
CHART_ROW = 6
CHART_COL = 1  # not A: column A (the iteration) is repeated on every printed page
CHART_ROWS = 18
# A hidden row above the chart: texts that name η, as formulas of its cell, for the chart's
# title and the Overview chart's legend to refer to, so that they follow an edit of η.
CHART_TITLE_ROW = CHART_ROW - 1
CHART_TITLE_COL = 1
LEGEND_NAME_COL = 2
GROUP_ROW = CHART_ROW + CHART_ROWS + 1
HEADER_ROW = GROUP_ROW + 1
FIRST_DATA_ROW = HEADER_ROW + 1
EXCEL_ROWS = 1_048_576
ITERATION_WIDTH = 10  # column A of a learning-rate sheet, in characters
COLUMN_WIDTH = 12  # every other column: room for 0.0123456789

# Overview sheet: the threshold, then a table with one row per learning rate, in spec order.
OVERVIEW_SHEET = "Overview"
OVERVIEW_THRESHOLD_ROW = 3
OVERVIEW_THRESHOLD_LABEL_COL = 0
OVERVIEW_THRESHOLD_COL = 1
OVERVIEW_TABLE_HEADER_ROW = 5
OVERVIEW_RATE_COL = 0  # η, as its sheet's input cell holds it
OVERVIEW_FINAL_LOSS_COL = 1  # E_total at the last iteration
OVERVIEW_UPDATES_COL = 2  # updates until E_total < threshold, or NEVER
OVERVIEW_CHART_ROW = 1
OVERVIEW_CHART_COL = 3  # right of the table
NEVER = "not reached"  # the updates cell of a rate whose E_total never gets below

NETWORK_SHEET = "Network"
NETWORK_MARGIN_WIDTH = 2  # column A, in characters
NETWORK_PICTURE_ROW = 3  # the diagram's top left cell: B4
NETWORK_PICTURE_COL = 1
NETWORK_TEXT_WIDTH = 70  # the column of the equations, in characters (wider for long ones)
DEFAULT_ROW_PX = 20  # a row whose height was never set


@dataclass(frozen=True)
class TextPlace:
    """Where the Network sheet's text goes: its first row and its column, and the sheet's width."""

    row: int
    col: int
    content_px: int
    default_cols: tuple[int, int] | None  # columns under the picture: set to Excel's default


def network_text_place(picture_width_px: int, picture_height_px: int, text_px: int) -> TextPlace:
    """Put the equations beside the diagram, or below it where beside would not print legibly.

    The diagram covers default-width columns from B on (the writer sets their width, since
    LibreOffice's default is wider than Excel's) and default-height rows from row 4 on, as
    many as its size in pixels needs; the text starts clear of them.
    """
    from sheetgen.workbook import printing

    margin_px = printing.column_px(NETWORK_MARGIN_WIDTH)
    picture_cols = -(-picture_width_px // printing.DEFAULT_COLUMN_PX)
    beside = TextPlace(
        row=2,
        col=NETWORK_PICTURE_COL + picture_cols + 1,
        content_px=margin_px + (picture_cols + 1) * printing.DEFAULT_COLUMN_PX + text_px,
        default_cols=(NETWORK_PICTURE_COL, NETWORK_PICTURE_COL + picture_cols),
    )
    if beside.content_px * printing.LEGIBLE_SCALE <= printing.PRINTABLE_WIDTH_PX * 100:
        return beside
    picture_rows = -(-picture_height_px // DEFAULT_ROW_PX)
    beyond_text = -(-max(0, picture_width_px - text_px) // printing.DEFAULT_COLUMN_PX)
    return TextPlace(
        row=NETWORK_PICTURE_ROW + picture_rows + 1,
        col=NETWORK_PICTURE_COL,
        content_px=margin_px + max(picture_width_px, text_px),
        default_cols=(NETWORK_PICTURE_COL + 1, NETWORK_PICTURE_COL + beyond_text) if beyond_text else None,
    )


def sheet_name(learning_rate: float) -> str:
    """The sheet of one learning rate: 'lr 0.8'."""
    return f"lr {format_rate(learning_rate)}"


def overview_row(index: int) -> int:
    """0-based Overview row of the index-th learning rate of the spec."""
    return OVERVIEW_TABLE_HEADER_ROW + 1 + index


def overview_threshold_ref() -> str:
    """Absolute reference of the Overview's threshold cell ($B$4), so every row points at it."""
    return xl_rowcol_to_cell(OVERVIEW_THRESHOLD_ROW, OVERVIEW_THRESHOLD_COL, True, True)


@dataclass(frozen=True)
class SheetLayout:
    """Cell positions on a learning-rate sheet of one spec (every such sheet is alike)."""

    quantities: tuple[Quantity, ...]
    input_col: dict[Key, int] = field(repr=False)
    column_of: dict[Key, int] = field(repr=False)

    @classmethod
    def for_spec(cls, spec) -> SheetLayout:
        quantities = tuple(columns(spec))
        inputs = {key: INPUT_FIRST_COL + i for i, key in enumerate(input_keys(spec))}
        return cls(quantities, inputs, {q.key: i for i, q in enumerate(quantities)})

    @staticmethod
    def row(iteration: int) -> int:
        """0-based sheet row of an iteration."""
        return FIRST_DATA_ROW + iteration

    @property
    def iteration_col(self) -> int:
        """The column of the iteration number, repeated on every printed page."""
        return self.column_of[("iteration",)]

    def column_widths(self) -> list[tuple[int, int, int]]:
        """(first column, last column, width in characters) of a learning-rate sheet's table.

        The span of the other columns runs one column past the table, as sheetgen has always
        set it: moving it would change every workbook's bytes for nothing a reader sees.
        """
        iteration = self.iteration_col
        spans = [(iteration, iteration, ITERATION_WIDTH)]
        if iteration > 0:
            spans.append((0, iteration - 1, COLUMN_WIDTH))
        spans.append((iteration + 1, len(self.quantities), COLUMN_WIDTH))
        return spans

    def input_ref(self, key: Key, sheet: str | None = None) -> str:
        """Absolute reference of an input cell ($B$5), so every row's formula points at it;
        sheet-qualified ('lr 0.8'!$B$5) when `sheet` is given."""
        cell = xl_rowcol_to_cell(INPUT_VALUE_ROW, self.input_col[key], row_abs=True, col_abs=True)
        return f"{quote_sheetname(sheet)}!{cell}" if sheet else cell

    def ref(self, key: Key, iteration: int) -> str:
        """Relative reference of a column's cell at an iteration (C28)."""
        return xl_rowcol_to_cell(self.row(iteration), self.column_of[key])

    def row_template(self, key: Key, which: str) -> str:
        """A reference with the row left as a placeholder, 'C{this}' or 'C{prev}'.

        Formulas repeat down a column with only the row changing; templates let the writer
        format each row's formula without rebuilding it.
        """
        return f"{xl_col_to_name(self.column_of[key])}{{{which}}}"

    def template_rows(self, iteration: int) -> dict[str, int]:
        """What a row template's placeholders stand for at an iteration, as Excel counts rows
        (from 1): {'this': 28, 'prev': 27} at iteration 0."""
        this = self.row(iteration) + 1
        return {THIS: this, PREV: this - 1}

    def column_range(self, key: Key, rows: int, sheet: str | None = None) -> str:
        """Absolute range of a column over its first `rows` rows, optionally sheet-qualified."""
        col = self.column_of[key]
        cells = (
            f"{xl_rowcol_to_cell(self.row(0), col, True, True)}:"
            f"{xl_rowcol_to_cell(self.row(rows - 1), col, True, True)}"
        )
        return f"{quote_sheetname(sheet)}!{cells}" if sheet else cells

    def last_cell(self, key: Key, rows: int, sheet: str) -> str:
        """Sheet-qualified absolute reference of a column's last row."""
        cell = xl_rowcol_to_cell(self.row(rows - 1), self.column_of[key], True, True)
        return f"{quote_sheetname(sheet)}!{cell}"

    @staticmethod
    def chart_title_cell(sheet: str) -> list:
        """[sheet, row, col] of the cell the loss chart's title refers to."""
        return [sheet, CHART_TITLE_ROW, CHART_TITLE_COL]

    @staticmethod
    def legend_name_cell(sheet: str) -> list:
        """[sheet, row, col] of the cell an Overview series' name refers to ("η = 0.8")."""
        return [sheet, CHART_TITLE_ROW, LEGEND_NAME_COL]

    def chart_series(self, key: Key, rows: int, sheet: str) -> list:
        """[sheet, first_row, col, last_row, col]: XlsxWriter's list form of a column's data."""
        col = self.column_of[key]
        return [sheet, self.row(0), col, self.row(rows - 1), col]
