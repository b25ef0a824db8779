"""check's findings marked on a copy of the student's workbook: the mistake's first cell red with
a comment, what follows from it light red, a first sheet `check` with links; every part of the
package the annotation need not change byte for byte as it was, the original untouched, the
copy valid Open XML that LibreOffice recalculates to the same values and prints with its fills
and comments."""

import hashlib
import json
import re
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from click.testing import CliRunner
from openxml_audit import OpenXmlValidator

from sheetgen.analyse.check import CheckReport, ColumnFinding, TableFinding, check_workbook
from sheetgen.analyse.feedback import AnnotateError, annotate_workbook, annotated_name, copy_names
from sheetgen.analyse.feedback.marks import marks_of
from sheetgen.analyse.feedback.styles import FOLLOWS_FILL, MISTAKE_FILL
from sheetgen.analyse.feedback.worksheet import format_edits, read_sheet
from sheetgen.analyse.feedback.xmlparts import splice, xstring
from sheetgen.analyse.recalc import _run, recalculate_many, to_pdf
from sheetgen.cli import main
from sheetgen.files import OutputError
from tests.conftest import require_libreoffice
from tests.excel_saved import picture, write_excel_saved
from tests.handmade import layout_block, write_workbook

SLOPE = {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 3)}  # δ_h2 takes out_h1's slope from iteration 3 on
PLAN = layout_block(SLOPE)["Backprop"][0]
SLOPE_MISTAKE = "uses out_h1's slope out_h1·(1−out_h1) where out_h2's belongs"


def _refs(name: str) -> list[str]:
    return [PLAN.cell(name, i) for i in range(PLAN.rows)]


def _column(label, status, first=None, name=None, **more) -> ColumnFinding:
    refs = _refs(name) if name else []
    return ColumnFinding(("q",), label, "", status, len(refs), 0.0, first_cell=first, refs=refs, **more)


def _report(path, sheet="Backprop", columns=None) -> CheckReport:
    """Findings as check reports them, written out: δ_h2 wrong from Z34, dE/dw3 and w3 following
    it, w1 not checked."""
    columns = columns or [
        _column("w1", "not checked", reason="no η found"),
        _column("w3", "follows", PLAN.cell("w3", 4), "w3", follows_from="δ_h2"),
        _column(
            "δ_h2",
            "wrong",
            PLAN.cell("dh2", 3),
            "dh2",
            wrong_cells=23,
            formula="=X34*K34*(1-K34)",
            value=0.00703737,
            expected=0.00703553,
            mistake=SLOPE_MISTAKE,
        ),
        _column("dE/dw3", "follows", PLAN.cell("g3", 3), "g3", follows_from="δ_h2"),
    ]
    table = TableFinding(sheet, 30, 31, 56, "2-2-2", {}, columns)
    return CheckReport(Path(path), [table], False, [])


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("student")
    return write_excel_saved(folder / "student.xlsx", "block", layout_block(SLOPE), picture(folder / "p.png"))


@pytest.fixture(scope="module")
def annotated(student, tmp_path_factory) -> Path:
    return annotate_workbook(_report(student), student, tmp_path_factory.mktemp("copy") / "copy.xlsx")


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _fill(cell) -> str | None:
    return cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None


# ---------------------------------------------------------------------------------------------
# what is marked


def test_marks_follow_the_findings():
    marks = marks_of(_report("x.xlsx"))["Backprop"]
    assert list(marks.starts) == ["Z34"]
    assert marks.follows == set(_refs("dh2")[4:]) | set(_refs("g3")[3:]) | set(_refs("w3")[4:])
    note = marks.starts["Z34"]
    for part in ("δ_h2 goes wrong here", "gives 0.00703737", "should be 0.00703553", SLOPE_MISTAKE):
        assert part in note


