"""Stage 6 of check: the findings as people and programs read them.

One file: a block per table (where it is, its network and constants, a line per column with its
verdict, each mistake with its cell, formula, value and what it should be, and the mistake's
name), then one verdict line: OK, WRONG or NOT CHECKED. Several files: a line each and a
summary. --json: the same as plain data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from sheetgen.analyse.check.judge import TableFinding
from sheetgen.analyse.check.locate import ONE_STEP, Skipped
from sheetgen.analyse.compare import format_error


@dataclass
class CheckReport:
    """Every table's findings, and what was done to the file before it could be read."""

    path: Path
    tables: list[TableFinding]
    recalculated: bool
    skipped: list[Skipped] = field(default_factory=list)
    converted: str | None = None  # why the file could not be read before LibreOffice converted it

    @property
    def ok(self) -> bool:
        """Every table right, and every line the updates depend on checked."""
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


def _number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _table_dict(table: TableFinding) -> dict:
    cause = table.cause
    return {
        "sheet": table.sheet,
        "layout": table.layout,
        "header_row": table.header_row,
        "rows": [table.first_row, table.last_row],
        "where": table.where,
        "network": table.shape,
        "constants": table.constants,
        "ok": table.ok,
        "typed": table.typed,
        "rounded": table.rounded,
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
                "quantity": None if c.key is None else list(c.key),
                "quantity_label": c.quantity,
                "copy": c.copy,
                "column": c.column,
                "refs": c.refs,
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
                "feeds_updates": c.feeds_updates,
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


def _heading(table: TableFinding) -> str:
    constants = "; ".join(f"{k} = {v}" for k, v in table.constants.items())
    if table.layout == "rows":
        where = (
            f"table with its header on row {table.header_row}, " if table.header_row else "table, "
        ) + f"rows {table.first_row}–{table.last_row}"
    elif table.layout == ONE_STEP:
        where = f"one step in {table.where}"
    else:
        where = f"table with a step per column, {table.where}"
    return f"{table.sheet}: {where}, {table.shape} network" + (f"; {constants}" if constants else "")


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
        lines.append(_heading(table))
        for note in table.notes:
            lines.append(f"  note: {note}")
        if table.typed:
            lines.append(
                f"  typed numbers, no formulas: rounded to about {table.digits} significant digits, "
                "so each cell is judged at the rounding of what it is made of"
            )
        elif table.rounded:
            lines.append(
                f"  numbers stored to about {table.digits} significant digits, so each cell is "
                "judged at the rounding of what it is made of"
            )
        # a column of step numbers is read (--json lists it) but computes nothing to judge
        shown = [c for c in table.columns if c.key != ("iteration",)] or table.columns
        width = max(len(c.display) for c in shown)
        lines.append(f"  {'column':<{width}}  {'cells':>5}  {'largest error':>13}  verdict")
        for c in shown:
            error = format_error(c.largest_error)
            lines.append(f"  {c.display:<{width}}  {c.cells:>5}  {error:>13}  {_column_verdict(c)}")
        for c in table.mistakes:
            formula = c.formula or "(a typed value)"
            lines.append(
                f"  {c.display} is wrong from {table.sheet}!{c.first_cell}: {formula} "
                f"gives {_value(c.value)}, should be {_value(c.expected)}"
            )
            lines.append(f"    {c.mistake if c.mistake else 'not a mistake check knows'}")
        lines.append("")
    lines.append(_verdict(report))
    return "\n".join(lines)


def _column_verdict(c) -> str:
    if c.status == "wrong":
        return f"WRONG from {c.first_cell} ({c.wrong_cells} cells)"
    if c.status == "follows":
        return f"follows from {c.follows_from}" if c.follows_from else "follows from an earlier wrong value"
    if c.status == "not checked":
        return f"NOT CHECKED: {c.reason}"
    if c.status == "not recognised":
        needed = "; the weight updates depend on it" if c.feeds_updates else ""
        return f"NOT RECOGNISED: {_span(c.refs)} {c.reason}{needed}"
    return "right" + (" (a copy)" if c.copy else "")


def _span(refs: list[str]) -> str:
    """A line's cells in a few characters: B2, or B2…B27."""
    return refs[0] if len(refs) == 1 else f"{refs[0]}…{refs[-1]}" if refs else "its cells"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _verdict(report: CheckReport) -> str:
    """The last line: OK, WRONG with the first mistake, or NOT CHECKED with the lines."""
    tables = len(report.tables)
    wrong = [t for t in report.tables if t.mistakes]
    unchecked = [(t, c) for t in report.tables for c in t.unchecked]
    if wrong:
        first = wrong[0].cause
        count = sum(len(t.mistakes) for t in report.tables)
        line = (
            f"WRONG: {_plural(count, 'mistake')} in {len(wrong)} of "
            f"{_plural(tables, 'table')}; the first at {wrong[0].sheet}!{first.first_cell} "
            f"({first.display})" + (f": {first.mistake}" if first.mistake else "")
        )
        if unchecked:
            line += f"; {_plural(len(unchecked), 'column')} could not be checked"
        return line
    unexplained = [(t, c) for t in report.tables for c in t.unexplained]
    if unexplained:
        table, column = unexplained[0]
        return (
            f"WRONG: {_plural(len(unexplained), 'column')} differ from what the network computes, "
            f"the first {column.display} from {table.sheet}!{column.first_cell}, but check found no "
            "cell where the mistake starts"
        )
    if unchecked:
        table, column = unchecked[0]
        reason = (
            column.reason
            if column.status == "not checked"
            else f"{_span(column.refs)} match no quantity of the network, by value or by formula"
        )
        return (
            f"NOT CHECKED: {_plural(len(unchecked), 'column')} could not be checked, the "
            f"first {column.display} on {table.sheet}: {reason}; the rest is right"
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
