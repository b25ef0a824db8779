"""A workbook someone else made, checked before anything parses it.

`sheetgen check` and `sheetgen verify` read files from anyone. An .xlsx is a zip of XML parts,
and both layers can be hostile: a part that unpacks to gigabytes from a few megabytes, a sheet
whose used range spans a million rows and sixteen thousand columns (every cell of which a
reader materialises), an XML document type declaring entities (external files, "billion
laughs"). guard_workbook reads the zip's directory and streams each XML part once, in
fixed-size chunks, before openpyxl or LibreOffice sees the file, and refuses what exceeds the
limits below. XML itself is parsed by openpyxl with defusedxml (a dependency), which forbids
entities; the DTD check here also keeps them from LibreOffice.

The limits are generous for a workbook sheetgen builds (6 learning rates x 20,000 iterations of
the default network: 47 MB per sheet, 254 MB in all, 4 million cells) and far below what
would exhaust memory.
"""

from __future__ import annotations

import re
import stat
import zipfile
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


def _refuse(path: Path, why: str) -> RefusedWorkbook:
    return RefusedWorkbook(f"{path} is not a readable workbook: {why}")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def guard_workbook(path: str | Path) -> None:
    """Refuse a workbook that is not a regular zip file or exceeds the limits of this module.

    Reads only the zip directory and streams each XML part once; nothing is parsed as XML.

    Args:
        path: the file to be read.

    Raises:
        WorkbookError: with a one-line message naming the file and the limit (or the
            construct, such as a DTD) that it exceeds.
    """
    path = Path(path)
    try:
        status = path.stat()
        mode = status.st_mode
    except FileNotFoundError:
        raise WorkbookError(f"{path} does not exist") from None
    except OSError as exc:
        raise WorkbookError(f"cannot read {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise WorkbookError(f"{path} is a folder, not a workbook")
    if not stat.S_ISREG(mode):
        raise _refuse(path, "it is not a regular file")
    # check and verify read a file two or three times; the same file, unchanged, passed once
    seen = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
    if seen in _PASSED:
        return
    try:
        with zipfile.ZipFile(path) as package:
            _check_directory(path, package.infolist())
            cells = 0
            for info in package.infolist():
                if info.filename.endswith((".xml", ".rels", ".vml")) or info.filename.startswith(
                    "xl/worksheets/"
                ):
                    cells += _scan_part(path, package, info)
                    if cells > MAX_CELLS:
                        raise _refuse(
                            path,
                            f"its sheets span more than {MAX_CELLS:,} cells "
                            f"(rows x columns); sheetgen reads at most that",
                        )
    except zipfile.BadZipFile as exc:
        raise _refuse(path, f"not a zip package ({exc})") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError, ValueError) as exc:
        # damaged streams, encryption, unknown compression methods
        if isinstance(exc, WorkbookError):
            raise
        raise _refuse(path, f"its package is damaged ({exc})") from None
    if len(_PASSED) >= 64:
        _PASSED.clear()
    _PASSED.add(seen)


# (device, inode, size, modification time) of the files that passed, so that reading one again
# does not stream it again; any change to a file changes its entry
_PASSED: set[tuple[int, int, int, int]] = set()


def _check_directory(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_PARTS:
        raise _refuse(path, f"it has {len(infos):,} parts; sheetgen reads at most {MAX_PARTS:,}")
    total = 0
    for info in infos:
        if info.file_size > MAX_PART_BYTES:
            raise _refuse(
                path,
                f"part {info.filename} unpacks to {info.file_size:,} bytes; "
                f"sheetgen reads at most {MAX_PART_BYTES:,} (64 MiB) per part",
            )
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refuse(
                path,
                f"part {info.filename} unpacks {info.file_size // max(info.compress_size, 1):,} "
                f"times larger than it is packed; sheetgen allows at most "
                f"{MAX_RATIO} times",
            )
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        raise _refuse(
            path,
            f"its parts unpack to {total:,} bytes; sheetgen reads at most "
            f"{MAX_TOTAL_BYTES:,} (256 MiB) in all",
        )


def _scan_part(path: Path, package: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
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
            if read > MAX_PART_BYTES:
                raise _refuse(path, f"part {name} unpacks to more than its declared size")
            if first:
                start = chunk.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
                if start != b"<":
                    raise _refuse(path, f"part {name} is not UTF-8 XML")
                first = False
            if b"\0" in chunk:
                raise _refuse(path, f"part {name} holds NUL bytes, which XML forbids")
            window = tail + chunk
            if any(marker in window for marker in _DTD):
                raise _refuse(
                    path, f"part {name} declares an XML document type (entities), which no workbook needs"
                )
            if text_part:
                run = _longest_text(path, name, chunk, run)
            if sheet:
                if dimension := _DIMENSION.search(window):
                    _check_dimension(path, name, dimension)
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
            path,
            f"{name} reaches row {max_row:,}, column {max_column:,}; a sheet "
            f"has {EXCEL_ROWS:,} rows and {EXCEL_COLUMNS:,} columns",
        )
    cells = max_row * max_column
    if cells > MAX_CELLS:
        raise _refuse(
            path,
            f"{name} spans {max_row:,} rows × {max_column:,} columns "
            f"({cells:,} cells); sheetgen reads at most {MAX_CELLS:,}",
        )
    return cells


def _check_dimension(path: Path, name: str, match: re.Match) -> None:
    """The sheet's declared used range, refused when beyond the limits (a stale one is common,
    a hostile one asks every reader to materialise a million rows)."""
    letters, digits = match.group(3), match.group(4)
    if letters is None:
        letters, digits = match.group(1), match.group(2)
    if not letters or not digits:
        return
    rows, columns = int(digits), _column_number(letters)
    if rows > EXCEL_ROWS or columns > EXCEL_COLUMNS or rows * columns > MAX_CELLS:
        raise _refuse(
            path,
            f"{name} declares a used range of {rows:,} rows × {columns:,} "
            f"columns ({rows * columns:,} cells); sheetgen reads at most "
            f"{MAX_CELLS:,}",
        )


def _longest_text(path: Path, name: str, chunk: bytes, run: int) -> int:
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
            path,
            f"part {name} holds a text of more than {MAX_TEXT_BYTES:,} bytes; "
            "a cell holds at most 32,767 characters",
        )
    return run