# (case, sheetData, cells to mark -> format, expected sheetData)
FORMAT_CASES = [
    (
        "style replaced",
        '<row r="2"><c r="B2" s="3"><v>1</v></c></row>',
        {"B2": 9},
        '<row r="2"><c r="B2" s="9"><v>1</v></c></row>',
    ),
    (
        "style added",
        '<row r="2"><c r="B2" t="s"><v>0</v></c></row>',
        {"B2": 9},
        '<row r="2"><c s="9" r="B2" t="s"><v>0</v></c></row>',
    ),
    (
        "absent cell between two",
        '<row r="2"><c r="A2"/><c r="D2"/></row>',
        {"C2": 9, "B2": 8},
        '<row r="2"><c r="A2"/><c r="B2" s="8"/><c r="C2" s="9"/><c r="D2"/></row>',
    ),
    (
        "absent cell at the end",
        '<row r="2"><c r="A2"/></row>',
        {"C2": 9},
        '<row r="2"><c r="A2"/><c r="C2" s="9"/></row>',
    ),
    ("empty row", '<row r="2"/>', {"B2": 9}, '<row r="2"><c r="B2" s="9"/></row>'),
    (
        "absent row between two",
        '<row r="1"><c r="A1"/></row><row r="4"><c r="A4"/></row>',
        {"B3": 9, "B2": 9},
        '<row r="1"><c r="A1"/></row><row r="2"><c r="B2" s="9"/></row><row r="3"><c r="B3" s="9"/></row>'
        '<row r="4"><c r="A4"/></row>',
    ),
    (
        "absent row at the end",
        '<row r="1"><c r="A1"/></row>',
        {"A5": 9},
        '<row r="1"><c r="A1"/></row><row r="5"><c r="A5" s="9"/></row>',
    ),
    ("no rows", "", {"A1": 9}, '<row r="1"><c r="A1" s="9"/></row>'),
    (
        "cells and rows without references",
        "<row><c/><c><v>2</v></c></row><row><c/><c/><c/></row>",
        {"B1": 9, "C2": 8, "A3": 7},
        '<row><c/><c s="9"><v>2</v></c></row><row><c/><c/><c s="8"/></row><row r="3"><c r="A3" s="7"/></row>',
    ),
    (
        "a quoted '>' in another attribute",
        '<row r="1"><c r="A1" t=">"/></row>',
        {"A1": 9},
        '<row r="1"><c s="9" r="A1" t=">"/></row>',
    ),
]


@pytest.mark.parametrize("case, cells, formats, expected", FORMAT_CASES, ids=[c[0] for c in FORMAT_CASES])
def test_cell_formats_are_set_in_place_and_absent_cells_created_in_order(case, cells, formats, expected):
    def sheet(data, prefix=""):
        data = data.replace("<", "<" + prefix).replace("<" + prefix + "/", "</" + prefix) if prefix else data
        ns = f'xmlns{":x" if prefix else ""}="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
        rows = f"<{prefix}sheetData>{data}</{prefix}sheetData>"
        return f"<{prefix}worksheet {ns}>{rows}</{prefix}worksheet>".encode()

    for prefix in ("", "x:"):  # the main namespace as a default, or with a prefix (Open XML SDK)
        data = sheet(cells, prefix)
        found = read_sheet(data, set(formats), "sheet1.xml")
        assert splice(data, format_edits(found, formats)).decode() == sheet(expected, prefix).decode()


@pytest.mark.parametrize(
    "text, stored",
    [
        ("a & b", "a & b"),  # markup is escaped where it is written, not here
        ("_x0041_", "_x005F_x0041_"),  # would read as "A"
        ("tab\tline\nend", "tab\tline\nend"),  # characters XML holds stay
        ("bell\x07", "bell_x0007_"),  # one it cannot hold
    ],
)
def test_text_is_stored_as_spreadsheetml_reads_it(text, stored):
    assert xstring(text) == stored


def test_copies_are_named_apart_when_submissions_share_a_name():
    root, other = Path("class"), Path("late")
    names = copy_names(
        [
            (root / "anna" / "backprop.xlsx", root),
            (root / "ben" / "backprop.xlsx", root),
            (root / "carl.ods", root),
            (Path("dora.xlsm"), None),
            (other / "carl.ods", other),
        ],
        "checked",
    )
    assert list(map(str, names.values())) == [
        "checked/anna/backprop.checked.xlsx",
        "checked/ben/backprop.checked.xlsx",
        "checked/carl.checked.xlsx",
        "checked/dora.checked.xlsm",
        "checked/carl (2).checked.xlsx",
    ]
    assert annotated_name("a/b.xls") == Path("a/b.checked.xlsx")


