"""A class's check results as one workbook for the teacher, who is already in a spreadsheet.

    sheetgen check submissions/ --annotate checked/ --report class.xlsx

Sheets: `submissions`, one row per file (its verdict, how many mistakes, a link to its
annotated copy, each mistake's name and first cell); `mistakes`, each named mistake counted
across the class, with a bar chart; `each mistake`, one row per mistake, for filtering. Text
taken from the submissions (file and sheet names, labels, the mistakes' wording, which quotes
labels) is written as text, never as a formula or a link.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter

from sheetgen.analyse.check import format_report
from sheetgen.files import atomic_path, check_workbook_suffix

UNNAMED = "(a mistake check does not name)"
_LINK_LIMIT = 255  # characters of a link Excel follows


@dataclass(frozen=True)
class _Mistake:
    file: str
    sheet: str
    cell: str
    column: str
    name: str


def _mistakes(outcome) -> list[_Mistake]:
    if outcome.report is None:
        return []
    return [
        _Mistake(
            str(outcome.path), table.sheet, column.first_cell or "", column.label, column.mistake or UNNAMED
        )
        for table in outcome.report.tables
        for column in table.mistakes
    ]


def verdict(outcome) -> str:
    """One word for a submission: right, wrong, not checked (a column check could not judge,
    and no mistake), or error (the file could not be checked at all)."""
    if outcome.report is None:
        return "error"
    if any(table.mistakes for table in outcome.report.tables):
        return "wrong"
    return "right" if outcome.report.ok else "not checked"


def _detail(outcome) -> str:
    if outcome.report is None:
        return (outcome.error or "").splitlines()[0] if outcome.error else ""
    return format_report(outcome.report).splitlines()[-1]


def write_class_report(outcomes, out: str | Path, annotated: dict[Path, Path] | None = None) -> Path:
    """Write the class workbook.

    Args:
        outcomes: check_many's Outcomes, one per submission.
        out: the workbook to write (.xlsx); written atomically, and only a regular file is
            ever replaced.
        annotated: each submission's annotated copy, linked from its row (relative to `out`).

    Returns:
        The path written.

    Raises:
        sheetgen.files.OutputError: `out` is not named .xlsx, or cannot be written.
    """
    out = Path(out)
    check_workbook_suffix(out)
    annotated = annotated or {}
    everything = [m for outcome in outcomes for m in _mistakes(outcome)]
    with atomic_path(out) as temporary:
        book = xlsxwriter.Workbook(
            str(temporary),
            {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
        )
        bold = book.add_format({"bold": True})
        _submissions(book.add_worksheet("submissions"), outcomes, annotated, out, bold)
        _counts(book, book.add_worksheet("mistakes"), everything, bold)
        _each(book.add_worksheet("each mistake"), everything, bold)
        book.close()
    return out


def _submissions(sheet, outcomes, annotated: dict[Path, Path], out: Path, bold) -> None:
    most = max((len(_mistakes(o)) for o in outcomes), default=0)
    header = ["File", "Verdict", "Mistakes", "Annotated copy", "Detail"]
    for number in range(1, most + 1):
        header += [f"Mistake {number}", f"Cell {number}"]
    for col, title in enumerate(header):
        sheet.write_string(0, col, title, bold)
    for row, outcome in enumerate(outcomes, start=1):
        mistakes = _mistakes(outcome)
        sheet.write_string(row, 0, str(outcome.path))
        sheet.write_string(row, 1, verdict(outcome))
        if outcome.report is not None:
            sheet.write_number(row, 2, len(mistakes))
        copy = annotated.get(outcome.path)
        if copy is not None:
            _link(sheet, row, 3, copy, out)
        sheet.write_string(row, 4, _detail(outcome))
        for index, mistake in enumerate(mistakes):
            sheet.write_string(row, 5 + 2 * index, mistake.name)
            sheet.write_string(row, 6 + 2 * index, f"{mistake.sheet}!{mistake.cell}")
    sheet.set_column(0, 0, 40)
    sheet.set_column(1, 2, 11)
    sheet.set_column(3, 3, 30)
    sheet.set_column(4, 4, 60)
    sheet.set_column(5, 4 + 2 * most, 30)
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, max(len(outcomes), 1), len(header) - 1)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # printed one page wide


def _link(sheet, row: int, col: int, copy: Path, out: Path) -> None:
    """A link to an annotated copy, relative to the class workbook; the path as text where a
    link cannot hold it (a '#' would be read as a place in the file)."""
    target = os.path.relpath(copy, out.parent if str(out.parent) else ".")
    if "#" in target or len(target) > _LINK_LIMIT:
        sheet.write_string(row, col, target)
    elif sheet.write_url(row, col, "external:" + target, string=copy.name):  # refused: -1, -2
        sheet.write_string(row, col, target)


def _counts(book, sheet, mistakes: list[_Mistake], bold) -> None:
    """Each mistake's name, in how many submissions and how many times it was made, most
    common first, with a bar chart of the submissions."""
    files = Counter()
    times = Counter(m.name for m in mistakes)
    for name, _file in {(m.name, m.file) for m in mistakes}:
        files[name] += 1
    names = sorted(times, key=lambda n: (-files[n], -times[n], n))
    for col, title in enumerate(["Mistake", "Submissions", "Times made"]):
        sheet.write_string(0, col, title, bold)
    for row, name in enumerate(names, start=1):
        sheet.write_string(row, 0, name)
        sheet.write_number(row, 1, files[name])
        sheet.write_number(row, 2, times[name])
    sheet.set_column(0, 0, 70)
    sheet.set_column(1, 2, 12)
    if not names:
        sheet.write_string(1, 0, "no mistake found in any submission")
        return
    chart = book.add_chart({"type": "bar"})
    chart.add_series(
        {
            "name": "Submissions",
            "categories": ["mistakes", 1, 0, len(names), 0],
            "values": ["mistakes", 1, 1, len(names), 1],
            "data_labels": {"value": True},
        }
    )
    chart.set_title({"name": "Submissions that make each mistake"})
    chart.set_legend({"none": True})
    chart.set_y_axis({"reverse": True})  # the most common at the top, as in the table
    # a bar chart's x axis is its value axis: whole submissions
    chart.set_x_axis({"min": 0, **({"major_unit": 1} if max(files.values()) < 10 else {})})
    chart.set_size({"width": 900, "height": max(300, 40 + 28 * len(names))})
    sheet.insert_chart(0, 4, chart)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 1)


def _each(sheet, mistakes: list[_Mistake], bold) -> None:
    for col, title in enumerate(["File", "Sheet", "Cell", "Column", "Mistake"]):
        sheet.write_string(0, col, title, bold)
    for row, mistake in enumerate(mistakes, start=1):
        values = (mistake.file, mistake.sheet, mistake.cell, mistake.column, mistake.name)
        for col, value in enumerate(values):
            sheet.write_string(row, col, value)
    sheet.set_column(0, 0, 40)
    sheet.set_column(1, 3, 14)
    sheet.set_column(4, 4, 70)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(mistakes), 1), 4)
