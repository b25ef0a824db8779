"""What a person sees: every shipped template's workbook, a bigger network's, and the default
workbook with a run's MNIST sheets (the live CNN's included), printed to PDF by LibreOffice and
checked page by page without eyes.

- no picture or chart sits on a cell that holds something (from the drawing anchors), and on
  the printed pages no picture covers any text;
- every page is A4 landscape; everything on it lies within it, no text under 6 pt;
- the live CNN's sheets break pages between their blocks (a row of feature maps, a channel's
  kernels, a row of digit pictures), never through one; the default Network sheet is one page;
- a column repeated on every printed page holds only text that fits it;
- every chart part carries its data points, and the texts its titles and names refer to, as a
  cache equal to the cells; a title that names η follows an edit of η;
- every sheet is set up for A4 landscape, header rows repeated where there is a table.
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
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from sheetgen.analyse.recalc import recalculate, to_pdf_many
from sheetgen.runs.export import build_run_workbook
from sheetgen.runs.live_layout import DIGITS_SHEET, LIVE_SHEET, WEIGHTS_SHEET, LiveLayout
from sheetgen.runs.mnist_sheets import METRICS_SHEET, TABLE_HEADER_ROW
from sheetgen.runs.training import read_run
from sheetgen.workbook.layout import CHART_TITLE_COL, CHART_TITLE_ROW, GROUP_ROW, HEADER_ROW, LEGEND_NAME_COL
from sheetgen.workbook.spec import load_spec, spec_from_dict
from sheetgen.workbook.writer import build_workbook
from tests.conftest import ROOT, require_libreoffice
from tests.run_fixtures import write_run_dir

TEMPLATES = sorted(p.stem for p in (ROOT / "templates").glob("*.toml"))
# three hidden layers (tanh, ReLU, identity) and a softmax output: a picture that once overlapped
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
SMALLEST_FONT_PT = 6  # 11 pt at 70% prints at 7.7, 9 pt at 6.3
ZOOM = 3  # pdftohtml's largest: it rounds font sizes to whole units, here a third of a point
A4_LANDSCAPE = (841.89, 595.28)  # points
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
    # the default workbook with a run's sheets, the live CNN's included
    run = read_run(write_run_dir(folder / "run", epochs=15, live=True))
    paths["mnist"] = folder / "mnist.xlsx"
    build_run_workbook(load_spec(), paths["mnist"], run)
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
        subprocess.run(
            ["pdftohtml", "-xml", "-zoom", str(ZOOM), "-q", str(pdf), str(folder / name)], check=True
        )
        root = ET.parse(folder / f"{name}.xml").getroot()
        sizes = {f.get("id"): int(f.get("size")) / ZOOM for f in root.iter("fontspec")}
        info = subprocess.run(
            ["pdfinfo", "-f", "1", "-l", "100000", str(pdf)], capture_output=True, text=True, check=True
        ).stdout
        page_sizes = [
            (float(w), float(h)) for w, h in re.findall(r"Page +\d+ size: +([\d.]+) x ([\d.]+) pts", info)
        ]
        result[name] = [
            (
                *page_sizes[int(page.get("number")) - 1],
                [(_box(t), sizes[t.get("font")], "".join(t.itertext())) for t in page.iter("text")],
                [_box(i) for i in page.iter("image")],
            )
            for page in root.iter("page")
        ]
    return result


def _box(element):
    """An element's box in points."""
    left, top = float(element.get("left")) / ZOOM, float(element.get("top")) / ZOOM
    return left, top, left + float(element.get("width")) / ZOOM, top + float(element.get("height")) / ZOOM


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
def test_every_page_is_a4_landscape(pages, name):
    for number, (width, height, _, _) in enumerate(pages[name], start=1):
        assert (width, height) == pytest.approx(A4_LANDSCAPE, abs=0.1), f"page {number}"


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", BOOKS)
def test_every_page_holds_its_content_at_a_legible_size(pages, name):
    for number, (width, height, texts, pictures) in enumerate(pages[name], start=1):
        inside = (-1, -1, width + 1, height + 1)
        for box in [box for box, _, _ in texts] + pictures:
            assert (
                box[0] >= inside[0] and box[1] >= inside[1] and box[2] <= inside[2] and box[3] <= inside[3]
            ), f"page {number}: {box} runs off the page"
        small = [(round(size, 2), text) for _, size, text in texts if size < SMALLEST_FONT_PT]
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
            # a title or series name that refers to a cell caches that cell's text
            for ref in root.findall(".//c:tx/c:strRef", NS):
                formula = ref.find("c:f", NS).text
                sheet, cell = formula.rsplit("!", 1)
                row, col = xl_cell_to_rowcol(cell.replace("$", ""))
                cached = [p.find("c:v", NS).text for p in ref.findall("c:strCache/c:pt", NS)]
                assert cached == [values[sheet.strip("'")].cell(row + 1, col + 1).value], (part, formula)
            for ser in series:
                # a scatter chart's x and y values, or a column chart's categories and values
                refs = [ser.find(f"{axis}/c:numRef", NS) for axis in ("c:xVal", "c:yVal", "c:cat", "c:val")]
                assert len([r for r in refs if r is not None]) == 2, part
                for ref in filter(None, refs):
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
        assert int(ws.page_setup.paperSize) == 9, ws.title  # A4, the hidden record's too
        if ws.sheet_state != "visible":
            continue
        assert ws.page_setup.orientation == "landscape", ws.title
        fitted = bool(ws.sheet_properties.pageSetUpPr and ws.sheet_properties.pageSetUpPr.fitToPage)
        if fitted:
            # one page wide and as long as it takes; the Network sheet may be one page
            one_page = ws.title == "Network" and ws.page_setup.fitToHeight in (1, None)  # 1 by default
            assert ws.page_setup.fitToWidth in (1, None) and (ws.page_setup.fitToHeight == 0 or one_page)
        else:
            assert int(ws.page_setup.scale) >= 70, ws.title
        if ws.title.startswith("lr "):
            # the group and header rows on every page; 34 or more columns print across
            # pages at a legible scale, the iteration column on each
            assert ws.print_title_rows == f"${GROUP_ROW + 1}:${HEADER_ROW + 1}", ws.title
            assert not fitted and ws.print_title_cols == "$A:$A", ws.title
        if ws.title == METRICS_SHEET:
            assert ws.print_title_rows == f"${TABLE_HEADER_ROW + 1}:${TABLE_HEADER_ROW + 1}"


