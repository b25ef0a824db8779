"""A workbook someone else made, checked before anything parses it.

`sheetgen check` and `sheetgen verify` read files from anyone. An .xlsx is a zip of XML parts,
and both layers can be hostile: a part that unpacks to gigabytes from a few megabytes, a sheet
whose used range spans a million rows and sixteen thousand columns (every cell of which a
reader materialises), an XML document type declaring entities (external files, "billion
laughs"). guard_workbook reads the zip's directory and streams each XML part once, in
fixed-size chunks, before openpyxl or LibreOffice sees the file, and refuses what exceeds the
limits below. XML itself is parsed by openpyxl with defusedxml (a dependency), which forbids
entities; the DTD check here also keeps them from LibreOffice.

The limits below are those for a workbook from anyone: generous for one made by hand, and far
below what would exhaust memory. A workbook sheetgen built may be larger (its learning-rate
sheets grow with the iterations): `sheetgen verify` and `sheetgen export` hold one with a
sheetgen record to the limits its recorded spec implies instead (guard_workbook's `limits`;
sheetgen/workbook/limits.py derives them, and build refuses a spec beyond them).
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path


class WorkbookError(OSError):
    """The workbook is missing or cannot be read as .xlsx; the message says which."""


class RefusedWorkbook(WorkbookError):
    """A workbook refused for what it holds (beyond a limit, hostile XML), not merely unread:
    it must not be handed to another program either."""


MAX_PARTS = 10_000  # parts in the package (sheetgen's have a few dozen)
MAX_PART_BYTES = 64 * 2**20  # one part, unpacked
MAX_TOTAL_BYTES = 256 * 2**20  # every part together, unpacked
MAX_RATIO = 100  # unpacked / packed, for parts above RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 2**20  # a small part may compress very well (an empty sheet)
MAX_CELLS = 10_000_000  # rows x columns of the used ranges, all sheets together
MAX_TEXT_BYTES = 32_767 * 6  # a cell holds 32,767 characters; &quot; is 6 bytes
EXCEL_ROWS, EXCEL_COLUMNS = 1_048_576, 16_384

_CHUNK = 2**20
_CELL_COLUMN = re.compile(rb'\sr="([A-Z]{1,3})[0-9]')
_ROW_NUMBER = re.compile(rb'<row\b[^>]*?\sr="([0-9]{1,9})"')
_ROW = re.compile(rb"<row[\s/>]")
_DIMENSION = re.compile(rb'<dimension\s+ref="([A-Z]{0,3})([0-9]{0,9})(?::([A-Z]{1,3})([0-9]{1,9}))?"')
_DTD = (b"<!DOCTYPE", b"<!ENTITY")


@dataclass(frozen=True)
class Limits:
    """How large a workbook guard_workbook lets through; the message of a refusal names them."""

    part_bytes: int  # one part, unpacked
    total_bytes: int  # every part together, unpacked
    cells: int  # rows x columns of the used ranges, all sheets together
    parts: int = MAX_PARTS


def foreign_limits() -> Limits:
    """The limits for a workbook from anyone (the constants above)."""
    return Limits(MAX_PART_BYTES, MAX_TOTAL_BYTES, MAX_CELLS, MAX_PARTS)


class BeyondLimits(RefusedWorkbook):
    """A workbook refused for its size alone (parts, bytes, cells): within larger limits, such
    as those of a workbook that sheetgen built, it could be read."""


@dataclass(frozen=True)
class Survey:
    """What guard_workbook measured of a workbook that passed: each part's unpacked size and
    each sheet's used range, so that it can be held to other limits without reading it again."""

    shown: str  # the workbook as messages name it
    parts: tuple[tuple[str, int, int], ...]  # per entry of the zip: name, unpacked, packed size
    cells: dict[str, int]  # per worksheet part: rows x columns of its used range

    def check(self, limits: Limits) -> None:
        """Refuse the workbook if it exceeds `limits`.

        Raises:
            BeyondLimits: one line naming the workbook, the part and the limit.
        """
        _check_sizes(self.shown, self.parts, limits)
        for name, cells in self.cells.items():
            if cells > limits.cells:
                raise _beyond(
                    self.shown, f"{name} spans {cells:,} cells; sheetgen reads at most {limits.cells:,}"
                )
        if sum(self.cells.values()) > limits.cells:
            raise _beyond(self.shown, _too_many_cells(limits))


