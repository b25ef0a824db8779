"""check's findings marked on a copy of the student's own workbook.

    sheetgen check my_backprop.xlsx --annotate          # my_backprop.checked.xlsx beside it

In the copy, the cell where each mistake starts is filled red and carries a comment (what the
cell computes, its value, the value it should have, the mistake's name), the cells that follow
from it are shaded light red, and a first sheet, `check`, lists the findings with links to the
cells. Everything else is the student's file as it was: the package's parts are patched, not
rewritten (see package.py), so charts, images, drawings, formulas, defined names, validations
and conditional formats stay byte for byte. A .xls or .ods file is converted to .xlsx with
LibreOffice first, and the copy is made from the conversion.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from sheetgen.analyse.check import format_report
from sheetgen.analyse.feedback import styles as colours
from sheetgen.analyse.feedback.book import Book
from sheetgen.analyse.feedback.comments import add_comments
from sheetgen.analyse.feedback.marks import marks_of
from sheetgen.analyse.feedback.package import WORKSHEET, WORKSHEET_TYPE, Package, PackageError
from sheetgen.analyse.feedback.styles import StyleSheet
from sheetgen.analyse.feedback.summary import SHEET_NAME, Formats, sheet_xml
from sheetgen.analyse.feedback.worksheet import (
    base_format,
    cell_position,
    format_edits,
    read_sheet,
    read_views,
    unselect,
)
from sheetgen.analyse.feedback.xmlparts import XmlPartError
from sheetgen.analyse.recalc import RecalcError, recalculate
from sheetgen.files import OutputError, check_replaceable
from sheetgen.untrusted import WorkbookError, guard_workbook

# formats LibreOffice converts to .xlsx before a copy is annotated
CONVERTED_SUFFIXES = (".xls", ".ods")
# what an annotated copy may be called: the package formats it is patched in
COPY_SUFFIXES = (".xlsx", ".xlsm")
COPY_MARK = ".checked"


class AnnotateError(ValueError):
    """The annotated copy cannot be made as asked; the message says why."""


def annotated_name(source: str | Path) -> Path:
    """The default name of a workbook's annotated copy: NAME.checked.xlsx beside it (.xlsm for a
    workbook with macros, which only that name keeps)."""
    source = Path(source)
    suffix = source.suffix.lower() if source.suffix.lower() in COPY_SUFFIXES else ".xlsx"
    return source.with_name(source.stem + COPY_MARK + suffix)


def check_copy_name(source: str | Path, out: str | Path) -> None:
    """Refuse an annotated copy's name before any work is done.

    Raises:
        AnnotateError: the name is not that of a package the copy can be (.xlsx, or .xlsm for
            a workbook with macros), or it is the original's.
        OutputError: something other than a regular file is there.
    """
    source, out = Path(source), Path(out)
    wanted = source.suffix.lower() if source.suffix.lower() in COPY_SUFFIXES else ".xlsx"
    if out.suffix.lower() != wanted:
        why = {
            ".xls": "an annotated copy is an Office Open XML package; .xls is the older binary format",
            ".ods": "an annotated copy is an Office Open XML package; .ods is OpenDocument",
        }.get(out.suffix.lower(), f"the copy of {source.name} is a {wanted} package")
        raise AnnotateError(f"cannot write {out}: {why}; give a name ending in {wanted}")
    if check_replaceable(out) is not None and source.exists() and os.path.samefile(out, source):
        raise AnnotateError(f"cannot write {out}: it is the original; the annotated copy never replaces it")


def annotate_workbook(report, source: str | Path, out: str | Path | None = None) -> Path:
    """Write a copy of `source` with check's findings marked on it.

    Args:
        report: the CheckReport of `source` (sheetgen.analyse.check.check_workbook).
        source: the student's workbook (.xlsx, .xlsm; .xls and .ods are converted first).
        out: the copy; default NAME.checked.xlsx beside `source`. Written atomically; only a
            regular file is ever replaced, and never the original.

    Returns:
        The path of the copy.

    Raises:
        AnnotateError: the copy cannot be made (its name, or a package that cannot be patched).
        sheetgen.untrusted.WorkbookError: `source` is missing or beyond the limits of untrusted.py.
        sheetgen.files.OutputError: `out` cannot be written.
        sheetgen.analyse.recalc.RecalcError: a .xls or .ods file, and LibreOffice failed or is missing.
    """
    source = Path(source)
    out = annotated_name(source) if out is None else Path(out)
    check_copy_name(source, out)
    if not source.is_file():
        raise WorkbookError(f"{source} does not exist" if not source.exists() else f"{source} is not a file")
    converted = source.suffix.lower() in CONVERTED_SUFFIXES or not zipfile.is_zipfile(source)
    with tempfile.TemporaryDirectory(prefix="sheetgen-annotate-") as temp:
        # a .xls is no zip package: LibreOffice reads it, and its conversion is guarded instead
        path = _converted(source, temp) if converted else source
        guard_workbook(path)
        try:
            package = Package(path)
            book = Book(package)
            if book.strict and not converted:  # Strict Open XML: LibreOffice writes it transitional
                package = Package(_converted(source, temp))
                book = Book(package)
            _annotate(package, book, report, source.name)
        except (PackageError, XmlPartError) as exc:
            raise AnnotateError(f"cannot annotate {source}: {exc}") from None
        return package.write(out)


def _converted(source: Path, temp: str) -> Path:
    return recalculate(source, temp)


def _verdict(report) -> str:
    """check's last line for the file (the verdict that format_report ends with)."""
    return format_report(report).splitlines()[-1]


