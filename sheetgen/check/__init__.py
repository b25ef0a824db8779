"""sheetgen check: find the training tables of a hand-made backprop workbook and say, column by
column, whether they are right, and where and how the first mistake happens.

    sheetgen check my_backprop.xlsx
    sheetgen check my_backprop.xlsx --json

labels.py reads what people call things, tables.py finds the tables, autograd.py recomputes
every row with torch, diagnose.py compares and explains. Only diagnosing needs torch.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sheetgen.check.labels import HINT
from sheetgen.compare import format_error
from sheetgen.check.tables import Skipped, find_tables
from sheetgen.reading import load_grids, uncached_formulas
from sheetgen.recalc import RecalcError, recalculate

__all__ = ["CheckError", "CheckReport", "NoTableError", "check_workbook", "format_report"]

TORCH_HINT = ("sheetgen check recomputes the sheet with torch, which is not installed: "
              "pip install 'sheetgen[test]' (or 'sheetgen[mnist]')")


class CheckError(RuntimeError):
    """The workbook cannot be checked at all (torch or LibreOffice missing); says why."""


class NoTableError(ValueError):
    """No training table was recognised; the message says which labels check looks for."""


@dataclass
class CheckReport:
    """Every table's findings, and whether the file had to be recalculated first."""

    path: Path
    tables: list            # of diagnose.TableFinding
    recalculated: bool
    skipped: list[Skipped]

    @property
    def ok(self) -> bool:
        return all(table.ok for table in self.tables)

    def to_dict(self) -> dict:
        """The findings as plain data (what --json prints)."""
        return {
            "file": str(self.path),
            "recalculated": self.recalculated,
            "ok": self.ok,
            "tables": [_table_dict(t) for t in self.tables],
            "skipped": [{"sheet": s.sheet, "header_row": s.header_row + 1, "reason": s.reason}
                        for s in self.skipped],
        }


def check_workbook(path: str | Path) -> CheckReport:
    """Check every training table of a hand-made workbook.

    Values are the file's cached ones; a file with formulas but no cached values (as openpyxl
    writes them) is recalculated in LibreOffice first.

    Raises:
        reading.WorkbookError: the file is missing or unreadable.
        NoTableError: no table recognised.
        CheckError: torch is missing, or recalculation is needed and LibreOffice is missing.
    """
    path = Path(path)
    formulas = load_grids(path, formulas=True)
    values = load_grids(path, formulas=False)
    recalculated = False
    if uncached_formulas(formulas, values):
        try:
            with tempfile.TemporaryDirectory(prefix="sheetgen-check-") as temp:
                values = load_grids(recalculate(path, temp), formulas=False)
        except RecalcError as exc:
            raise CheckError(f"{path} has formulas without cached values, so it must be "
                             f"recalculated first: {exc}") from None
        recalculated = True
    tables, skipped = find_tables(values, formulas)
    usable = []
    for table in tables:
        if table.missing:
            skipped.append(Skipped(table.sheet, table.header_row,
                                   f"no value labelled {', '.join(table.missing)} was found"))
        else:
            usable.append(table)
    if not usable:
        reasons = "; ".join(f"{s.sheet}!row {s.header_row + 1}: {s.reason}" for s in skipped)
        raise NoTableError(f"no training table recognised in {path}"
                           + (f" ({reasons})" if reasons else "") + f". {HINT}")
    try:
        from sheetgen.check.diagnose import diagnose
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise CheckError(TORCH_HINT) from None
        raise
    findings = [diagnose(t, values[t.sheet], formulas[t.sheet]) for t in usable]
    return CheckReport(path, findings, recalculated, skipped)


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
        "cause": None if cause is None else {
            "column": cause.label, "cell": cause.first_cell, "formula": cause.formula,
            "mistake": cause.mistake},
        "columns": [{
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
        } for c in table.columns],
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
    if report.recalculated:
        lines.append(f"(recalculated {report.path.name} in LibreOffice first: its formulas "
                     "had no cached values)")
    for table in report.tables:
        constants = "; ".join(f"{k} = {v}" for k, v in table.constants.items())
        lines.append(f"{table.sheet}: table with its header on row {table.header_row}, rows "
                     f"{table.first_row}–{table.last_row}, {table.shape} network"
                     + (f"; {constants}" if constants else ""))
        width = max(len(c.label) for c in table.columns)
        lines.append(f"  {'column':<{width}}  {'cells':>5}  {'largest error':>13}  verdict")
        for c in table.columns:
            verdict = {"right": "right", "not checked": f"not checked: {c.reason}"}.get(c.status)
            if c.status == "wrong":
                verdict = f"WRONG from {c.first_cell} ({c.wrong_cells} cells)"
            elif c.status == "follows":
                verdict = (f"follows from {c.follows_from}" if c.follows_from
                           else "follows from an earlier wrong value")
            lines.append(f"  {c.label:<{width}}  {c.cells:>5}  {format_error(c.largest_error):>13}  "
                         f"{verdict}")
        for c in table.mistakes:
            formula = c.formula or "(a typed value)"
            lines.append(f"  {c.label} is wrong from {table.sheet}!{c.first_cell}: {formula} "
                         f"gives {_value(c.value)}, should be {_value(c.expected)}")
            lines.append(f"    {c.mistake if c.mistake else 'not a mistake check knows'}")
        lines.append("")
    wrong = [t for t in report.tables if not t.ok]
    if not wrong:
        lines.append(f"OK: {len(report.tables)} table{'s' if len(report.tables) > 1 else ''} "
                     "checked, every column right")
    else:
        first = wrong[0].cause
        count = sum(len(t.mistakes) for t in report.tables)
        lines.append(f"WRONG: {count} mistake{'s' if count > 1 else ''} in {len(wrong)} of "
                     f"{len(report.tables)} table{'s' if len(report.tables) > 1 else ''}; "
                     f"the first at {wrong[0].sheet}!{first.first_cell} ({first.label})"
                     + (f": {first.mistake}" if first.mistake else ""))
    return "\n".join(lines)
