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
import re
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sheetgen.analyse.check.diagnose import diagnose
from sheetgen.analyse.check.labels import HINT
from sheetgen.analyse.check.tables import Skipped, find_tables
from sheetgen.analyse.compare import format_error
from sheetgen.analyse.reading import RefusedWorkbook, WorkbookError, load_grids, uncached_formulas
from sheetgen.analyse.recalc import RecalcError, find_soffice, recalculate, recalculate_many
from sheetgen.untrusted import MAX_PART_BYTES

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

TORCH_HINT = (
    "sheetgen check recomputes the sheet with torch, which is not installed: "
    "pip install 'sheetgen[test]' (or 'sheetgen[mnist]')"
)


class CheckError(RuntimeError):
    """The workbook cannot be checked at all (torch or LibreOffice missing); says why."""


class NoTableError(ValueError):
    """No training table was recognised; the message says which labels check looks for."""


@dataclass
class CheckReport:
    """Every table's findings, and what was done to the file before it could be read."""

    path: Path
    tables: list  # of diagnose.TableFinding
    recalculated: bool
    skipped: list[Skipped]
    converted: str | None = None  # why openpyxl could not read the file LibreOffice converted

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


@dataclass
class _Loaded:
    """A workbook's grids, and what it took to get them."""

    formulas: dict
    values: dict
    recalculated: bool = False
    converted: str | None = None


# What the Symbol font draws for a Latin letter: a student without a Greek keyboard types "h"
# in Symbol and sees η (and ¶ for ∂).
_SYMBOL = str.maketrans("abcdefghijklmnopqrstuvwxyzABDGLPSW¶", "αβχδεφγηιϕκλμνοπθρστυϖωξψζΑΒΔΓΛΠΣΩ∂")


