"""The `check` sheet put first in an annotated copy: the verdict, each mistake (sheet, cell, what
the cell computes, its formula, its value, the value it should have, the mistake's name) with a
link to the cell, the cells that follow from a mistake, and the columns check could not judge.

Everything taken from the student's workbook (sheet names, labels, formulas, text values) is
written as text, inline, never as a formula: a label that starts with "=" stays a label.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from xlsxwriter.utility import xl_rowcol_to_cell

from sheetgen.analyse.feedback.marks import cells_from
from sheetgen.analyse.feedback.xmlparts import MAIN_NS, REL_NS, attribute, text, xstring

SHEET_NAME = "check"
LEGEND = (
    "Red: the cell where a mistake starts (its comment says what it should be). Light red: the "
    "cells that follow from it. Click a cell reference to go there."
)
_MAX_TEXT = 32_767  # characters a cell holds
# column widths, in characters: sheet, cell, column, formula, value, should be, mistake
_WIDTHS = [18, 9, 16, 40, 18, 18, 70]


@dataclass(frozen=True)
class Formats:
    """The check sheet's cell formats (indexes into the styles part's cellXfs)."""

    bold: int
    link: int
    number: int


def location(sheet: str, ref: str) -> str:
    """A reference to a cell of another sheet, the sheet's name quoted as formulas quote it."""
    return "'" + sheet.replace("'", "''") + "'!" + ref


def _rows(report, file_name: str, verdict: str) -> list[list]:
    """The sheet's rows: each cell a value, or (value, "bold"|"number"), or (text, "link", target)."""
    rows: list[list] = [
        [(f"sheetgen check of {file_name}", "bold")],
        [verdict],
        [LEGEND],
        [],
    ]
    mistakes = [(t, c) for t in report.tables for c in t.mistakes]
    rows.append([("Mistakes", "bold")])
    if mistakes:
        rows.append(
            [(h, "bold") for h in ("Sheet", "Cell", "Column", "Formula", "Value", "Should be", "Mistake")]
        )
        for table, column in mistakes:
            rows.append(
                [
                    table.sheet,
                    (column.first_cell, "link", location(table.sheet, column.first_cell)),
                    column.label,
                    column.formula or "(a typed value)",
                    (column.value, "number"),
                    (column.expected, "number"),
                    column.mistake or "not a mistake check knows",
                ]
            )
    else:
        rows.append(["none found"])
    follows = [(t, c) for t in report.tables for c in t.columns if c.status == "follows" and c.first_cell]
    if follows:
        rows += [[], [("Cells that follow from a mistake", "bold")]]
        rows.append([(h, "bold") for h in ("Sheet", "From", "Column", "Follows from", "Cells")])
        for table, column in follows:
            cells = cells_from(column.refs, column.first_cell)
            rows.append(
                [
                    table.sheet,
                    (column.first_cell, "link", location(table.sheet, column.first_cell)),
                    column.label,
                    column.follows_from or "an earlier wrong value",
                    len(cells),
                ]
            )
    unjudged = [
        (t, c) for t in report.tables for c in t.columns if c.status in ("not checked", "not recognised")
    ]
    if unjudged:
        rows += [[], [("Columns check could not judge", "bold")]]
        rows.append([(h, "bold") for h in ("Sheet", "Cell", "Column", "Why")])
        for table, column in unjudged:
            first = column.first_cell or (column.unchecked[0] if column.unchecked else None)
            rows.append(
                [
                    table.sheet,
                    (first, "link", location(table.sheet, first)) if first else None,
                    column.label,
                    f"{column.status}: {column.reason}" if column.reason else column.status,
                ]
            )
    return rows


def sheet_xml(report, file_name: str, verdict: str, formats: Formats) -> bytes:
    """The check sheet as a worksheet part."""
    styles = {"bold": formats.bold, "number": formats.number, "link": formats.link}
    rows_xml, links = [], []
    last_row = last_col = 0
    for r, row in enumerate(_rows(report, file_name, verdict)):
        cells = []
        for c, item in enumerate(row):
            value, style, target = item, None, None
            if isinstance(item, tuple):
                value, style, *rest = item
                target = rest[0] if rest else None
            if value is None:
                continue
            ref = xl_rowcol_to_cell(r, c)
            if target is not None:
                links.append(f'<hyperlink ref="{ref}" location="{attribute(xstring(target))}"/>')
            cells.append(_cell(ref, value, styles.get(style)))
            last_col = max(last_col, c)
        if cells:
            rows_xml.append(f'<row r="{r + 1}">' + "".join(cells) + "</row>")
            last_row = r
    dimension = f"A1:{xl_rowcol_to_cell(last_row, last_col)}"
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{w}" customWidth="1"/>' for i, w in enumerate(_WIDTHS)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
        '<sheetPr><tabColor rgb="FFFF5A5A"/><pageSetUpPr fitToPage="1"/></sheetPr>'
        f'<dimension ref="{dimension}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0"/></sheetViews>'
        '<sheetFormatPr defaultRowHeight="15"/>'
        f"<cols>{cols}</cols>"
        f"<sheetData>{''.join(rows_xml)}</sheetData>"
        + (f"<hyperlinks>{''.join(links)}</hyperlinks>" if links else "")
        + '<pageMargins left="0.5" right="0.5" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        '<pageSetup orientation="landscape" fitToWidth="1" fitToHeight="0"/>'
        "</worksheet>"
    ).encode()


def _cell(ref: str, value, style: int | None) -> str:
    """A number as a number; anything else (text from the workbook included) as inline text."""
    s = "" if style is None else f' s="{style}"'
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        number = int(value) if isinstance(value, numbers.Integral) else float(value)
        return f'<c r="{ref}"{s}><v>{number!r}</v></c>'
    body = text(xstring(str(value)[:_MAX_TEXT]))
    return f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{body}</t></is></c>'