def _annotate(package: Package, book: Book, report, file_name: str) -> None:
    marks = marks_of(report)
    sheets = {sheet.name: sheet for sheet in book.sheets}
    for name in marks:
        if name not in sheets or sheets[name].part is None or not package.has(sheets[name].part):
            raise AnnotateError(
                f"{package.path} has no worksheet {name!r}: the findings are of another workbook"
            )
    styles = StyleSheet(package, book.part)
    for sheet in book.sheets:
        if sheet.part is None or not package.has(sheet.part):
            continue
        data = package.read(sheet.part)
        if sheet.name not in marks:
            package.edit(sheet.part, unselect(data, read_views(data, sheet.part)))
            continue
        sheet_marks = marks[sheet.name]
        found = read_sheet(data, sheet_marks.refs, sheet.part)
        formats = {}
        for ref in sorted(sheet_marks.refs, key=cell_position):  # the same bytes on every run
            colour = colours.MISTAKE_FILL if ref in sheet_marks.starts else colours.FOLLOWS_FILL
            formats[ref] = styles.filled(base_format(found, *cell_position(ref)), colour)
        edits = format_edits(found, formats) + unselect(data, found.root)
        if sheet_marks.starts:
            edits += add_comments(package, sheet.part, found, sheet_marks.starts)
        package.edit(sheet.part, edits)
    formats = Formats(
        bold=styles.plain(bold=True), link=styles.plain(link=True), number=styles.plain(number=True)
    )
    part = package.free_name("xl/worksheets/sheet{}.xml")
    package.add(part, sheet_xml(report, file_name, _verdict(report), formats))
    rid = package.add_relationship(book.part, WORKSHEET, part)
    package.add_content_type(part, WORKSHEET_TYPE)
    package.edit(book.part, book.insert_first(book.free_sheet_name(SHEET_NAME), rid))
    styles.finish()


def copy_names(sources: list[tuple[Path, Path | None]], folder: str | Path) -> dict[Path, Path]:
    """Where each submission's annotated copy goes in `folder`.

    Args:
        sources: each submission with the folder it was found in (None for a file given as
            such): the copy keeps its path below that folder, so that two submissions of one
            name in different sub-folders stay apart.
        folder: the folder the copies go in.

    Returns:
        submission -> copy; a name that would still be taken twice (two folders given that
        hold the same path) gets " (2)", " (3)"… before its ".checked".
    """
    folder = Path(folder)
    names: dict[Path, Path] = {}
    taken: set[str] = set()
    for source, root in sources:
        below = source.relative_to(root) if root is not None else Path(source.name)
        copy = folder / below.parent / annotated_name(below).name
        number = 1
        while str(copy).lower() in taken:
            number += 1
            renamed = below.with_name(f"{below.stem} ({number}){below.suffix}")
            copy = folder / below.parent / annotated_name(renamed).name
        taken.add(str(copy).lower())
        names[source] = copy
    return names


def annotate_outcomes(outcomes, copies: dict[Path, Path]) -> tuple[dict[Path, Path], dict[Path, str]]:
    """An annotated copy of each checked submission (check_many's Outcomes) at copies[path];
    one that cannot be made is reported, not raised, and the others are still made.

    Returns:
        (submission -> copy written, submission -> why its copy could not be made)
    """
    written, failed = {}, {}
    for outcome in outcomes:
        if outcome.report is None:
            continue
        copy = copies[outcome.path]
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            written[outcome.path] = annotate_workbook(outcome.report, outcome.path, copy)
        except (AnnotateError, OutputError, WorkbookError, RecalcError) as exc:
            failed[outcome.path] = str(exc)
        except OSError as exc:
            failed[outcome.path] = f"cannot write {copy}: {exc.strerror or exc}"
    return written, failed
