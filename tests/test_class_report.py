"""The class workbook: one row per submission with its verdict, mistakes and annotated copy, each
named mistake counted across the class with a native bar chart, and text from submissions
written as text."""

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from sheetgen.analyse.check import CheckReport, ColumnFinding, Outcome, TableFinding
from sheetgen.analyse.feedback import write_class_report
from sheetgen.analyse.feedback.class_report import UNNAMED
from sheetgen.cli import main
from sheetgen.files import OutputError
from tests.excel_saved import picture, write_excel_saved
from tests.handmade import layout_block

SIGN = "adds η·dE/dw5 instead of subtracting it"
SLOPE = "uses out_h1's slope out_h1·(1−out_h1) where out_h2's belongs"


def _outcome(name: str, *mistakes, unchecked: bool = False) -> Outcome:
    """A submission's outcome with mistakes given as (label, cell, name or None)."""
    columns = [
        ColumnFinding(("q",), label, "", "wrong", 1, 1.0, first_cell=cell, mistake=mistake)
        for label, cell, mistake in mistakes
    ]
    if unchecked:
        columns.append(ColumnFinding(("q",), "w1", "", "not checked", 0, 0.0, reason="no η found"))
    columns.append(ColumnFinding(("q",), "E_total", "", "right", 26, 0.0))
    report = CheckReport(Path(name), [TableFinding("Sheet1", 1, 2, 27, "2-2-2", {}, columns)], False, [])
    return Outcome(Path(name), report)


OUTCOMES = [
    _outcome("class/anna.xlsx", ("w5", "F3", SIGN), ("δ_h2", "Z3", None)),
    _outcome("class/ben.xlsx"),
    _outcome('class/=HYPERLINK("x").xlsx', ("w5", "F4", SIGN)),
    Outcome(
        Path("class/broken.xlsx"), error="no training table recognised in class/broken.xlsx. check looks for…"
    ),
    _outcome("class/dora.xlsx", unchecked=True),
]


@pytest.fixture(scope="module")
def class_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("teacher")
    copies = {Path("class/anna.xlsx"): folder / "checked" / "anna.checked.xlsx"}
    return write_class_report(OUTCOMES, folder / "class.xlsx", annotated=copies)


def _rows(sheet) -> list[list]:
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_one_row_per_submission(class_report):
    sheet = openpyxl.load_workbook(class_report)["submissions"]
    rows = _rows(sheet)
    assert rows[0] == [
        "File",
        "Verdict",
        "Mistakes",
        "Annotated copy",
        "Detail",
        "Mistake 1",
        "Cell 1",
        "Mistake 2",
        "Cell 2",
    ]
    assert [r[:3] for r in rows[1:]] == [
        ["class/anna.xlsx", "wrong", 2],
        ["class/ben.xlsx", "right", 0],
        ['class/=HYPERLINK("x").xlsx', "wrong", 1],
        ["class/broken.xlsx", "error", None],
        ["class/dora.xlsx", "not checked", 0],
    ]
    assert rows[1][5:] == [SIGN, "Sheet1!F3", UNNAMED, "Sheet1!Z3"]
    assert rows[3][5:7] == [SIGN, "Sheet1!F4"]
    assert rows[4][4] == "no training table recognised in class/broken.xlsx. check looks for…"
    assert rows[1][4].startswith("WRONG: 2 mistakes in 1 of 1 table; the first at Sheet1!F3 (w5)")
    assert sheet["A4"].data_type == "s"  # a file name that looks like a formula stays text


def test_a_submission_links_to_its_annotated_copy(class_report):
    sheet = openpyxl.load_workbook(class_report)["submissions"]
    assert sheet["D2"].value == "anna.checked.xlsx"
    # XlsxWriter writes a relative link to a file with Windows separators, as Excel does
    assert sheet["D2"].hyperlink.target.replace("\\", "/") == "checked/anna.checked.xlsx"
    assert [sheet[f"D{row}"].value for row in range(3, 7)] == [None] * 4


def test_each_named_mistake_is_counted_with_a_bar_chart(class_report):
    book = openpyxl.load_workbook(class_report)
    assert _rows(book["mistakes"])[:3] == [
        ["Mistake", "Submissions", "Times made"],
        [SIGN, 2, 2],
        [UNNAMED, 1, 1],
    ]
    assert _rows(book["each mistake"]) == [
        ["File", "Sheet", "Cell", "Column", "Mistake"],
        ["class/anna.xlsx", "Sheet1", "F3", "w5", SIGN],
        ["class/anna.xlsx", "Sheet1", "Z3", "δ_h2", UNNAMED],
        ['class/=HYPERLINK("x").xlsx', "Sheet1", "F4", "w5", SIGN],
    ]
    with zipfile.ZipFile(class_report) as package:
        chart = package.read("xl/charts/chart1.xml").decode()
        sheet_rels = package.read("xl/worksheets/_rels/sheet2.xml.rels").decode()
    assert "<c:barChart>" in chart and '<c:barDir val="bar"/>' in chart
    assert re.findall(r"<c:f>([^<]+)</c:f>", chart) == ["mistakes!$A$2:$A$3", "mistakes!$B$2:$B$3"]
    assert "drawing1.xml" in sheet_rels  # the chart stands on the counts' sheet


def test_only_an_xlsx_regular_file_is_written(tmp_path):
    with pytest.raises(OutputError, match="a workbook's name must end in .xlsx"):
        write_class_report(OUTCOMES, tmp_path / "class.csv")
    (tmp_path / "folder.xlsx").mkdir()
    with pytest.raises(OutputError, match="it is a folder"):
        write_class_report(OUTCOMES, tmp_path / "folder.xlsx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.xlsx"]


@pytest.mark.slow
def test_check_report_for_a_folder(tmp_path):
    """check FOLDER --annotate DIR --report: the class workbook names each submission's verdict
    and links to the copies the same command wrote."""
    submissions = tmp_path / "class"
    submissions.mkdir()
    png = picture(tmp_path / "p.png")
    write_excel_saved(
        submissions / "anna.xlsx", "block", layout_block({"w5": ("{w5@p}+{eta}*{g5@p}", 1)}), png
    )
    write_excel_saved(submissions / "ben.xlsx", "block", layout_block(), png)
    result = CliRunner().invoke(
        main,
        [
            "check",
            str(submissions),
            "--annotate",
            str(tmp_path / "checked"),
            "--report",
            str(tmp_path / "class.xlsx"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-2:] == [
        f"2 annotated copies in {tmp_path / 'checked'}",
        f"class report: {tmp_path / 'class.xlsx'}",
    ]
    book = openpyxl.load_workbook(tmp_path / "class.xlsx")
    rows = _rows(book["submissions"])
    assert [r[:4] for r in rows[1:]] == [
        [str(submissions / "anna.xlsx"), "wrong", 1, "anna.checked.xlsx"],
        [str(submissions / "ben.xlsx"), "right", 0, "ben.checked.xlsx"],
    ]
    assert rows[1][5:7] == [
        "adds η·dE/dw5 instead of subtracting it: w5 + η·dE/dw5 where w5 − η·dE/dw5 belongs",
        "Backprop!" + layout_block()["Backprop"][0].cell("w5", 1),
    ]
    assert _rows(book["mistakes"])[1][1:] == [1, 1]
