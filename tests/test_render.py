"""What a person sees: every shipped template's workbook, a bigger network's and a run's MNIST
sheets, printed to PDF by LibreOffice and checked page by page without eyes.

- no picture or chart sits on a cell that holds something (from the drawing anchors), and on
  the printed pages no picture covers any text;
- everything on a page lies within the page and prints at a legible size;
- every chart part carries its data points as a cache, equal to the cells it refers to;
- every sheet prints A4 landscape, header rows repeated where there is a table.
"""

import os
import posixpath
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import openpyxl
import pytest
from xlsxwriter.utility import xl_cell_to_rowcol

from sheetgen.analyse.recalc import to_pdf_many
from sheetgen.runs.export import build_run_workbook
from sheetgen.runs.mnist_sheets import METRICS_SHEET, TABLE_HEADER_ROW
from sheetgen.runs.training import read_run
from sheetgen.workbook.layout import GROUP_ROW, HEADER_ROW
from sheetgen.workbook.spec import load_spec, spec_from_dict
from sheetgen.workbook.writer import build_workbook
from tests.conftest import ROOT, require_libreoffice
from tests.run_fixtures import write_run_dir

TEMPLATES = sorted(p.stem for p in (ROOT / "templates").glob("*.toml"))
# three hidden layers (tanh, ReLU, identity) and a softmax output: the broken case
DEEP = {
    "name": "deep",
    "description": "3 hidden layers (tanh, ReLU, identity), softmax output",
    "loss": "cross_entropy",
    "data": {"inputs": [[0.05, 0.1, 0.2]], "targets": [[0, 1, 0]]},
    "init": {"seed": 3, "scale": 0.5},
    "layers": [
        {"units": 4, "activation": "tanh", "weights": "random", "bias": "random"},
        {"units": 4, "activation": "relu", "weights": "random", "bias": "random"},
        {"units": 3, "activation": "identity", "weights": "random"},
        {"units": 3, "activation": "softmax", "weights": "random", "bias": "random"},
    ],
    "training": {"learning_rates": [0.5], "iterations": 30},
}
# eight units a layer: a picture taller than a page at full size, shown smaller
WIDE = {
    **DEEP,
    "name": "wide",
    "description": "6-8-8-6, sigmoid and tanh",
    "loss": "half_squared_error",
    "data": {"inputs": [[0.1 * k for k in range(1, 7)]], "targets": [[0.5] * 6]},
    "layers": [
        {"units": 8, "activation": "sigmoid", "weights": "random", "bias": "random"},
        {"units": 8, "activation": "tanh", "weights": "random", "bias": "random"},
        {"units": 6, "activation": "sigmoid", "weights": "random"},
    ],
    "training": {"learning_rates": [0.5], "iterations": 3},
}
BOOKS = TEMPLATES + ["deep", "wide", "mnist"]
SMALLEST_FONT_PT = 6  # poppler rounds sizes to whole points; 11 pt at 70% prints at 7.7
NS = {
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "xdr": "http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing",
    "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "main": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "rel": "http://schemas.openxmlformats.org/package/2006/relationships",
}


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    folder = tmp_path_factory.mktemp("render")
    paths = {}
    for name in TEMPLATES:
        paths[name] = folder / f"{name}.xlsx"
        build_workbook(load_spec(ROOT / "templates" / f"{name}.toml"), paths[name])
    for name, spec in (("deep", DEEP), ("wide", WIDE)):
        paths[name] = folder / f"{name}.xlsx"
        build_workbook(spec_from_dict(spec), paths[name])
    run = read_run(write_run_dir(folder / "run", epochs=15))
    paths["mnist"] = folder / "mnist.xlsx"
    build_run_workbook(
        load_spec(ROOT / "templates" / "seed.toml").with_training([0.8], 20), paths["mnist"], run
    )
    return paths


@pytest.fixture(scope="module")
def opened(books):
    """Each book opened once with openpyxl: (formulas and settings, cached values)."""
    cache = {}

    def open_book(name):
        if name not in cache:
            cache[name] = (
                openpyxl.load_workbook(books[name]),
                openpyxl.load_workbook(books[name], data_only=True),
            )
        return cache[name]

    return open_book


