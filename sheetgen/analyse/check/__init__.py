"""sheetgen check: find the training tables of a hand-made backprop workbook by what their cells
compute, and say, line by line, whether they are right, and where and how each mistake starts.

    sheetgen check my_backprop.xlsx
    sheetgen check my_backprop.xlsx --json

The stages, a module each, data flowing one way:

    read.py       the workbook, once: values, formulas, Symbol-font labels, named cells
    locate.py     the tables, by their weight updates (w − η·∂E/∂w), and η
    network.py    the network each trains: what each weight feeds, the inputs, targets, biases
    recognise.py  every line named by what it computes (labels only break ties)
    recompute.py  what every cell should hold, by the build's own engine
    judge.py      right, wrong (where a mistake starts), follows (a mistake upstream), not
                  checked; catalogue.py names the mistake, circular.py the circles
    report.py     the findings as text or JSON

A file with formulas but no cached values, or one this reader cannot read, goes through
LibreOffice first. check needs neither torch nor anything beyond sheetgen's own dependencies.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from sheetgen.analyse.check.cells import Cells
from sheetgen.analyse.check.judge import ColumnFinding, TableFinding, judge_table
from sheetgen.analyse.check.locate import Skipped, find_tables
from sheetgen.analyse.check.network import READ_ACTIVATIONS, NotANetwork, read_network
from sheetgen.analyse.check.read import Book, CheckError, Pending, after_libreoffice, open_book
from sheetgen.analyse.check.recognise import recognise_table
from sheetgen.analyse.check.report import (
    CheckReport,
    Outcome,
    format_line,
    format_report,
    format_summary,
    to_json,
)
from sheetgen.analyse.reading import WorkbookError
from sheetgen.analyse.recalc import RecalcError, find_soffice, recalculate, recalculate_many

__all__ = [
    "HINT",
    "CheckError",
    "CheckReport",
    "ColumnFinding",
    "NoTableError",
    "Outcome",
    "TableFinding",
    "check_many",
    "check_workbook",
    "format_line",
    "format_report",
    "format_summary",
    "to_json",
    "workbook_paths",
]

# Shown when no table is found: what check looks for.
HINT = (
    "check finds a training table by its weight updates: cells that take each weight of one "
    "step and subtract η times its gradient (w1 − η·∂E/∂w1), with a step per row, per column, "
    "or one step laid out down a column or across a row; in typed numbers, columns that each "
    "follow w − η·g from one row to the next for one η. Labels are not needed"
)


class NoTableError(ValueError):
    """No training table was recognised; the message says what check looks for, and why each
    candidate it saw is not one."""


class InternalError(RuntimeError):
    """check itself failed on a file: a fault to report, not the file's."""


def check_workbook(path: str | Path) -> CheckReport:
    """Check every training table of a hand-made workbook.

    Values are the file's cached ones; a file with formulas but no cached values (as openpyxl
    writes them), or one this reader cannot read at all (another office suite's), goes through
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
    return check_book(book)


def check_book(book: Book) -> CheckReport:
    """Check the tables of a workbook already read (read → locate → recognise → recompute →
    judge)."""
    if reason := _beyond_check(book):
        raise NoTableError(f"no training table recognised in {book.path} ({reason}). {HINT}")
    located, skipped = find_tables(book)
    findings = []
    for table in located:
        cells = Cells(table, book)
        try:
            network = read_network(table, cells)
        except NotANetwork as exc:
            first = table.lines[0].cells[0]
            skipped.append(
                Skipped(table.sheet, table.header if table.header is not None else first[0], str(exc))
            )
            continue
        findings.append(judge_table(recognise_table(table, cells, network), cells))
    if not findings:
        reasons = "; ".join(f"{s.sheet}!row {s.header_row + 1}: {s.reason}" for s in skipped)
        raise NoTableError(
            f"no training table recognised in {book.path}"
            + (f" ({reasons})" if reasons else "")
            + f". {HINT}"
        )
    return CheckReport(book.path, findings, book.recalculated, skipped, book.converted)


def _beyond_check(book: Book) -> str | None:
    """Why check cannot read a workbook sheetgen built, from the network its record describes;
    None for any other workbook, or one check reads. check models one sample per step, the
    activations network.py reads, biases that stay fixed and ½-squared error: a table of
    another network would be read as one of these, and its right cells called wrong."""
    from sheetgen.record import RECORD_SHEET, RecordError, record_from_rows

    sheet = book.sheets.get(RECORD_SHEET)
    if sheet is None:
        return None
    try:
        spec = record_from_rows([tuple(row) for row in sheet.values], book.path).spec
    except RecordError:
        return None
    beyond = []
    if len(spec.inputs) > 1:
        beyond.append(f"{len(spec.inputs)} samples a step")
    if spec.loss != "half_squared_error":
        beyond.append(f"{spec.loss.replace('_', ' ')} loss")
    unread = sorted({layer.activation for layer in spec.layers} - set(READ_ACTIVATIONS))
    if unread:
        beyond.append(f"{', '.join(unread)} units")
    if any(layer.bias is not None and layer.train_bias for layer in spec.layers):
        beyond.append("biases that are trained")
    if not beyond:
        return None
    return f"its record describes a network with {' and '.join(beyond)}, which check does not model"


def internal_error(exc: BaseException) -> str:
    """The one line a fault of check's own gives for a file (a traceback is not for users)."""
    message = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"could not be checked: internal error ({type(exc).__name__}: {message}); please report it"


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
    not raised (nor does it stop the others being checked), a fault of check's own included.
    Each file is checked as soon as it is read and let go: memory stays that of one file.

    Args:
        paths: the workbooks.
        progress: called with each path as it is finished (for a progress bar).
    """
    outcomes = [Outcome(path) for path in paths]

    def finish(i: int, read) -> None:
        """Check what `read` gives (a Book) into outcome i; any failure is its one line."""
        try:
            outcomes[i].report = check_book(read())
        except (WorkbookError, CheckError, NoTableError) as exc:
            outcomes[i].error = str(exc)
        except Exception as exc:  # noqa: BLE001 - one file's fault must not stop the class
            outcomes[i].error = internal_error(exc)
        if progress is not None:
            progress(outcomes[i].path)

    pending: list[tuple[int, Pending]] = []
    for i, path in enumerate(paths):
        try:
            opened = open_book(path)
        except Exception as exc:  # noqa: BLE001 - reported by finish, as any other failure
            finish(i, lambda exc=exc: _raise(exc))
            continue
        if isinstance(opened, Pending):
            pending.append((i, opened))
        else:
            finish(i, lambda opened=opened: opened)
    if pending:
        with tempfile.TemporaryDirectory(prefix="sheetgen-check-") as temp:
            # one LibreOffice start per batch of the files that need it; copies named apart
            copies = []
            for i, _ in pending:
                source = paths[i]
                copy = Path(temp) / "in" / f"{i:05d}-{source.stem}{source.suffix}"
                copy.parent.mkdir(exist_ok=True)
                shutil.copyfile(source, copy)
                copies.append(copy)
            recalculated = _recalculate_apart(copies, Path(temp) / "out")
            for (i, waiting), (result, problem) in zip(pending, recalculated):
                finish(i, lambda w=waiting, r=result, p=problem: after_libreoffice(w, r, p))
    return outcomes


def _raise(exc: BaseException):
    raise exc