def _first_text(texts) -> str:
    """The text a page starts with: the topmost line's leftmost piece."""
    top = min(box[1] for box, _, _ in texts)
    line = [(box[0], text) for box, _, text in texts if box[1] - top < 2]
    return min(line)[1]


def _sheet_pages(pages, title: str, next_title: str | None) -> list:
    """The printed pages of one sheet: from the page that starts with its title to the one
    before the page that starts with the next sheet's title."""
    starts = [_first_text(texts) if texts else "" for _, _, texts, _ in pages]
    first = next(i for i, text in enumerate(starts) if text.startswith(title))
    last = len(pages)
    if next_title is not None:
        last = next(i for i, text in enumerate(starts) if i > first and text.startswith(next_title))
    return pages[first:last]


def _row_breaks(package: zipfile.ZipFile, part: str) -> list[int]:
    """The manual page breaks of a sheet part: the 0-based first rows of pages after the first."""
    root = ET.fromstring(package.read(part))
    return [int(b.get("id")) for b in root.findall("main:rowBreaks/main:brk", NS)]


def _blocks(layout: LiveLayout) -> dict[str, list[tuple[int, int]]]:
    """Per live sheet, the (first, last) rows that a page must not cut."""
    live = [
        (label_row, label_row + band.side)
        for band in [*layout.convs, layout.pool, layout.input_band]
        for label_row in band.label_rows
    ]
    weights = [(top - 1, top + 2) for top, _ in layout.kernel_origins.values()]  # a kernel with its label
    digits = [
        (layout.digit_caption_row(n), layout.digit_caption_row(n) + 28)
        for n in range(1, layout.digit_count + 1)
    ]
    return {LIVE_SHEET: live, WEIGHTS_SHEET: weights, DIGITS_SHEET: digits}


# each live sheet's printed title, and the next sheet's
LIVE_SHEET_TITLES = [
    (LIVE_SHEET, "The trained CNN, live", "The trained network's weights"),
    (WEIGHTS_SHEET, "The trained network's weights", "The 100 stored test digits"),
    (DIGITS_SHEET, "The 100 stored test digits", None),
]


@pytest.mark.libreoffice
def test_no_feature_map_kernel_or_digit_is_cut_by_a_page(books, opened, pages):
    """The live CNN's sheets print at a legible scale with page breaks between their blocks:
    no break falls inside a row of feature maps, a kernel or a digit's picture, and
    LibreOffice prints exactly those pages (no page of its own in between, none to the side),
    each starting with the text of the row its break is before."""
    book, _ = opened("mnist")
    layout = LiveLayout.for_network(read_run(books["mnist"].parent / "run").live)
    blocks = _blocks(layout)
    with zipfile.ZipFile(books["mnist"]) as package:
        parts = _sheet_parts(package)
        for sheet, title, next_title in LIVE_SHEET_TITLES:
            breaks = _row_breaks(package, parts[sheet])
            assert breaks, sheet
            cut = [(b, block) for b in breaks for block in blocks[sheet] if block[0] < b <= block[1]]
            assert cut == [], f"{sheet}: a page break cuts {cut[:3]}"
            printed = _sheet_pages(pages["mnist"], title, next_title)
            assert len(printed) == len(breaks) + 1, sheet
            ws = book[sheet]
            for row, (_, _, texts, _) in zip(breaks, printed[1:]):
                first = next(c.value for c in ws[row + 1] if c.value is not None)
                assert _first_text(texts).startswith(str(first)), (sheet, row, first)
    # the live sheet: each layer starts a page unless it fits whole where the last one ends
    live_pages = [
        _first_text(texts) for _, _, texts, _ in _sheet_pages(pages["mnist"], *LIVE_SHEET_TITLES[0][1:])
    ]
    assert live_pages[1:3] == ["conv1", "conv1 ch7"]


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", ["seed", "mnist"])
def test_the_default_network_sheet_prints_on_one_page(pages, name):
    printed = _sheet_pages(pages[name], "The network: seed", "Every learning rate side by side")
    assert len(printed) == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", BOOKS)