@pytest.fixture(scope="module")
def pages(books, tmp_path_factory):
    """Per book, its printed pages: (width, height, texts, images), boxes in points."""
    require_libreoffice()
    missing = []
    if shutil.which("pdftohtml") is None:
        missing.append("poppler-utils (pdftohtml)")
    # Column widths are counted in the default font's digits: without Calibri or its metric
    # twin Carlito, LibreOffice lays every sheet out a quarter wider than Excel does.
    match = (
        subprocess.run(
            ["fc-match", "-f", "%{family}", "Calibri"], capture_output=True, text=True, check=False
        )
        if shutil.which("fc-match")
        else None
    )
    if match is None or not re.search("Calibri|Carlito", match.stdout):
        missing.append("fonts-crosextra-carlito (Calibri's metrics)")
    if missing:
        message = f"to print as Excel does, install: apt-get install {' '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("pdf")
    pdfs = to_pdf_many(list(books.values()), folder)
    result = {}
    for name, pdf in zip(books, pdfs):
        subprocess.run(["pdftohtml", "-xml", "-zoom", "1", "-q", str(pdf), str(folder / name)], check=True)
        root = ET.parse(folder / f"{name}.xml").getroot()
        sizes = {f.get("id"): int(f.get("size")) for f in root.iter("fontspec")}
        result[name] = [
            (
                int(page.get("width")),
                int(page.get("height")),
                [(_box(t), sizes[t.get("font")], "".join(t.itertext())) for t in page.iter("text")],
                [_box(i) for i in page.iter("image")],
            )
            for page in root.iter("page")
        ]
    return result


def _box(element):
    left, top = float(element.get("left")), float(element.get("top"))
    return left, top, left + float(element.get("width")), top + float(element.get("height"))


def _overlap(a, b, tolerance=1.0):
    return min(a[2], b[2]) - max(a[0], b[0]) > tolerance and min(a[3], b[3]) - max(a[1], b[1]) > tolerance


def _sheet_parts(package: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name -> its worksheet part, from the workbook's relationships."""
    workbook = ET.fromstring(package.read("xl/workbook.xml"))
    rels = ET.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels}
    return {
        s.get("name"): "xl/" + targets[s.get(f"{{{NS['r']}}}id")]
        for s in workbook.iter(f"{{{NS['main']}}}sheet")
    }


def _related(package, part: str, kind: str) -> list[str]:
    rels = f"{Path(part).parent}/_rels/{Path(part).name}.rels"
    if rels not in package.namelist():
        return []
    found = []
    for r in ET.fromstring(package.read(rels)):
        if r.get("Type").endswith("/" + kind):
            found.append(posixpath.normpath(posixpath.join(posixpath.dirname(part), r.get("Target"))))
    return found


def _anchors(package, sheet_part: str):
    """(kind, first row, first col, last row, last col) of each picture and chart, 0-based."""
    for drawing in _related(package, sheet_part, "drawing"):
        root = ET.fromstring(package.read(drawing))
        for anchor in root.findall("xdr:twoCellAnchor", NS):
            start, end = anchor.find("xdr:from", NS), anchor.find("xdr:to", NS)

            def cell(point, what):
                return int(point.find(f"xdr:{what}", NS).text)

            kind = "picture" if anchor.find("xdr:pic", NS) is not None else "chart"
            # a "to" cell entered by zero pixels is not covered
            last_row = cell(end, "row") - (cell(end, "rowOff") == 0)
            last_col = cell(end, "col") - (cell(end, "colOff") == 0)
            yield kind, cell(start, "row"), cell(start, "col"), last_row, last_col


