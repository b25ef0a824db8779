"""The formulas proven by an engine that is not ours: LibreOffice, recalculation forced, against
torch autograd in float64."""

import openpyxl
import pytest
import xlsxwriter

from sheetgen.analyse.recalc import recalculate
from sheetgen.workbook.layout import SheetLayout, sheet_name
from sheetgen.workbook.writer import build_workbook
from tests.conftest import require_libreoffice
from tests.torch_reference import autograd_columns, relative_error


def column_values(ws, layout: SheetLayout, key, rows):
    col = layout.column_of[key] + 1
    first = layout.row(0) + 1
    return [ws.cell(row=first + t, column=col).value for t in range(rows)]


@pytest.mark.libreoffice
def test_recalculation_is_really_forced(tmp_path):
    """A formula whose cached value is wrong must come back right, or nothing is proven."""
    require_libreoffice()
    path = tmp_path / "wrong.xlsx"
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet().write_formula(0, 0, "=1/(1+EXP(-B1))", None, 99.0)
    workbook.close()
    ws = openpyxl.load_workbook(recalculate(path, tmp_path / "out"), data_only=True).active
    assert ws["A1"].value == pytest.approx(0.5)


@pytest.mark.libreoffice
def test_every_computed_cell_matches_autograd(recalculated, seed_spec):
    layout = SheetLayout.for_spec(seed_spec)
    rows = seed_spec.iterations + 1
    checked = 0
    for learning_rate in seed_spec.learning_rates:
        ws = recalculated[sheet_name(learning_rate)]
        expected = autograd_columns(seed_spec, learning_rate, seed_spec.iterations)
        for quantity in layout.quantities:
            got = column_values(ws, layout, quantity.key, rows)
            if quantity.key == ("iteration",):
                assert got == list(range(rows))
                continue
            assert all(isinstance(v, float) for v in got), (learning_rate, quantity.label)
            error = relative_error(got, expected[quantity.key])
            assert error <= 1e-12, (learning_rate, quantity.label, error)
            checked += len(got)
    assert checked == 6 * 101 * 33


@pytest.mark.libreoffice
def test_overview_after_recalculation(recalculated, seed_spec):
    ws = recalculated["Overview"]
    rows = list(ws.iter_rows(min_row=7, max_row=12, max_col=3, values_only=True))
    assert [r[0] for r in rows] == list(seed_spec.learning_rates)
    finals = {0.1: 7.847e-3, 0.2: 4.229e-3, 0.5: 6.143e-4, 0.8: 8.528e-5, 1.0: 2.256e-5, 2.0: 2.547e-8}
    for lr, final, _updates in rows:
        assert final == pytest.approx(finals[lr], rel=5e-4)
    assert [r[2] for r in rows] == ["not reached", "not reached", 85, 53, 43, 21]


@pytest.mark.libreoffice
def test_editing_the_learning_rate_recalculates_the_whole_sheet(tmp_path, seed_spec):
    """The sheet is alive: change η in its input cell and every row follows."""
    require_libreoffice()
    path = tmp_path / "live.xlsx"
    spec = seed_spec.with_training([0.5], 40)
    build_workbook(spec, path)
    layout = SheetLayout.for_spec(spec)
    book = openpyxl.load_workbook(path)  # formulas kept; charts do not matter for this test
    book["lr 0.5"][layout.input_ref(("eta",)).replace("$", "")] = 1.7
    book["lr 0.5"][layout.input_ref(("init_w", 1, 0, 0)).replace("$", "")] = -0.3
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    ws = openpyxl.load_workbook(recalculate(edited, tmp_path / "out"), data_only=True)["lr 0.5"]
    changed = spec.to_dict()
    changed["layers"][1]["weights"][0][0] = -0.3
    from sheetgen.workbook.spec import spec_from_dict

    expected = autograd_columns(spec_from_dict(changed), 1.7, 40)
    for quantity in layout.quantities[1:]:
        got = column_values(ws, layout, quantity.key, 41)
        assert relative_error(got, expected[quantity.key]) <= 1e-12, quantity.label