# ---------------------------------------------------------------------------------------------
# the copy of a workbook as Excel saves it


def test_every_part_it_need_not_change_is_byte_identical(student, annotated):
    before, after = _parts(student), _parts(annotated)
    changed = {name for name in before if before[name] != after.get(name)}
    assert changed == {
        "[Content_Types].xml",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",  # the marked sheet
        "xl/worksheets/sheet2.xml",  # 'notes': no longer the selected tab
        "xl/comments1.xml",  # the student's comment, and ours after it
        "xl/drawings/vmlDrawing1.vml",
    }
    assert set(after) - set(before) == {"xl/worksheets/sheet3.xml"}  # the check sheet
    # the chart, its drawing and relationships, the picture, theme, strings: as they were
    for name in ("xl/charts/chart1.xml", "xl/drawings/drawing1.xml", "xl/media/image1.png"):
        assert after[name] == before[name]
    with zipfile.ZipFile(student) as old, zipfile.ZipFile(annotated) as new:
        for info in old.infolist():
            copy = new.getinfo(info.filename)
            assert (copy.date_time, copy.compress_type) == (info.date_time, info.compress_type)
        assert [i.filename for i in new.infolist()][: len(before)] == [i.filename for i in old.infolist()]


def test_the_marked_sheet_changes_only_in_its_cells_formats_and_comment_printing(student, annotated):
    """Every marked cell exists in this sheet, so nothing is added: the bytes differ only in
    the cells' `s` and in the print setting for comments."""

    def without_styles(part: bytes) -> str:
        return re.sub(r' (s|cellComments)="[^"]*"', "", part.decode()).replace("<pageSetup/>", "")

    before, after = _parts(student)["xl/worksheets/sheet1.xml"], _parts(annotated)["xl/worksheets/sheet1.xml"]
    assert before != after and without_styles(before) == without_styles(after)
    assert b'cellComments="asDisplayed"' in after


def test_the_original_is_untouched(student, tmp_path):
    digest = hashlib.sha256(student.read_bytes()).hexdigest()
    annotate_workbook(_report(student), student, tmp_path / "again.xlsx")
    assert hashlib.sha256(student.read_bytes()).hexdigest() == digest


def test_marked_cells_keep_their_format_and_gain_the_fill(student, annotated):
    old, new = openpyxl.load_workbook(student)["Backprop"], openpyxl.load_workbook(annotated)["Backprop"]
    marks = marks_of(_report(student))["Backprop"]
    for row in old.iter_rows(min_row=1, max_row=PLAN.header_row + PLAN.rows):
        for cell in row:
            other = new[cell.coordinate]
            expected = MISTAKE_FILL if cell.coordinate in marks.starts else None
            expected = FOLLOWS_FILL if cell.coordinate in marks.follows else expected
            assert (cell.coordinate, _fill(other)) == (cell.coordinate, expected or _fill(cell))
            for aspect in ("font", "border", "alignment", "protection", "number_format"):
                assert repr(getattr(other, aspect)) == repr(getattr(cell, aspect))
            assert other.value == cell.value  # the formulas too


def test_the_comment_says_what_the_cell_gives_and_should_give(student, annotated):
    sheet = openpyxl.load_workbook(annotated)["Backprop"]
    comment = sheet["Z34"].comment.text
    assert comment.startswith("sheetgen check: δ_h2 goes wrong here.")
    assert "gives 0.00703737; it should be 0.00703553" in comment and SLOPE_MISTAKE in comment
    assert sheet["A1"].comment.text == "the student's own note"
    assert sum(c.comment is not None for row in sheet.iter_rows() for c in row) == 2