@pytest.mark.slow
@pytest.mark.parametrize("name", BOOKS)
def test_no_picture_or_chart_sits_on_a_cell_with_content(books, opened, name):
    book, _ = opened(name)
    with zipfile.ZipFile(books[name]) as package:
        parts = _sheet_parts(package)
        checked = 0
        for sheet, part in parts.items():
            ws = book[sheet]
            for kind, row0, col0, row1, col1 in _anchors(package, part):
                covered = [
                    cell.coordinate
                    for row in ws.iter_rows(
                        min_row=row0 + 1, max_row=row1 + 1, min_col=col0 + 1, max_col=col1 + 1
                    )
                    for cell in row
                    if cell.value is not None
                ]
                assert covered == [], f"{sheet}: the {kind} covers {covered}"
                checked += 1
    assert checked >= 2  # the diagram and at least one chart were found and checked


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", BOOKS)
def test_no_picture_covers_text_on_the_printed_pages(pages, name):
    images = 0
    for number, (_, _, texts, pictures) in enumerate(pages[name], start=1):
        for picture in pictures:
            images += 1
            covered = [text for box, _, text in texts if _overlap(box, picture)]
            assert covered == [], f"page {number}: a picture covers {covered}"
    assert images >= 1  # the diagram was printed


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", BOOKS)
def test_every_page_holds_its_content_at_a_legible_size(pages, name):
    for number, (width, height, texts, pictures) in enumerate(pages[name], start=1):
        inside = (-1, -1, width + 1, height + 1)
        for box in [box for box, _, _ in texts] + pictures:
            assert (
                box[0] >= inside[0] and box[1] >= inside[1] and box[2] <= inside[2] and box[3] <= inside[3]
            ), f"page {number}: {box} runs off the page"
        small = [(size, text) for _, size, text in texts if size < SMALLEST_FONT_PT]
        assert small == [], f"page {number}: text printed below {SMALLEST_FONT_PT} pt"


def _cells(ws, formula: str) -> list:
    """The cached values of a chart series' range, e.g. 'lr 0.8'!$A$28:$A$128."""
    _, cells = formula.rsplit("!", 1)
    first, last = cells.replace("$", "").split(":")
    (r0, c0), (r1, c1) = xl_cell_to_rowcol(first), xl_cell_to_rowcol(last)
    return [
        row[0]
        for row in ws.iter_rows(
            min_row=r0 + 1, max_row=r1 + 1, min_col=c0 + 1, max_col=c1 + 1, values_only=True
        )
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", BOOKS)
def test_every_chart_carries_its_points_as_a_cache(books, opened, name):
    _, values = opened(name)
    with zipfile.ZipFile(books[name]) as package:
        charts = [n for n in package.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        assert charts
        for part in charts:
            root = ET.fromstring(package.read(part))
            series = root.findall(".//c:ser", NS)
            assert series, part
            for ser in series:
                for axis in ("c:xVal", "c:yVal"):
                    ref = ser.find(f"{axis}/c:numRef", NS)
                    formula = ref.find("c:f", NS).text
                    cache = ref.find("c:numCache", NS)
                    count = int(cache.find("c:ptCount", NS).get("val"))
                    points = [float(p.find("c:v", NS).text) for p in cache.findall("c:pt", NS)]
                    sheet = formula.rsplit("!", 1)[0].strip("'")
                    expected = _cells(values[sheet], formula)
                    assert count == len(points) == len(expected) > 0, (part, formula)
                    assert points == pytest.approx(expected, rel=1e-15), (part, formula)


@pytest.mark.slow
@pytest.mark.parametrize("name", BOOKS)
def test_every_sheet_prints_a4_landscape_with_its_headers(opened, name):
    book, _ = opened(name)
    for ws in book.worksheets:
        if ws.sheet_state != "visible":
            continue
        assert ws.page_setup.orientation == "landscape", ws.title
        assert int(ws.page_setup.paperSize) == 9, ws.title  # A4
        fitted = bool(ws.sheet_properties.pageSetUpPr and ws.sheet_properties.pageSetUpPr.fitToPage)
        if fitted:
            assert ws.page_setup.fitToWidth in (1, None) and ws.page_setup.fitToHeight == 0
        else:
            assert int(ws.page_setup.scale) >= 70, ws.title
        if ws.title.startswith("lr "):
            # the group and header rows on every page; 34 or more columns print across
            # pages at a legible scale, the iteration column on each
            assert ws.print_title_rows == f"${GROUP_ROW + 1}:${HEADER_ROW + 1}", ws.title
            assert not fitted and ws.print_title_cols == "$A:$A", ws.title
        if ws.title == METRICS_SHEET:
            assert ws.print_title_rows == f"${TABLE_HEADER_ROW + 1}:${TABLE_HEADER_ROW + 1}"
