"""Stage 1 of check: a workbook read once into one model of its sheets.

An .xlsx is a zip of XML parts. Each cell of a sheet part holds both its formula and the value
the program that saved it calculated, so one streaming pass over each sheet gives both, with
the style of text cells (a label in the Symbol font reads as Greek) and the workbook's names
for single cells written into the formulas as the references they stand for
(=E33-LR*X33 reads LR's cell). Elements are matched by their local names, whatever prefix a
program gives the spreadsheet namespace (`x:c` as Hancom Office writes it, or none).

A file that is not such a package (.xls, .ods), or that this reader cannot make sense of, goes
to LibreOffice to be converted; so does a file whose formulas have no cached values (openpyxl
writes none), to be recalculated. `sheetgen.untrusted.guard_workbook` has refused anything
hostile before a part is parsed, and XML is parsed by defusedxml.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from defusedxml.ElementTree import fromstring, iterparse
from openpyxl.formula.translate import Translator
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from sheetgen import untrusted
from sheetgen.analyse.reading import Grid, cell
from sheetgen.analyse.recalc import RecalcError, find_soffice
from sheetgen.untrusted import MAX_PART_BYTES, RefusedWorkbook, WorkbookError

_RELATIONSHIP = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

# What the Symbol font draws for a Latin letter: a student without a Greek keyboard types "h"
# in Symbol and sees η (and ¶ for ∂).
_SYMBOL = str.maketrans("abcdefghijklmnopqrstuvwxyzABDGLPSW¶", "αβχδεφγηιϕκλμνοπθρστυϖωξψζΑΒΔΓΛΠΣΩ∂")


@dataclass
class Sheet:
    """One sheet: its cached values and its formulas (a constant cell holds the same in both),
    as grids of rows, 0-based."""

    name: str
    values: Grid
    formulas: Grid

    def value(self, row: int, col: int):
        return cell(self.values, row, col)

    def formula(self, row: int, col: int):
        return cell(self.formulas, row, col)


@dataclass
class Book:
    """Every sheet of a workbook, in order, and what it took to read them."""

    path: Path
    sheets: dict[str, Sheet]
    recalculated: bool = False  # values from LibreOffice: the file cached none
    converted: str | None = None  # why the file itself could not be read, when LibreOffice converted it

    @property
    def values(self) -> dict[str, Grid]:
        return {name: sheet.values for name, sheet in self.sheets.items()}

    @property
    def formulas(self) -> dict[str, Grid]:
        return {name: sheet.formulas for name, sheet in self.sheets.items()}

    def uncached(self) -> int:
        """How many formula cells have no cached value."""
        missing = 0
        for sheet in self.sheets.values():
            for r, row in enumerate(sheet.formulas):
                for c, text in enumerate(row):
                    if isinstance(text, str) and text.startswith("=") and sheet.value(r, c) is None:
                        missing += 1
        return missing

    def with_values_of(self, other: Book) -> Book:
        """This book's formulas and labels with another's values (its recalculated copy)."""
        sheets = {}
        for name, sheet in self.sheets.items():
            values = other.sheets[name].values if name in other.sheets else sheet.values
            sheets[name] = Sheet(name, values, sheet.formulas)
        return Book(self.path, sheets, recalculated=True)


class CheckError(RuntimeError):
    """The workbook cannot be checked at all (LibreOffice is needed and missing); says why."""


@dataclass
class Pending:
    """A file LibreOffice must handle before it can be checked: convert, when this reader
    could not read it (`unreadable` says why), or recalculate, when its formulas have no
    cached values (`book` is what the file itself holds)."""

    path: Path
    book: Book | None = None
    unreadable: WorkbookError | None = None


def open_book(path: str | Path) -> Book | Pending:
    """The workbook, or what LibreOffice must do to it first.

    Raises:
        WorkbookError: the file is missing, refused, or unreadable and LibreOffice may not
            or cannot convert it.
    """
    path = Path(path)
    try:
        book = read_book(path)
    except WorkbookError as exc:
        if not _convertible(path, exc):
            raise
        return Pending(path, unreadable=exc)
    if book.uncached():
        return Pending(path, book=book)
    return book


def after_libreoffice(pending: Pending, copy: Path | None, problem: RecalcError | None) -> Book:
    """The book of a pending file, from LibreOffice's copy (None: `problem` says why not).

    Raises:
        WorkbookError: the file could not be converted either.
        CheckError: its formulas have no cached values and LibreOffice failed.
    """
    if pending.unreadable is not None:
        try:
            if copy is None:
                raise problem
            book = read_book(copy)
        except (RecalcError, WorkbookError) as again:
            raise WorkbookError(
                f"{pending.unreadable}; LibreOffice could not convert it either ({again})"
            ) from None
        return Book(pending.path, book.sheets, recalculated=True, converted=str(pending.unreadable))
    if copy is None:
        raise CheckError(
            f"{pending.path} has formulas without cached values, so it must be recalculated first: {problem}"
        )
    try:
        recalculated = read_book(copy)
    except WorkbookError as exc:
        raise CheckError(f"{pending.path}: LibreOffice's recalculated copy is unreadable ({exc})") from None
    return pending.book.with_values_of(recalculated)


def _convertible(path: Path, error: WorkbookError) -> bool:
    """Whether a file this reader could not read may go to LibreOffice: a package that
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


