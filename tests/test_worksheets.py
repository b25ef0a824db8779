"""The learning-rate sheets skip XlsxWriter's search for newer function names only where it
would change nothing: the workbook is byte for byte the one XlsxWriter's own worksheet writes."""

import pytest
from xlsxwriter.worksheet import Worksheet

from sheetgen.workbook.layout import SheetLayout
from sheetgen.workbook.spec import load_spec, spec_from_dict
from sheetgen.workbook.worksheets import PlainFormulaWorksheet, worksheet_class, written_as_given
from sheetgen.workbook.writer import _rate_sheet_class, build_workbook
from tests.conftest import ROOT
from tests.test_render import DEEP, WIDE

SPECS = {
    **{p.stem: load_spec(p).with_training([0.5, 2], 4) for p in sorted((ROOT / "templates").glob("*.toml"))},
    "deep": spec_from_dict(DEEP),
    "wide": spec_from_dict(WIDE),
}


@pytest.mark.parametrize(
    "formula, as_given",
    [
        ("=C28+D28", True),
        ("=1/(1+EXP(-(E28*$B$5+F28*$C$5)))", True),
        ("=TANH(E28)*(1-TANH(E28)^2)", True),
        ('=IFERROR(MATCH(TRUE,INDEX(G28:G128<$B$5,0),0)-1,"never")', True),
        ("=XLOOKUP(A1,B1:B3,C1:C3)", False),  # a dynamic-array function
        ("=SORT(A1:A3)", False),
        ("=CONCAT(A1,B1)", False),  # a future function, prefixed when that option is on
        ("=STDEV.S(A1:A3)", False),
    ],
)
def test_written_as_given_is_what_xlsxwriter_does(formula, as_given):
    assert written_as_given(formula) is as_given


def test_one_formula_that_needs_a_prefix_keeps_xlsxwriters_worksheet():
    assert worksheet_class(["=A1+B1", "=EXP(A1)"]) is PlainFormulaWorksheet
    assert worksheet_class(["=A1+B1", "=XLOOKUP(A1,B1:B3,C1:C3)"]) is Worksheet


@pytest.mark.parametrize("name", SPECS)
def test_every_rate_sheet_skips_the_search(name):
    spec = SPECS[name]
    assert _rate_sheet_class(spec, SheetLayout.for_spec(spec)) is PlainFormulaWorksheet


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_the_workbook_is_what_xlsxwriters_own_worksheet_writes(name, tmp_path, monkeypatch):
    spec = SPECS[name]
    build_workbook(spec, tmp_path / "plain.xlsx")
    monkeypatch.setattr("sheetgen.workbook.writer.worksheet_class", lambda formulas: Worksheet)
    build_workbook(spec, tmp_path / "stock.xlsx")
    assert (tmp_path / "plain.xlsx").read_bytes() == (tmp_path / "stock.xlsx").read_bytes()
