"""sheetgen check: find the training tables of a hand-made backprop workbook and say, column by
column, whether they are right, and where and how the first mistake happens.

    sheetgen check my_backprop.xlsx
    sheetgen check my_backprop.xlsx --json

read.py reads the workbook, labels.py reads what people call things, tables.py finds the
tables, recompute.py recomputes every row with the build's engine, diagnose.py compares and
explains.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sheetgen.analyse.check.diagnose import diagnose
from sheetgen.analyse.check.labels import HINT
from sheetgen.analyse.check.read import Book, CheckError, Pending, after_libreoffice, open_book
from sheetgen.analyse.check.tables import Skipped, find_tables
from sheetgen.analyse.compare import format_error
from sheetgen.analyse.reading import WorkbookError
from sheetgen.analyse.recalc import RecalcError, find_soffice, recalculate, recalculate_many

__all__ = [
    "CheckError",
    "CheckReport",
    "NoTableError",
    "Outcome",
    "check_many",
    "check_workbook",
    "format_line",
    "format_report",
    "format_summary",
    "workbook_paths",
]


class NoTableError(ValueError):
    """No training table was recognised; the message says which labels check looks for."""


@dataclass
class CheckReport:
    """Every table's findings, and what was done to the file before it could be read."""

    path: Path
    tables: list  # of diagnose.TableFinding
    recalculated: bool
    skipped: list[Skipped]
    converted: str | None = None  # why the file could not be read before LibreOffice converted it

    @property
    def ok(self) -> bool:
        """Every table right, and every column of each could be checked."""
        return all(table.ok for table in self.tables)

    def to_dict(self) -> dict:
        """The findings as plain data (what --json prints)."""
        return {
            "file": str(self.path),
            "recalculated": self.recalculated,
            "converted": self.converted,
            "ok": self.ok,
            "tables": [_table_dict(t) for t in self.tables],
            "skipped": [
                {"sheet": s.sheet, "header_row": s.header_row + 1, "reason": s.reason} for s in self.skipped
            ],
        }


def check_workbook(path: str | Path) -> CheckReport:
    """Check every training table of a hand-made workbook.

    Values are the file's cached ones; a file with formulas but no cached values (as openpyxl
    writes them), or one openpyxl cannot read at all (another office suite's), goes through
    LibreOffice first.

    Raises:
        reading.WorkbookError: the file is missing or unreadable.
        NoTableError: no table recognised.
        CheckError: LibreOffice is needed and missing.
    """
    path = Path(path)
    book = open_book(path)
    if isinstance(book, Pending):
        with tempfile.TemporaryDirectory(prefix="sheetgen-check-") as temp:
            try:
                copy, problem = recalculate(path, temp), None
            except RecalcError as exc:
                copy, problem = None, exc
            book = after_libreoffice(book, copy, problem)
    return _check_book(book)


def _check_book(book: Book) -> CheckReport:
    path = book.path
    tables, skipped = find_tables(book.values, book.formulas)
    usable = []
    for table in tables:
        if table.missing:
            skipped.append(
                Skipped(
                    table.sheet, table.header_row, f"no value labelled {', '.join(table.missing)} was found"
                )
            )
        else:
            usable.append(table)
    if not usable:
        reasons = "; ".join(f"{s.sheet}!row {s.header_row + 1}: {s.reason}" for s in skipped)
        raise NoTableError(
            f"no training table recognised in {path}" + (f" ({reasons})" if reasons else "") + f". {HINT}"
        )
    findings = [diagnose(t, book.sheets[t.sheet].values, book.sheets[t.sheet].formulas) for t in usable]
    return CheckReport(path, findings, book.recalculated, skipped, book.converted)


# What a folder given to check is searched for.
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")


