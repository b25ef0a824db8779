"""Small hostile files that ask a reader for far more memory than their size: a styles part
declaring 600,000 formats, millions of cells written without references, an OpenDocument file
that repeats a row of values a million times, an HTML table named .xls. Each ends in one line
and exit 2 before anything (openpyxl, LibreOffice) builds what it declares, with the peak of
the command and everything it starts under 500 MB. Ordinary files of those formats still pass."""

import random
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sheetgen.untrusted import (
    MAX_FILLED_CELLS,
    MAX_STYLE_RECORDS,
    OLE2_MAGIC,
    RefusedWorkbook,
    guard_foreign,
    guard_workbook,
)
from tests.conftest import ROOT
from tests.test_hostile_input import peak_of

EXAMPLE = ROOT / "examples" / "backprop-by-hand.xlsx"
PEAK_MB = 500
ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def _with_part(path: Path, name: str, data: bytes) -> Path:
    """The example workbook with one part replaced."""
    with zipfile.ZipFile(EXAMPLE) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, data if info.filename == name else source.read(info.filename))
    return path


def _styles(records: int) -> bytes:
    """A styles part with `records` cell formats, varied so that it packs about 30 times (a
    part that packs better is refused for that alone)."""
    rng = random.Random(2)
    xfs = "".join(
        f'<xf numFmtId="{rng.randint(0, 200)}" fontId="0" fillId="0" borderId="0" xfId="0" '
        f'applyNumberFormat="{rng.randint(0, 1)}"/>'
        for _ in range(records)
    )
    with zipfile.ZipFile(EXAMPLE) as book:
        styles = book.read("xl/styles.xml").decode()
    head, rest = styles.split("<cellXfs", 1)
    tail = rest.split("</cellXfs>", 1)[1]
    return f'{head}<cellXfs count="{records}">{xfs}</cellXfs>{tail}'.encode()


def _sheet_without_references(cells: int) -> bytes:
    """A worksheet of `cells` numbers in rows of 500, no cell naming its reference, so that no
    used range says how many there are."""
    values = np.random.default_rng(1).integers(0, 1000, cells).astype(str)
    rows = [
        "<row>" + "".join(f"<c><v>{v}</v></c>" for v in values[i : i + 500]) + "</row>"
        for i in range(0, cells, 500)
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet '
        'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + "".join(rows)
        + "</sheetData></worksheet>"
    ).encode()


def _ods(path: Path, rows: str) -> Path:
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NS} office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Sheet1">{rows}'
        "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet")
        package.writestr("content.xml", content)
    return path


REPEATED_VALUES = (
    '<table:table-row table:number-rows-repeated="1000000"><table:table-cell '
    'office:value-type="float" office:value="0.5" table:number-columns-repeated="200"/></table:table-row>'
)
# how LibreOffice itself ends a sheet: the rest of its rows, repeated and empty
EMPTY_PADDING = (
    '<table:table-row><table:table-cell office:value-type="float" office:value="0.5"/>'
    '<table:table-cell table:number-columns-repeated="1023"/></table:table-row>'
    '<table:table-row table:number-rows-repeated="1048575">'
    '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
)


def _hostile(kind: str, folder: Path) -> tuple[Path, str]:
    """A hostile file and the reason its one line must give."""
    if kind == "600,000 formats":
        path = _with_part(folder / "styles.xlsx", "xl/styles.xml", _styles(600_000))
        return path, f"declares more than {MAX_STYLE_RECORDS:,} xf records"
    if kind == "cells without references":
        sheet = next(n for n in zipfile.ZipFile(EXAMPLE).namelist() if n.startswith("xl/worksheets/sheet"))
        path = _with_part(folder / "cells.xlsx", sheet, _sheet_without_references(MAX_FILLED_CELLS + 500))
        return path, f"holds {MAX_FILLED_CELLS + 500:,} cells; sheetgen reads at most {MAX_FILLED_CELLS:,}"
    if kind == "a row repeated a million times":
        return _ods(folder / "repeat.ods", REPEATED_VALUES), "content.xml declares more than 10,000,000 cells"
    path = folder / "table.xls"
    path.write_text("<html><body><table>" + "<tr><td>0.5</td></tr>" * 200_000 + "</table></body></html>")
    return path, "neither a zip package nor an Excel 97-2003 file (HTML or XML)"