def read_book(path: str | Path) -> Book:
    """Read a workbook's sheets in one pass over each part.

    Raises:
        RefusedWorkbook: the file exceeds sheetgen.untrusted's limits (never to be converted).
        WorkbookError: the file is missing, or not a workbook this reader understands.
    """
    path = Path(path)
    untrusted.guard_workbook(path)
    try:
        with zipfile.ZipFile(path) as package:
            return _Package(path, package).book()
    except WorkbookError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure on someone else's file is theirs
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise WorkbookError(f"{path} is not a readable workbook: {reason}") from None


def _local(tag: str) -> str:
    """An element's or attribute's name without its namespace ({ns}c and x:c are both c)."""
    return tag.rsplit("}", 1)[-1]


def _attribute(element, name: str):
    """An attribute by local name, whatever its namespace (r:id)."""
    for key, value in element.attrib.items():
        if _local(key) == name:
            return value
    return None


def _children(element, name: str):
    return [child for child in element if _local(child.tag) == name]


def _text(element) -> str:
    """The text of a string item: its <t>, or its runs' <t>s, leaving phonetic runs out."""
    parts = []
    for child in element:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


class _Package:
    def __init__(self, path: Path, package: zipfile.ZipFile):
        self.path = path
        self.package = package
        self.names = set(package.namelist())
        self.cells = 0

    def xml(self, name: str):
        return fromstring(self.package.read(name))

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """{id: (type, target part)} of a part's relationships."""
        folder, base = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", base + ".rels")
        if rels not in self.names:
            return {}
        out = {}
        for rel in self.xml(rels):
            target = rel.get("Target") or ""
            if rel.get("TargetMode") == "External":
                continue
            if target.startswith("/"):
                resolved = target.lstrip("/")
            else:
                resolved = posixpath.normpath(posixpath.join(folder, target))
            out[rel.get("Id")] = ((rel.get("Type") or "").rsplit("/", 1)[-1], resolved)
        return out

    def book(self) -> Book:
        main = next(
            (target for kind, target in self.relationships("").values() if kind == "officeDocument"),
            "xl/workbook.xml",
        )
        if main not in self.names:
            raise WorkbookError(f"{self.path} is not a readable workbook: it has no workbook part")
        workbook = self.xml(main)
        rels = self.relationships(main)
        strings = self._shared_strings(rels)
        symbol_styles = self._symbol_styles(rels)
        entries = []
        for element in workbook.iter():
            if _local(element.tag) == "sheet":
                rel = rels.get(_attribute(element, "id"))
                if rel is not None and rel[0] == "worksheet" and rel[1] in self.names:
                    entries.append((element.get("name"), rel[1]))
        names = self._defined_names(workbook, [name for name, _ in entries])
        sheets = {}
        for index, (name, part) in enumerate(entries):
            values, formulas = self._sheet(part, strings, symbol_styles)
            local = {**names.get(None, {}), **names.get(index, {})}
            sheets[name] = Sheet(name, values, _with_names(formulas, local))
        return Book(self.path, sheets)

    def _shared_strings(self, rels) -> list[str]:
        part = next((target for kind, target in rels.values() if kind == "sharedStrings"), None)
        if part is None or part not in self.names:
            return []
        strings = []
        with self.package.open(part) as stream:
            for _, element in iterparse(stream, events=("end",)):
                if _local(element.tag) == "si":
                    strings.append(_text(element))
                    element.clear()
        return strings

    def _symbol_styles(self, rels) -> set[int]:
        """The cell formats (s="…") whose font is Symbol; a missing or odd style part gives none."""
        part = next((target for kind, target in rels.values() if kind == "styles"), None)
        if part is None or part not in self.names:
            return set()
        styles = self.xml(part)
        fonts, formats = [], []
        for element in styles:
            if _local(element.tag) == "fonts":
                for font in _children(element, "font"):
                    name = next((child.get("val") for child in font if _local(child.tag) == "name"), None)
                    fonts.append((name or "").lower())
            elif _local(element.tag) == "cellXfs":
                formats = [xf.get("fontId") for xf in _children(element, "xf")]
        symbol = set()
        for index, font_id in enumerate(formats):
            if font_id is not None and font_id.isdigit() and int(font_id) < len(fonts):
                if fonts[int(font_id)] == "symbol":
                    symbol.add(index)
        return symbol

    def _defined_names(self, workbook, sheet_names: list[str]) -> dict[int | None, dict[str, str]]:
        """Names for single cells ({"LR": "'Sheet1'!$G$1"}), global (None) or per sheet index."""
        names: dict[int | None, dict[str, str]] = {}
        for element in workbook.iter():
            if _local(element.tag) != "definedName":
                continue
            name, text = element.get("name") or "", (element.text or "").strip()
            if name.startswith("_xlnm") or not _SINGLE_CELL.fullmatch(text):
                continue
            scope = element.get("localSheetId")
            key = int(scope) if scope is not None and scope.isdigit() else None
            names.setdefault(key, {})[name] = text
        return names

    def _sheet(self, part: str, strings: list[str], symbol_styles: set[int]) -> tuple[Grid, Grid]:
        values: list[list] = []
        formulas: list[list] = []
        shared: dict[str, Translator] = {}  # si -> the master formula, ready to translate
        row, col = -1, -1
        with self.package.open(part) as stream:
            for event, element in iterparse(stream, events=("start", "end")):
                name = _local(element.tag)
                if event == "start":
                    if name == "row":
                        number = element.get("r")
                        row = int(number) - 1 if number and number.isdigit() else row + 1
                        col = -1
                    continue
                if name == "c":
                    reference = element.get("r")
                    if reference:
                        row, col = xl_cell_to_rowcol(reference)
                    else:
                        col += 1
                    value, formula = self._cell(element, strings, shared, row, col)
                    if formula is None and isinstance(value, str) and element.get("s"):
                        if element.get("s").isdigit() and int(element.get("s")) in symbol_styles:
                            if len(value.rstrip("=: ")) == 1:
                                value = value.translate(_SYMBOL)
                    self.cells += 1  # cells written without references escape guard_workbook
                    if self.cells > untrusted.MAX_CELLS:
                        raise RefusedWorkbook(
                            f"{self.path} is not a readable workbook: its sheets hold more than "
                            f"{untrusted.MAX_CELLS:,} cells; sheetgen reads at most that"
                        )
                    if value is not None or formula is not None:
                        _put(values, row, col, value)
                        _put(formulas, row, col, formula if formula is not None else value)
                    element.clear()
                elif name == "row":
                    element.clear()
        return [tuple(r) for r in values], [tuple(r) for r in formulas]

    def _cell(self, element, strings, shared, row, col):
        kind = element.get("t", "n")
        raw, formula, inline = None, None, None
        for child in element:
            name = _local(child.tag)
            if name == "v":
                raw = child.text
            elif name == "f":
                formula = self._formula(child, shared, row, col)
            elif name == "is":
                inline = _text(child)
        if kind == "inlineStr":
            value = inline
        elif raw is None:
            value = None
        elif kind == "s":
            value = strings[int(raw)]
        elif kind in ("str", "e", "d"):
            value = raw
        elif kind == "b":
            value = raw.strip() in ("1", "true")
        else:
            text = raw.strip()
            value = float(text) if any(ch in text for ch in ".eEnN") else int(text)
        return value, formula

    @staticmethod
    def _formula(element, shared, row, col) -> str | None:
        kind = element.get("t", "normal")
        text = element.text
        if kind == "dataTable":
            return None
        if kind == "shared":
            index = element.get("si")
            here = xl_rowcol_to_cell(row, col)
            if text:
                shared[index] = Translator("=" + text, here)  # tokenised once for the whole range
            elif index in shared:
                text = shared[index].translate_formula(here)[1:]
        return "=" + text if text else None


_SINGLE_CELL = re.compile(r"(?:'(?:[^']|'')+'|[^'!:]+)!\$?[A-Za-z]{1,3}\$?\d+")


def _put(grid: list[list], row: int, col: int, value) -> None:
    while len(grid) <= row:
        grid.append([])
    line = grid[row]
    if len(line) <= col:
        line.extend([None] * (col + 1 - len(line)))
    line[col] = value


def _with_names(formulas: Grid, names: dict[str, str]) -> Grid:
    """Every formula with its named cells written as references."""
    if not names:
        return formulas
    pattern = re.compile(
        r"(?<![A-Za-z0-9_.$!'])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_.(!])", re.I
    )
    lookup = {name.lower(): ref for name, ref in names.items()}
    return [
        tuple(
            pattern.sub(lambda m: lookup[m[1].lower()], v) if isinstance(v, str) and v.startswith("=") else v
            for v in row
        )
        for row in formulas
    ]