def workbook_paths(paths) -> list[Path]:
    """The files to check: each file as given, and every workbook inside each folder (sorted,
    sub-folders included, without hidden files and Office's "~$" lock files)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file()
                    and p.suffix.lower() in WORKBOOK_SUFFIXES
                    and not p.name.startswith((".", "~$"))
                )
            )
        else:
            out.append(path)
    return out


@dataclass
class Outcome:
    """One file of a batch: its report, or why it could not be checked (exit 2 alone)."""

    path: Path
    report: CheckReport | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        if self.report is None:
            return "error"
        return "right" if self.report.ok else "wrong"

    def to_dict(self) -> dict:
        if self.report is not None:
            return self.report.to_dict()
        return {"file": str(self.path), "ok": False, "error": self.error}


# Files per LibreOffice start in check_many: starting it is most of the cost, and a batch
# that fails is tried again file by file, so this bounds what one bad file costs.
LIBREOFFICE_BATCH = 40


def _recalculate_apart(copies: list[Path], out: Path) -> list[tuple[Path | None, RecalcError | None]]:
    """Each copy recalculated, in batches of LIBREOFFICE_BATCH per LibreOffice start; a batch
    that fails (one file LibreOffice cannot open spoils its whole run) is tried again one file
    at a time, so that only the files that really fail are reported as failed."""
    results: list[tuple[Path | None, RecalcError | None]] = []
    for start in range(0, len(copies), LIBREOFFICE_BATCH):
        batch = copies[start : start + LIBREOFFICE_BATCH]
        try:
            results += [(result, None) for result in recalculate_many(batch, out)]
            continue
        except RecalcError as exc:
            if len(batch) == 1 or find_soffice() is None:
                results += [(None, exc)] * len(batch)
                continue
        for copy in batch:
            try:
                results.append((recalculate(copy, out), None))
            except RecalcError as exc:
                results.append((None, exc))
    return results


def check_many(paths: list[Path], progress=None) -> list[Outcome]:
    """check_workbook for many files (a class's submissions): LibreOffice is started once for
    every LIBREOFFICE_BATCH files that need it, and a file that cannot be checked is reported,
    not raised (nor does it stop the others being checked).

    Args:
        paths: the workbooks.
        progress: called with each path as it is finished (for a progress bar).
    """
    outcomes = [Outcome(path) for path in paths]
    loaded: dict[int, Book | Pending] = {}
    for i, path in enumerate(paths):
        try:
            loaded[i] = open_book(path)
        except (WorkbookError, CheckError) as exc:
            outcomes[i].error = str(exc)
    pending = [i for i, item in loaded.items() if isinstance(item, Pending)]
    if pending:
        with tempfile.TemporaryDirectory(prefix="sheetgen-check-") as temp:
            # one LibreOffice start per batch of the files that need it; copies named apart
            copies = []
            for i in pending:
                source = paths[i]
                copy = Path(temp) / "in" / f"{i:05d}-{source.stem}{source.suffix}"
                copy.parent.mkdir(exist_ok=True)
                shutil.copyfile(source, copy)
                copies.append(copy)
            recalculated = _recalculate_apart(copies, Path(temp) / "out")
            for i, (result, problem) in zip(pending, recalculated):
                try:
                    loaded[i] = after_libreoffice(loaded[i], result, problem)
                except (WorkbookError, CheckError) as exc:
                    del loaded[i]
                    outcomes[i].error = str(exc)
    for i, outcome in enumerate(outcomes):
        if i in loaded:
            try:
                outcome.report = _check_book(loaded[i])
            except NoTableError as exc:
                outcome.error = str(exc)
        if progress is not None:
            progress(outcome.path)
    return outcomes


def _number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table_dict(table) -> dict:
    cause = table.cause
    return {
        "sheet": table.sheet,
        "header_row": table.header_row,
        "rows": [table.first_row, table.last_row],
        "network": table.shape,
        "constants": table.constants,
        "ok": table.ok,
        "typed": table.typed,
        "notes": table.notes,
        "precision": table.precision,
        "significant_digits": table.digits,
        "cause": None
        if cause is None
        else {
            "column": cause.label,
            "cell": cause.first_cell,
            "formula": cause.formula,
            "mistake": cause.mistake,
        },
        "columns": [
            {
                "label": c.label,
                "quantity": list(c.key),
                "column": c.column,
                "status": c.status,
                "cells": c.cells,
                "largest_relative_error": _number(c.largest_error),
                "wrong_cells": c.wrong_cells,
                "first_cell": c.first_cell,
                "formula": c.formula,
                "value": _number(c.value) if not isinstance(c.value, str) else c.value,
                "expected": _number(c.expected),
                "mistake": c.mistake,
                "follows_from": c.follows_from,
                "reason": c.reason,
                "unchecked_cells": c.unchecked,
            }
            for c in table.columns
        ],
    }


def to_json(report: CheckReport) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return "empty" if value is None else str(value)


def format_report(report: CheckReport) -> str:
    """The findings as check prints them: a table per training table, then a verdict."""
    lines = []
    if report.converted:
        lines.append(f"(converted {report.path.name} with LibreOffice first: {report.converted})")
    elif report.recalculated:
        lines.append(
            f"(recalculated {report.path.name} in LibreOffice first: its formulas had no cached values)"
        )
    for table in report.tables:
        constants = "; ".join(f"{k} = {v}" for k, v in table.constants.items())
        lines.append(
            f"{table.sheet}: table with its header on row {table.header_row}, rows "
            f"{table.first_row}–{table.last_row}, {table.shape} network"
            + (f"; {constants}" if constants else "")
        )
        for note in table.notes:
            lines.append(f"  note: {note}")
        if table.typed:
            lines.append(
                f"  typed numbers, no formulas: rounded to about "
                f"{table.digits} significant digits, so each cell is "
                "judged at the rounding of what it is made of"
            )
        width = max(len(c.label) for c in table.columns)
        lines.append(f"  {'column':<{width}}  {'cells':>5}  {'largest error':>13}  verdict")
        for c in table.columns:
            verdict = {"right": "right", "not checked": f"NOT CHECKED: {c.reason}"}.get(c.status)
            if c.status == "wrong":
                verdict = f"WRONG from {c.first_cell} ({c.wrong_cells} cells)"
            elif c.status == "follows":
                verdict = (
                    f"follows from {c.follows_from}"
                    if c.follows_from
                    else "follows from an earlier wrong value"
                )
            lines.append(
                f"  {c.label:<{width}}  {c.cells:>5}  {format_error(c.largest_error):>13}  {verdict}"
            )
        for c in table.mistakes:
            formula = c.formula or "(a typed value)"
            lines.append(
                f"  {c.label} is wrong from {table.sheet}!{c.first_cell}: {formula} "
                f"gives {_value(c.value)}, should be {_value(c.expected)}"
            )
            lines.append(f"    {c.mistake if c.mistake else 'not a mistake check knows'}")
        lines.append("")
    lines.append(_verdict(report))
    return "\n".join(lines)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _verdict(report: CheckReport) -> str:
    """The last line: OK, WRONG with the first mistake, or NOT CHECKED with the cells."""
    tables = len(report.tables)
    wrong = [t for t in report.tables if t.mistakes]
    unchecked = [(t, c) for t in report.tables for c in t.unchecked]
    if wrong:
        first = wrong[0].cause
        count = sum(len(t.mistakes) for t in report.tables)
        line = (
            f"WRONG: {_plural(count, 'mistake')} in {len(wrong)} of "
            f"{_plural(tables, 'table')}; the first at {wrong[0].sheet}!{first.first_cell} "
            f"({first.label})" + (f": {first.mistake}" if first.mistake else "")
        )
        if unchecked:
            line += f"; {_plural(len(unchecked), 'column')} could not be checked"
        return line
    if unchecked:
        table, column = unchecked[0]
        return (
            f"NOT CHECKED: {_plural(len(unchecked), 'column')} could not be checked, the "
            f"first {column.label} on {table.sheet}: {column.reason}; the rest is right"
        )
    return f"OK: {_plural(tables, 'table')} checked, every column right"


def format_line(outcome: Outcome) -> str:
    """One file of a batch in one line: its verdict and why."""
    if outcome.report is None:
        return f"ERROR  {outcome.path}: {outcome.error.splitlines()[0][:300]}"
    verdict = _verdict(outcome.report)
    word = "OK" if outcome.report.ok else verdict.split(":", 1)[0]
    detail = verdict.split(":", 1)[1].strip() if ":" in verdict else verdict
    return f"{word:<5}  {outcome.path}: {detail}"


def format_summary(outcomes: list[Outcome]) -> str:
    """The batch's last line: how many files are right, wrong, or could not be checked."""
    counts = {
        status: sum(1 for o in outcomes if o.status == status) for status in ("right", "wrong", "error")
    }
    return (
        f"{_plural(len(outcomes), 'file')}: {counts['right']} right, {counts['wrong']} "
        f"wrong or not fully checked, {counts['error']} could not be checked"
    )