def test_check_is_the_first_sheet_and_the_one_selected(student, annotated):
    old, new = openpyxl.load_workbook(student), openpyxl.load_workbook(annotated)
    assert new.sheetnames == ["check", *old.sheetnames]
    assert new.active.title == "check"
    selected = [ws.title for ws in new.worksheets if ws.sheet_view.tabSelected]
    assert selected == ["check"]
    # a print area is a name local to its sheet, by position: it moved with the sheet
    assert new["Backprop"].print_area == old["Backprop"].print_area
    assert new.defined_names["Losses"].attr_text == old.defined_names["Losses"].attr_text
    assert new["Backprop"].merged_cells.ranges == old["Backprop"].merged_cells.ranges
    assert len(new["Backprop"].data_validations.dataValidation) == 1
    assert len(new["Backprop"].conditional_formatting) == 1


def test_check_sheet_lists_the_findings_with_links(annotated):
    sheet = openpyxl.load_workbook(annotated)["check"]
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[1][0].startswith("WRONG: 1 mistake in 1 of 1 table; the first at Backprop!Z34 (δ_h2)")
    mistake = next(row for row in rows if row[1] == "Z34")
    assert mistake == ["Backprop", "Z34", "δ_h2", "=X34*K34*(1-K34)", 0.00703737, 0.00703553, SLOPE_MISTAKE]
    cells = {row[1]: i + 1 for i, row in enumerate(rows) if row and row[0] == "Backprop"}
    for ref in ("Z34", "D35", "AC34"):
        assert sheet[f"B{cells[ref]}"].hyperlink.location == f"'Backprop'!{ref}"
    assert ["Backprop", None, "w1", "not checked: no η found"] in [r[:4] for r in rows]
    assert sheet["D" + str(cells["Z34"])].data_type == "s"  # the formula is shown as text


def test_the_open_xml_validator_finds_no_error(student, annotated):
    validator = OpenXmlValidator()
    assert validator.validate(str(student)).errors == []  # the original is clean, so
    assert validator.validate(str(annotated)).errors == []


def test_text_from_the_workbook_stays_text(tmp_path):
    """A sheet name with a quote, an ampersand and angle brackets; a label and a mistake that
    look like formulas and markup."""
    path = tmp_path / "odd.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Tom's & <table>").write_number("B2", 1)
    book.close()
    label = '=HYPERLINK("http://example.invalid","click")'
    column = ColumnFinding(
        ("q",),
        label,
        "B",
        "wrong",
        1,
        1.0,
        first_cell="B2",
        refs=["B2", "B3"],
        formula="=B1*2",
        value="#REF!",
        expected=2.0,
        mistake="a & b <c>",
    )
    report = CheckReport(path, [TableFinding("Tom's & <table>", 1, 2, 3, "2-2-2", {}, [column])], False, [])
    copy = annotate_workbook(report, path, tmp_path / "odd.checked.xlsx")
    book = openpyxl.load_workbook(copy)
    rows = [[c for c in row] for row in book["check"].iter_rows()]
    mistake = next(row for row in rows if row[1].value == "B2")
    assert [c.value for c in mistake] == [
        "Tom's & <table>",
        "B2",
        label,
        "=B1*2",
        "#REF!",
        2.0,
        "a & b <c>",
    ]
    assert all(c.data_type == "s" for c in mistake[:5])
    assert mistake[1].hyperlink.location == "'Tom''s & <table>'!B2"
    assert book["Tom's & <table>"]["B2"].comment.text.startswith(f"sheetgen check: {label} goes wrong here.")
    # no error; one warning: a workbook without any text has no shared-strings table, and Excel
    # moves the check sheet's inline strings into one when it saves the file again
    findings = OpenXmlValidator().validate(str(copy)).errors
    assert [(f.severity.value, f.id, f.part_uri) for f in findings] == [
        ("warning", "Excel_InlineStrCells", "/xl/worksheets/sheet2.xml")
    ]


def test_a_workbook_without_comments_gets_its_comment_parts(tmp_path):
    path = tmp_path / "plain.xlsx"
    write_workbook(path, "block", layout_block(SLOPE))  # openpyxl's: no comments, no cached values
    copy = annotate_workbook(_report(path), path, tmp_path / "plain.checked.xlsx")
    parts = _parts(copy)
    assert {"xl/comments1.xml", "xl/drawings/vmlDrawing1.vml"} <= set(parts)
    assert b"legacyDrawing" in parts["xl/worksheets/sheet1.xml"]
    book = openpyxl.load_workbook(copy)
    assert book["Backprop"]["Z34"].comment.text.startswith("sheetgen check: δ_h2")
    assert _fill(book["Backprop"]["Z34"]) == MISTAKE_FILL


