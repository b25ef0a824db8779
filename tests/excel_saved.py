"""Hand-made workbooks (tests/handmade.py) as Excel saves them: every formula with its cached
value, written by XlsxWriter, with what real submissions carry besides the table (a native chart,
a picture, a comment, a defined name and a print area, a data validation, a conditional format,
merged cells, a second sheet that is the one selected).

check reads such a file without LibreOffice, and it is valid Open XML to the last part (the Open
XML SDK's rules find no error in it), so a copy made from it must be too.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import openpyxl
import xlsxwriter
from openpyxl.utils import get_column_letter
from PIL import Image

from tests.handmade import write_workbook

_REF = re.compile(r"\$?([A-Z]{1,3})\$?([0-9]+)")


def _evaluate(sheet: dict[str, object], ref: str, done: dict[str, float]) -> float:
    """A cell's value: the hand-made formulas are arithmetic on cells of their own sheet, EXP
    and ^ (never after a unary minus, where Excel and Python would disagree)."""
    if ref in done:
        return done[ref]
    value = sheet.get(ref)
    if isinstance(value, str) and value.startswith("="):
        expression = value[1:].replace("^", "**").replace("EXP(", "exp(")
        expression = _REF.sub(lambda m: f"cell({m[1] + m[2]!r})", expression)
        value = eval(  # the tests' own formulas
            expression, {"exp": math.exp, "cell": lambda r: _evaluate(sheet, r, done)}
        )
    done[ref] = value
    return value


def write_excel_saved(path: Path, layout_name: str, sheets: dict, picture: Path) -> Path:
    """The hand-made workbook with cached values and the extras listed above; the table's
    sheet is the first, a sheet 'notes' the selected one."""
    draft = path.with_suffix(".draft.xlsx")
    write_workbook(draft, layout_name, sheets)
    source = openpyxl.load_workbook(draft)
    book = xlsxwriter.Workbook(str(path))
    bold = book.add_format({"bold": True, "num_format": "0.000", "border": 1})
    for ws in source.worksheets:
        cells = {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
        done: dict[str, float] = {}
        sheet = book.add_worksheet(ws.title)
        for ref, value in cells.items():
            if isinstance(value, str) and value.startswith("="):
                sheet.write_formula(ref, value, None, _evaluate(cells, ref, done))
            elif isinstance(value, str):
                sheet.write_string(ref, value)
            else:
                sheet.write_number(ref, value)
        sheet.set_column(0, 0, 12, bold)  # a column format the marked cells must keep
    first = book.worksheets()[0]
    plan = next(iter(sheets.values()))[0]
    rows = plan.header_row + plan.rows
    losses = plan.letter("Et")
    chart = book.add_chart({"type": "line"})
    chart.add_series(
        {"name": "E_total", "values": f"='{first.name}'!${losses}${plan.header_row + 1}:${losses}${rows}"}
    )
    first.insert_chart("B60" if rows < 60 else f"B{rows + 3}", chart)
    first.insert_image("L60" if rows < 60 else f"L{rows + 3}", str(picture))
    first.write_comment("A1", "the student's own note")
    first.data_validation("A1:A2", {"validate": "any", "input_title": "note"})
    first.conditional_format(
        f"{losses}{plan.header_row + 1}:{losses}{rows}",
        {"type": "cell", "criteria": ">", "value": 1, "format": book.add_format({"font_color": "red"})},
    )
    first.merge_range("AJ1:AL1", "merged title")
    first.print_area(f"A1:{get_column_letter(40)}{rows}")
    book.define_name("Losses", f"='{first.name}'!${losses}${plan.header_row + 1}:${losses}${rows}")
    notes = book.add_worksheet("notes")
    notes.write_string("A1", "what I did")
    notes.activate()
    book.close()
    draft.unlink()
    return path


def picture(path: Path) -> Path:
    """A small PNG to insert (a picture part the copy must keep byte for byte)."""
    Image.new("RGB", (40, 30), (30, 120, 200)).save(path)
    return path