def _refuse(shown: str, why: str) -> RefusedWorkbook:
    return RefusedWorkbook(f"{shown} is not a readable workbook: {why}")


def _beyond(shown: str, why: str) -> BeyondLimits:
    return BeyondLimits(f"{shown} is not a readable workbook: {why}")


def _too_many_cells(limits: Limits) -> str:
    return f"its sheets span more than {limits.cells:,} cells (rows x columns); sheetgen reads at most that"


def _in_binary_units(size: int) -> str:
    """64 MiB, 1 GiB; a size that is not a whole number of either, in MiB."""
    if size % 2**30 == 0:
        return f"{size // 2**30} GiB"
    return f"{size / 2**20:,.0f} MiB"


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def guard_workbook(path: str | Path, limits: Limits | None = None, *, shown_as: str | None = None) -> Survey:
    """Refuse a workbook that is not a regular zip file or exceeds `limits`.

    Reads only the zip directory and streams each XML part once; nothing is parsed as XML.

    Args:
        path: the file to be read.
        limits: how large it may be; None: foreign_limits(), those for a workbook from anyone.
        shown_as: how messages name the file (the user's file, for a copy made from it);
            None: its path.

    Returns:
        What was measured, to hold the workbook to other limits later (Survey.check).

    Raises:
        WorkbookError: with a one-line message naming the file and the limit (or the
            construct, such as a DTD) that it exceeds; BeyondLimits for its size alone.
    """
    path = Path(path)
    limits = limits or foreign_limits()
    shown = str(path) if shown_as is None else shown_as
    try:
        status = path.stat()
        mode = status.st_mode
    except FileNotFoundError:
        raise WorkbookError(f"{shown} does not exist") from None
    except OSError as exc:
        raise WorkbookError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise WorkbookError(f"{shown} is a folder, not a workbook")
    if not stat.S_ISREG(mode):
        raise _refuse(shown, "it is not a regular file")
    # check and verify read a file two or three times; the same file, unchanged, passed once
    seen = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, limits)
    if seen in _PASSED:
        return Survey(shown, *_PASSED[seen])
    parts, sheet_cells = (), {}
    try:
        with zipfile.ZipFile(path) as package:
            infos = package.infolist()
            parts = tuple((info.filename, info.file_size, info.compress_size) for info in infos)
            _check_sizes(shown, parts, limits)
            for info in infos:
                if info.filename.endswith((".xml", ".rels", ".vml")) or info.filename.startswith(
                    "xl/worksheets/"
                ):
                    cells = _scan_part(shown, package, info, limits)
                    if cells:  # a name may repeat in a zip: its entries count together
                        sheet_cells[info.filename] = sheet_cells.get(info.filename, 0) + cells
                    if sum(sheet_cells.values()) > limits.cells:
                        raise _beyond(shown, _too_many_cells(limits))
    except zipfile.BadZipFile as exc:
        raise _refuse(shown, f"not a zip package ({exc})") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        # damaged streams, encryption, unknown compression methods
        if isinstance(exc, WorkbookError):
            raise
        raise _refuse(shown, f"its package is damaged ({exc})") from None
    if len(_PASSED) >= 64:
        _PASSED.clear()
    _PASSED[seen] = (parts, sheet_cells)
    return Survey(shown, parts, sheet_cells)


# (device, inode, size, modification time, limits) of the files that passed, with what was
# measured, so that reading one again does not stream it again; any change to a file changes
# its entry
_PASSED: dict[tuple, tuple[tuple[tuple[str, int, int], ...], dict[str, int]]] = {}


def _check_sizes(shown: str, parts: tuple[tuple[str, int, int], ...], limits: Limits) -> None:
    """Refuse too many parts, a part too large or packed too well, and parts too large in all,
    in that order. `parts`: (name, unpacked size, packed size) of every entry of the zip (a
    name may repeat)."""
    if len(parts) > limits.parts:
        raise _beyond(shown, f"it has {len(parts):,} parts; sheetgen reads at most {limits.parts:,}")
    for name, size, packed in parts:
        if size > limits.part_bytes:
            raise _beyond(
                shown,
                f"part {name} unpacks to {size:,} bytes; sheetgen reads at most "
                f"{limits.part_bytes:,} ({_in_binary_units(limits.part_bytes)}) per part",
            )
        if size > RATIO_FLOOR_BYTES and size > MAX_RATIO * max(packed, 1):
            raise _refuse(
                shown,
                f"part {name} unpacks {size // max(packed, 1):,} times larger than it is "
                f"packed; sheetgen allows at most {MAX_RATIO} times",
            )
    total = sum(size for _, size, _ in parts)
    if total > limits.total_bytes:
        raise _beyond(
            shown,
            f"its parts unpack to {total:,} bytes; sheetgen reads at most "
            f"{limits.total_bytes:,} ({_in_binary_units(limits.total_bytes)}) in all",
        )