# ---------------------------------------------------------------------------------------------
# refusals


OPEN_XML = "cannot write {out}: an annotated copy is an Office Open XML package"


@pytest.mark.parametrize(
    "name, message",
    [
        ("copy.ods", OPEN_XML + "; .ods is OpenDocument; give a name ending in .xlsx"),
        ("copy.xls", OPEN_XML + "; .xls is the older binary format; give a name ending in .xlsx"),
        (
            "copy.xlsm",
            "cannot write {out}: the copy of student.xlsx is a .xlsx package; give a name ending in .xlsx",
        ),
    ],
)
def test_a_copy_named_as_another_format_is_refused(student, tmp_path, name, message):
    out = tmp_path / name
    with pytest.raises(AnnotateError) as error:
        annotate_workbook(_report(student), student, out)
    assert str(error.value) == message.format(out=out)
    assert not out.exists()


def test_the_original_is_never_replaced(student):
    digest = hashlib.sha256(student.read_bytes()).hexdigest()
    with pytest.raises(AnnotateError, match="it is the original; the annotated copy never replaces it"):
        annotate_workbook(_report(student), student, student)
    assert hashlib.sha256(student.read_bytes()).hexdigest() == digest


def test_only_a_regular_file_is_replaced(student, tmp_path):
    link = tmp_path / "link.xlsx"
    link.symlink_to(tmp_path / "elsewhere.xlsx")
    with pytest.raises(OutputError, match="it is a symbolic link, not a regular file"):
        annotate_workbook(_report(student), student, link)