# verify reads .xlsx only (sheetgen writes nothing else); check takes every format
CASES = [
    ("600,000 formats", "check"),
    ("600,000 formats", "verify"),
    ("cells without references", "check"),
    ("cells without references", "verify"),
    ("a row repeated a million times", "check"),
    ("HTML named .xls", "check"),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind, command", CASES)
def test_small_files_that_declare_too_much_are_one_line_in_bounded_memory(tmp_path, kind, command):
    path, reason = _hostile(kind, tmp_path)
    code, output, peak = peak_of(command, path)
    assert code == 2, output
    assert output.count("\n") == 1 and output.startswith("Error: ") and reason in output, output
    assert "Traceback" not in output
    assert peak < PEAK_MB, f"{kind}: {command} peaked at {peak:.0f} MB"


def test_a_styles_part_within_excels_limit_passes(tmp_path):
    guard_workbook(_with_part(tmp_path / "styles.xlsx", "xl/styles.xml", _styles(2_000)))


def test_cells_are_counted_across_chunk_boundaries(tmp_path, monkeypatch):
    """The count is exact whatever the chunk boundaries cut: every position tried."""
    monkeypatch.setattr("sheetgen.untrusted._CHUNK", 7)
    monkeypatch.setattr("sheetgen.untrusted._PASSED", {})
    sheet = next(n for n in zipfile.ZipFile(EXAMPLE).namelist() if n.startswith("xl/worksheets/sheet"))
    survey = guard_workbook(_with_part(tmp_path / "few.xlsx", sheet, _sheet_without_references(1_234)))
    assert survey.filled == 1_234


@pytest.mark.parametrize(
    "name, make, refused",
    [
        ("padded.ods", lambda p: _ods(p, EMPTY_PADDING), None),
        ("repeat.ods", lambda p: _ods(p, REPEATED_VALUES), "declares more than 10,000,000 cells"),
        (
            "digits.ods",
            lambda p: _ods(p, '<table:table-row table:number-rows-repeated="' + "9" * 5000 + '"/>'),
            "repeats a row or cell '99999999999999999999' times",
        ),
        ("real.xls", lambda p: p.write_bytes(OLE2_MAGIC + bytes(4096)), None),
        ("text.xls", lambda p: p.write_text("a,b\n1,2\n"), "neither a zip package nor an Excel 97-2003 file"),
        ("big.xls", lambda p: p.write_bytes(OLE2_MAGIC + bytes(65 * 2**20)), "reads an Excel 97-2003"),
    ],
)
def test_files_libreoffice_converts_are_guarded_first(tmp_path, name, make, refused):
    path = tmp_path / name
    make(path)
    if refused is None:
        guard_foreign(path)
        return
    with pytest.raises(RefusedWorkbook, match="is not a readable workbook") as caught:
        guard_foreign(path)
    assert refused in str(caught.value)


@pytest.fixture(scope="module")
def typed_table(tmp_path_factory) -> Path:
    """A hand-made table pasted as values, rounded to 6 significant digits, as students do."""
    import openpyxl

    from tests.excel_saved import picture, write_excel_saved
    from tests.handmade import layout_block

    folder = tmp_path_factory.mktemp("typed")
    source = write_excel_saved(folder / "source.xlsx", "block", layout_block({}), picture(folder / "p.png"))
    book = openpyxl.load_workbook(source, data_only=True)
    for row in book["Backprop"].iter_rows():
        for cell in row:
            if isinstance(cell.value, float):
                cell.value = float(f"{cell.value:.6g}")
    book.save(folder / "typed.xlsx")
    return folder / "typed.xlsx"


@pytest.mark.slow
@pytest.mark.parametrize("column", ["w1", "w5", "net_h1", "dE/dw5"])
@pytest.mark.parametrize("typed", [0.0, 1e30, float("inf"), "abc"])
def test_one_cell_typed_wrong_in_a_typed_table_never_passes(typed_table, tmp_path, column, typed):
    """One cell of one row typed as 0, 1e30, inf or text (which LibreOffice reads as 0): the
    table must not be "right"; check names the cell, says the column could not be checked, or
    finds no table it can read (exit 2). Never OK."""
    import openpyxl

    from sheetgen.analyse.check import NoTableError, check_workbook

    book = openpyxl.load_workbook(typed_table)
    sheet = book["Backprop"]
    header = {sheet.cell(30, col).value: col for col in range(1, 60) if sheet.cell(30, col).value}
    sheet.cell(40, header[column]).value = typed
    path = tmp_path / "one-bad-cell.xlsx"
    book.save(path)
    try:
        report = check_workbook(path)
    except NoTableError:
        return  # exit 2: not a pass
    assert not report.ok
    (table,) = report.tables
    flagged = {c.first_cell for c in table.mistakes}
    unchecked = {c.label for c in table.columns if c.status == "not checked"}
    assert flagged or unchecked