def _scan_part(shown: str, package: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits) -> int:
    """Stream one XML part: refuse a DTD, NUL bytes, non-UTF-8 encodings, overlong text and,
    in a worksheet, a used range beyond the limits; return the worksheet's cells (rows x
    columns of its used range, 0 for other parts)."""
    name = info.filename
    sheet = name.startswith("xl/worksheets/") and name.endswith(".xml")
    text_part = sheet or name == "xl/sharedStrings.xml"
    max_column = max_row = rows = 0
    tail, run, first, read = b"", 0, True, 0
    with package.open(info) as stream:  # zipfile stops at the declared size and checks the CRC
        while chunk := stream.read(_CHUNK):
            read += len(chunk)
            if read > max(info.file_size, limits.part_bytes):
                raise _refuse(shown, f"part {name} unpacks to more than its declared size")
            if first:
                start = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
                if start != b"<":
                    raise _refuse(shown, f"part {name} is not UTF-8 XML")
                first = False
            if b"\0" in chunk:
                raise _refuse(shown, f"part {name} holds NUL bytes, which XML forbids")
            window = tail + chunk
            if any(marker in window for marker in _DTD):
                raise _refuse(
                    shown, f"part {name} declares an XML document type (entities), which no workbook needs"
                )
            if text_part:
                run = _longest_text(shown, name, chunk, run)
            if sheet:
                if dimension := _DIMENSION.search(window):
                    _check_dimension(shown, name, dimension, limits)
                columns = set(_CELL_COLUMN.findall(window))
                if columns:
                    max_column = max(max_column, max(map(_column_number, columns)))
                numbers = _ROW_NUMBER.findall(window)
                if numbers:
                    max_row = max(max_row, max(map(int, numbers)))
                rows += len(_ROW.findall(chunk))
            tail = chunk[-64:]
    max_row = max(max_row, rows)
    if max_row > EXCEL_ROWS or max_column > EXCEL_COLUMNS:
        raise _refuse(
            shown,
            f"{name} reaches row {max_row:,}, column {max_column:,}; a sheet "
            f"has {EXCEL_ROWS:,} rows and {EXCEL_COLUMNS:,} columns",
        )
    cells = max_row * max_column
    if cells > limits.cells:
        raise _beyond(
            shown,
            f"{name} spans {max_row:,} rows × {max_column:,} columns "
            f"({cells:,} cells); sheetgen reads at most {limits.cells:,}",
        )
    return cells


def _check_dimension(shown: str, name: str, match: re.Match, limits: Limits) -> None:
    """The sheet's declared used range, refused when beyond the limits (a stale one is common,
    a hostile one asks every reader to materialise a million rows)."""
    letters, digits = match.group(3), match.group(4)
    if letters is None:
        letters, digits = match.group(1), match.group(2)
    if not letters or not digits:
        return
    rows, columns = int(digits), _column_number(letters)
    if rows > EXCEL_ROWS or columns > EXCEL_COLUMNS or rows * columns > limits.cells:
        refuse = _refuse if rows > EXCEL_ROWS or columns > EXCEL_COLUMNS else _beyond
        raise refuse(
            shown,
            f"{name} declares a used range of {rows:,} rows × {columns:,} "
            f"columns ({rows * columns:,} cells); sheetgen reads at most "
            f"{limits.cells:,}",
        )


def _longest_text(shown: str, name: str, chunk: bytes, run: int) -> int:
    """Refuse a run of text between tags longer than a cell can hold; return the run that the
    chunk ends in (it continues in the next chunk)."""
    pieces = chunk.split(b"<")
    if len(pieces) == 1:
        longest, run = run + len(chunk), run + len(chunk)
    else:
        longest = max(run + len(pieces[0]), max(map(len, pieces[1:])))
        run = len(pieces[-1])
    if longest > MAX_TEXT_BYTES:
        raise _refuse(
            shown,
            f"part {name} holds a text of more than {MAX_TEXT_BYTES:,} bytes; "
            "a cell holds at most 32,767 characters",
        )
    return run