def test_findings_of_another_workbook_are_refused(student, tmp_path):
    with pytest.raises(
        AnnotateError, match="has no worksheet 'Sheet9': the findings are of another workbook"
    ):
        annotate_workbook(_report(student, sheet="Sheet9"), student, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


# ---------------------------------------------------------------------------------------------
# from check to the copy, and the command line


def run(*args):
    return CliRunner().invoke(main, ["check", *map(str, args)])


@pytest.mark.slow
def test_check_annotate_writes_the_copy_beside_the_original(student, tmp_path):
    source = tmp_path / "anna.xlsx"
    source.write_bytes(student.read_bytes())
    result = run(source, "--annotate")
    assert result.exit_code == 1, result.output
    copy = tmp_path / "anna.checked.xlsx"
    assert result.output.splitlines()[-1] == f"annotated copy: {copy}"
    report = check_workbook(source)
    cause = report.tables[0].cause
    assert (cause.first_cell, cause.mistake) == ("Z34", SLOPE_MISTAKE)
    sheet = openpyxl.load_workbook(copy)["Backprop"]
    assert _fill(sheet["Z34"]) == MISTAKE_FILL and _fill(sheet["Z35"]) == FOLLOWS_FILL
    assert f"should be {cause.expected:.10g}" in sheet["Z34"].comment.text
    assert _fill(sheet["Z33"]) is None  # right before the mistake starts
    # the copy is checked like the original (the check sheet holds no table)
    again = check_workbook(copy)
    assert [(c.label, c.status, c.first_cell) for c in again.tables[0].columns] == [
        (c.label, c.status, c.first_cell) for c in report.tables[0].columns
    ]


def test_cli_refuses_before_checking(student, tmp_path):
    cases = [
        (
            (student, "--annotate", tmp_path / "x.ods"),
            "an annotated copy is an Office Open XML package; .ods",
        ),
        ((student, "--annotate", student), "it is the original; the annotated copy never replaces it"),
        ((student.parent, "--annotate"), "--annotate needs the folder the copies go in when several"),
        ((student.parent, "--annotate", student), "it is a file; give the folder the copies go in"),
        ((student, "--report", tmp_path / "class.csv"), "a workbook's name must end in .xlsx"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_folder_mode_writes_a_copy_per_submission_kept_apart(student, tmp_path):
    submissions = tmp_path / "class"
    for name in ("anna/backprop.xlsx", "ben/backprop.xlsx"):
        (submissions / name).parent.mkdir(parents=True, exist_ok=True)
        (submissions / name).write_bytes(student.read_bytes())
    openpyxl.Workbook().save(submissions / "notes.xlsx")  # no table: checked, no copy
    out = submissions / "checked"  # inside the folder checked: never read back as a submission
    for _ in range(2):
        result = run(submissions, "--annotate", out, "--json")
        assert result.exit_code == 1, result.output
    copies = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.xlsx"))
    assert copies == ["anna/backprop.checked.xlsx", "ben/backprop.checked.xlsx"]
    data = json.loads(result.stdout)
    assert [Path(d["file"]).relative_to(submissions).as_posix() for d in data] == [
        "anna/backprop.xlsx",
        "ben/backprop.xlsx",
        "notes.xlsx",
    ]
    assert [d.get("annotated") for d in data] == [str(out / c) for c in copies] + [None]


# ---------------------------------------------------------------------------------------------
# LibreOffice: the copy recalculates to the same values, and prints its marks


@pytest.mark.libreoffice
def test_libreoffice_recalculates_the_copy_to_the_same_values(student, annotated, tmp_path):
    require_libreoffice()
    original, copy = recalculate_many([student, annotated], tmp_path)
    old, new = openpyxl.load_workbook(original, data_only=True), openpyxl.load_workbook(copy, data_only=True)
    for name in old.sheetnames:
        values = [[c.value for c in row] for row in old[name].iter_rows()]
        assert [[c.value for c in row] for row in new[name].iter_rows()][: len(values)] == values
    assert new["Backprop"]["Z34"].value == pytest.approx(_cached(student, "Z34"))


def _cached(path, ref):
    return openpyxl.load_workbook(path, data_only=True)["Backprop"][ref].value


def _colour_pixels(pdf: Path, folder: Path) -> dict[str, int]:
    """How many pixels of each fill colour the pages show."""
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(folder / "page")], check=True)
    wanted = {
        name: tuple(int(rgb[i : i + 2], 16) for i in (2, 4, 6))
        for name, rgb in (("mistake", MISTAKE_FILL), ("follows", FOLLOWS_FILL))
    }
    counts = dict.fromkeys(wanted, 0)
    for page in folder.glob("page*.png"):
        for number, colour in Image.open(page).convert("RGB").getcolors(1 << 20) or []:
            for name, rgb in wanted.items():
                if all(abs(a - b) <= 6 for a, b in zip(colour, rgb)):
                    counts[name] += number
    return counts


@pytest.mark.libreoffice
def test_the_fills_and_the_comment_print(student, annotated, tmp_path):
    require_libreoffice()
    for name, path in (("original", student), ("copy", annotated)):
        folder = tmp_path / name
        pdf = to_pdf(path, folder)
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        pixels = _colour_pixels(pdf, folder)
        if name == "original":
            assert "goes wrong here" not in text and pixels == {"mistake": 0, "follows": 0}
        else:
            assert "sheetgen check: δ_h2 goes wrong here." in text and SLOPE_MISTAKE in text
            assert "sheetgen check of student.xlsx" in text
            assert pixels["mistake"] > 0 and pixels["follows"] > 10 * pixels["mistake"]


@pytest.mark.libreoffice
@pytest.mark.parametrize("suffix", ["ods", "xls"])
def test_an_ods_or_xls_submission_is_annotated_from_its_conversion(student, tmp_path, suffix):
    require_libreoffice()
    converted = _run(student, tmp_path, suffix, 300)
    result = run(converted, "--annotate")
    assert result.exit_code == 1, result.output
    copy = tmp_path / "student.checked.xlsx"
    assert result.output.splitlines()[-1] == f"annotated copy: {copy}"
    book = openpyxl.load_workbook(copy)
    assert book.sheetnames[0] == "check" and _fill(book["Backprop"]["Z34"]) == MISTAKE_FILL
    assert book["Backprop"]["Z34"].comment.text.startswith("sheetgen check: δ_h2 goes wrong here.")