def _with_extras(path: Path, loaded: _Loaded) -> _Loaded:
    """What the grids alone do not say, from one more (read-only) pass over the file: labels
    in the Symbol font rewritten as the Greek a reader sees, and named cells written into the
    formulas as the references they stand for (=E33-LR*X33 reads LR's cell)."""
    import openpyxl

    short = {
        name: {
            (r, c)
            for r, row in enumerate(grid)
            for c, v in enumerate(row)
            if isinstance(v, str) and len(v.rstrip("=: ")) == 1
        }
        for name, grid in loaded.values.items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # parts openpyxl drops hold no cell
        try:
            book = openpyxl.load_workbook(path, read_only=True)
        except Exception:  # noqa: BLE001 - the grids were read; these are niceties
            return loaded
        try:
            for ws in book.worksheets:
                if short.get(ws.title):
                    _symbol_labels(ws, short[ws.title], loaded)
            names = _named_cells(book)
        finally:
            book.close()
    _with_names(loaded, names)
    return loaded


def _symbol_labels(ws, wanted: set[tuple[int, int]], loaded: _Loaded) -> None:
    ws.reset_dimensions()
    last = max(r for r, _ in wanted)
    for r, row in enumerate(ws.iter_rows(min_row=1, max_row=last + 1, min_col=1)):
        for c, cell_ in enumerate(row):
            if (r, c) not in wanted or getattr(cell_, "font", None) is None:
                continue
            if (cell_.font.name or "").lower() != "symbol":
                continue
            for grids in (loaded.values, loaded.formulas):
                grid = grids[ws.title]
                if c < len(grid[r]) and isinstance(grid[r][c], str):
                    grid[r] = grid[r][:c] + (grid[r][c].translate(_SYMBOL),) + grid[r][c + 1 :]


def _named_cells(book) -> dict[str, str]:
    """The workbook's names for single cells ({"LR": "'Sheet1'!$G$1"})."""
    names = {}
    for name, defined in book.defined_names.items():
        destinations = list(defined.destinations)
        if len(destinations) == 1 and ":" not in destinations[0][1]:
            sheet, ref = destinations[0]
            names[name] = "'" + sheet.replace("'", "''") + "'!" + ref
    return names


def _with_names(loaded: _Loaded, names: dict[str, str]) -> None:
    """Every formula with its named cells written as references."""
    if not names:
        return
    pattern = re.compile(
        r"(?<![A-Za-z0-9_.$!'])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_.(!])", re.I
    )
    lookup = {name.lower(): ref for name, ref in names.items()}
    for name, grid in loaded.formulas.items():
        loaded.formulas[name] = [
            tuple(
                pattern.sub(lambda m: lookup[m[1].lower()], v)
                if isinstance(v, str) and v.startswith("=")
                else v
                for v in row
            )
            for row in grid
        ]


def _convertible(path: Path, error: WorkbookError) -> bool:
    """Whether a file openpyxl could not read may go to LibreOffice: a package that
    guard_workbook did not refuse (one refused for its size or its XML never goes), or a file
    of another format (.xls) no larger than one part may be."""
    if not path.is_file():
        return False
    if zipfile.is_zipfile(path):
        if isinstance(error, RefusedWorkbook):
            return False
    elif path.stat().st_size > MAX_PART_BYTES:
        return False
    return find_soffice() is not None


@dataclass
class _Pending:
    """A file that needs LibreOffice before it can be checked: converted, when openpyxl could
    not read it (`unreadable` says why), or recalculated, when its formulas have no cached
    values (`formulas` are the file's own)."""

    formulas: dict | None = None
    unreadable: WorkbookError | None = None


def _read(path: Path) -> _Loaded | _Pending:
    """The file's formulas and cached values, or what LibreOffice must do first."""
    try:
        formulas = load_grids(path, formulas=True)
    except WorkbookError as exc:
        if not _convertible(path, exc):
            raise
        return _Pending(unreadable=exc)
    values = load_grids(path, formulas=False)
    if uncached_formulas(formulas, values):
        return _Pending(formulas=formulas)
    return _with_extras(path, _Loaded(formulas, values))


def _after_libreoffice(
    path: Path, pending: _Pending, copy: Path | None, problem: RecalcError | None
) -> _Loaded:
    """The grids of a pending file from LibreOffice's copy (None: `problem` says why not)."""
    if pending.unreadable is not None:
        try:
            if copy is None:
                raise problem
            loaded = _Loaded(
                load_grids(copy, formulas=True),
                load_grids(copy, formulas=False),
                recalculated=True,
                converted=str(pending.unreadable),
            )
        except (RecalcError, WorkbookError) as again:
            raise WorkbookError(
                f"{pending.unreadable}; LibreOffice could not convert it either ({again})"
            ) from None
        return _with_extras(copy, loaded)
    if copy is None:
        raise CheckError(
            f"{path} has formulas without cached values, so it must be recalculated first: {problem}"
        )
    return _with_extras(path, _Loaded(pending.formulas, load_grids(copy, formulas=False), recalculated=True))


def check_workbook(path: str | Path) -> CheckReport:
    """Check every training table of a hand-made workbook.

    Values are the file's cached ones; a file with formulas but no cached values (as openpyxl
    writes them), or one openpyxl cannot read at all (another office suite's), goes through
    LibreOffice first.

    Raises:
        reading.WorkbookError: the file is missing or unreadable.
        NoTableError: no table recognised.
        CheckError: torch is missing, or LibreOffice is needed and missing.
    """
    path = Path(path)
    loaded = _read(path)
    if isinstance(loaded, _Pending):
        with tempfile.TemporaryDirectory(prefix="sheetgen-check-") as temp:
            try:
                copy, problem = recalculate(path, temp), None
            except RecalcError as exc:
                copy, problem = None, exc
            loaded = _after_libreoffice(path, loaded, copy, problem)
    return _check_loaded(path, loaded)


def _check_loaded(path: Path, loaded: _Loaded) -> CheckReport:
    tables, skipped = find_tables(loaded.values, loaded.formulas)
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
    try:
        import torch  # noqa: F401 - diagnose's autograd needs it
    except ImportError:
        raise CheckError(TORCH_HINT) from None
    findings = [diagnose(t, loaded.values[t.sheet], loaded.formulas[t.sheet]) for t in usable]
    return CheckReport(path, findings, loaded.recalculated, skipped, loaded.converted)


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

    Raises:
        CheckError: torch is missing (nothing can be checked then).
    """
    outcomes = [Outcome(path) for path in paths]
    loaded: dict[int, _Loaded | _Pending] = {}
    for i, path in enumerate(paths):
        try:
            loaded[i] = _read(path)
        except (WorkbookError, CheckError) as exc:
            outcomes[i].error = str(exc)
    pending = [i for i, item in loaded.items() if isinstance(item, _Pending)]
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
                    loaded[i] = _after_libreoffice(paths[i], loaded[i], result, problem)
                except (WorkbookError, CheckError) as exc:
                    del loaded[i]
                    outcomes[i].error = str(exc)
    for i, outcome in enumerate(outcomes):
        if i in loaded:
            try:
                outcome.report = _check_loaded(outcome.path, loaded[i])
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
                "refs": c.refs,
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