def test_a_column_repeated_on_every_page_holds_only_text_that_fits_it(opened, name):
    """A learning-rate sheet repeats its iteration column on every printed page: above the
    table it holds only short labels, not the start of a title or a note cut off."""
    book, _ = opened(name)
    checked = 0
    for ws in book.worksheets:
        if not ws.print_title_cols:
            continue
        letter = ws.print_title_cols.split(":")[0].strip("$")
        width = ws.column_dimensions[letter].width
        long = [
            (cell.coordinate, cell.value)
            for cell in ws[letter]
            if isinstance(cell.value, str) and len(cell.value) > width - 1
        ]
        assert long == [], f"{ws.title}: {long} do not fit column {letter} ({width:.1f} characters)"
        checked += 1
    assert checked >= 1


@pytest.mark.libreoffice
def test_titles_that_name_eta_follow_an_edit_of_eta(books, tmp_path):
    """η typed as 2 on 'lr 0.8' (its cell patched in the file), recalculated by LibreOffice:
    the sheet's title, its chart's title and its name in the Overview's legend say η = 2, for
    the chart's title and the legend refer to cells of formulas that name the η cell."""
    sheet = "lr 0.8"
    with zipfile.ZipFile(books["seed"]) as package:
        part = _sheet_parts(package)[sheet]
        parts = {n: package.read(n) for n in package.namelist()}
        titles = {
            n: ET.fromstring(parts[n]).find("c:chart/c:title/c:tx/c:strRef/c:f", NS)
            for n in parts
            if re.fullmatch(r"xl/charts/chart\d+\.xml", n)
        }
        names = [
            f.text
            for n in parts
            if re.fullmatch(r"xl/charts/chart\d+\.xml", n)
            for f in ET.fromstring(parts[n]).findall(".//c:ser/c:tx/c:strRef/c:f", NS)
        ]
    title_cell = f"'{sheet}'!" + xl_rowcol_to_cell(CHART_TITLE_ROW, CHART_TITLE_COL, True, True)
    legend_cell = f"'{sheet}'!" + xl_rowcol_to_cell(CHART_TITLE_ROW, LEGEND_NAME_COL, True, True)
    assert title_cell in [t.text for t in titles.values() if t is not None]
    assert legend_cell in names
    edited, count = re.subn(rb'(<c r="B5"[^>]*><v>)0.8(</v>)', rb"\g<1>2\g<2>", parts[part])
    assert count == 1
    path = tmp_path / "eta.xlsx"
    with zipfile.ZipFile(path, "w") as package:
        for name, data in {**parts, part: edited}.items():
            package.writestr(name, data)
    ws = openpyxl.load_workbook(recalculate(path, tmp_path / "lo"), data_only=True)[sheet]
    assert ws["B1"].value == "Backpropagation with η = 2: seed, 100 updates"
    assert (
        ws.cell(CHART_TITLE_ROW + 1, CHART_TITLE_COL + 1).value == "E_total per iteration, η = 2 (log scale)"
    )
    assert ws.cell(CHART_TITLE_ROW + 1, LEGEND_NAME_COL + 1).value == "η = 2"
    assert ws.row_dimensions[CHART_TITLE_ROW + 1].hidden


@pytest.mark.libreoffice
def test_printed_charts_name_eta(pages):
    """The printed Overview's legend names every η (its names are in hidden rows, which a
    chart that plots visible cells only would not read: LibreOffice then names a series after
    its column), and a learning-rate sheet's chart prints its title."""
    overview = _sheet_pages(pages["seed"], "Every learning rate side by side", "Backpropagation with")
    texts = {text for _, _, page_texts, _ in overview for _, _, text in page_texts}
    assert {f"η = {rate}" for rate in ("0.1", "0.2", "0.5", "0.8", "1", "2")} <= texts
    rate = _sheet_pages(pages["seed"], "Backpropagation with η = 0.8", "Backpropagation with η = 1")
    assert "E_total per iteration, η = 0.8 (log scale)" in {text for _, _, t, _ in rate for _, _, text in t}
