"""The workbook as written: live formulas, cached values from the engine, charts, determinism."""

import zipfile

import openpyxl
import pandas as pd
import pytest

from sheetgen.record import RECORD_SHEET as SPEC_SHEET
from sheetgen.workbook import engine
from sheetgen.workbook import layout as L
from sheetgen.workbook.formulas import FormulaEmitter, number_text, text_literal
from sheetgen.workbook.layout import HEADER_ROW, INPUT_LABEL_ROW, INPUT_VALUE_ROW, SheetLayout, sheet_name
from sheetgen.workbook.quantities import values
from sheetgen.workbook.spec import MAX_ITERATIONS, spec_from_json
from sheetgen.workbook.writer import build_workbook


def test_every_computed_cell_is_a_formula(seed_workbook, seed_spec):
    book = openpyxl.load_workbook(seed_workbook)
    layout = SheetLayout.for_spec(seed_spec)
    first = layout.row(0) + 1
    for learning_rate in seed_spec.learning_rates:
        ws = book[sheet_name(learning_rate)]
        for t in range(seed_spec.iterations + 1):
            for col, quantity in enumerate(layout.quantities):
                value = ws.cell(row=first + t, column=col + 1).value
                if quantity.key == ("iteration",):
                    assert value == t
                else:
                    assert isinstance(value, str) and value.startswith("="), (t, quantity.label)


@pytest.mark.slow
def test_input_block_and_header_are_labelled(seed_workbook, seed_spec):
    ws = openpyxl.load_workbook(seed_workbook)["lr 0.8"]
    layout = SheetLayout.for_spec(seed_spec)
    labels = [c.value for c in ws[INPUT_LABEL_ROW + 1] if c.value is not None]
    inputs = [c.value for c in ws[INPUT_VALUE_ROW + 1] if c.value is not None]
    assert labels == ["input", "η", "i1", "i2", "t1", "t2"] + [f"w{n}" for n in range(1, 9)]
    assert inputs == ["value", 0.8, 0.05, 0.1, 0.5, 0.5, 0.15, 0.2, 0.25, 0.3, 0.4, 0.45, 0.5, 0.55]
    header = [c.value for c in ws[HEADER_ROW + 1]]
    assert header == [q.label for q in layout.quantities]
    assert header[:18] == [
        "iteration",
        "w1",
        "w2",
        "w3",
        "w4",
        "w5",
        "w6",
        "w7",
        "w8",
        "h1",
        "a_h1",
        "h2",
        "a_h2",
        "o1",
        "a_o1",
        "o2",
        "a_o2",
        "E1",
    ]
    assert header[18:] == ["E2", "E_total", "δ_o1", "δ_o2", "∂E/∂a_h1", "∂E/∂a_h2", "δ_h1", "δ_h2"] + [
        f"∂E/∂w{n}" for n in range(1, 9)
    ]
    # the title names η through its cell, so it follows an edit; cached as it reads now
    assert ws["B1"].value == '="Backpropagation with η = "&$B$5&": seed, 100 updates"'
    cached = openpyxl.load_workbook(seed_workbook, data_only=True)["lr 0.8"]
    assert cached["B1"].value == "Backpropagation with η = 0.8: seed, 100 updates"
    assert ws["A1"].value is None and ws["A2"].value is None  # column A repeats on every page


def test_formulas_read_as_the_exercise_writes_them(seed_spec):
    layout = SheetLayout.for_spec(seed_spec)
    emit = FormulaEmitter(seed_spec, layout)
    ref = layout.ref
    row = layout.row(1) + 1
    eta = layout.input_ref(("eta",))
    assert emit.formula(("w", 1, 0, 0), 1) == f"={ref(('w', 1, 0, 0), 0)}-{eta}*{ref(('grad_w', 1, 0, 0), 0)}"
    assert emit.formula(("w", 0, 0, 0), 0) == "=" + layout.input_ref(("init_w", 0, 0, 0))
    a_o1 = ref(("act", 1, 0, 0), 1)
    t1 = layout.input_ref(("target", 0, 0))
    assert emit.formula(("delta", 1, 0, 0), 1) == f"=({a_o1}-{t1})*{a_o1}*(1-{a_o1})"
    assert emit.formula(("act", 0, 0, 1), 1) == f"=1/(1+EXP(-{ref(('net', 0, 0, 1), 1)}))"
    # ∂E/∂a_h1 = δ_o1·w5 + δ_o2·w7
    assert emit.formula(("grad_act", 0, 0, 0), 1) == (
        f"={ref(('delta', 1, 0, 0), 1)}*{ref(('w', 1, 0, 0), 1)}"
        f"+{ref(('delta', 1, 0, 1), 1)}*{ref(('w', 1, 1, 0), 1)}"
    )
    assert str(row) in emit.formula(("E_total",), 1)


def test_cached_values_are_the_engines(seed_workbook, seed_spec):
    layout = SheetLayout.for_spec(seed_spec)
    for learning_rate in seed_spec.learning_rates:
        frame = pd.read_excel(
            seed_workbook, sheet_name=sheet_name(learning_rate), header=HEADER_ROW, index_col=0
        )
        trace = engine.train(seed_spec, learning_rate)
        assert len(frame) == seed_spec.iterations + 1
        for quantity in layout.quantities[1:]:
            assert frame[quantity.label].tolist() == values(trace, quantity.key).tolist()


def test_sheets_charts_and_spec_record(seed_workbook, seed_spec):
    book = openpyxl.load_workbook(seed_workbook)
    assert book.sheetnames == (
        ["Network", "Overview"] + [f"lr {lr:g}" for lr in seed_spec.learning_rates] + [SPEC_SHEET]
    )
    assert book[SPEC_SHEET].sheet_state == "veryHidden"
    assert spec_from_json(book[SPEC_SHEET]["A2"].value) == seed_spec
    with zipfile.ZipFile(seed_workbook) as package:
        names = package.namelist()
    assert len([n for n in names if n.startswith("xl/charts/chart")]) == 7  # 6 sheets + overview
    assert any(n.startswith("xl/media/image") for n in names)  # the network diagram
    with zipfile.ZipFile(seed_workbook) as package:
        charts = [package.read(n).decode() for n in names if n.startswith("xl/charts/chart")]
    overview = [xml for xml in charts if "every learning rate" in xml]
    assert len(overview) == 1 and "<c:logBase" in overview[0]


@pytest.mark.parametrize(
    "learning_rate, log_scale",
    [
        (0.1, False),
        (0.2, False),
        (0.5, False),  # E_total falls by less than two decades
        (0.8, True),
        (1.0, True),
        (2.0, True),  # by more: a linear axis shows a flat zero
    ],
)
def test_a_loss_chart_is_log_scale_where_e_total_spans_two_decades(
    seed_workbook, seed_spec, learning_rate, log_scale
):
    with zipfile.ZipFile(seed_workbook) as package:
        charts = [package.read(n).decode() for n in package.namelist() if n.startswith("xl/charts/chart")]
    title = f"E_total per iteration, η = {learning_rate:g}"
    (xml,) = [xml for xml in charts if title in xml]
    assert ("<c:logBase" in xml) == log_scale
    assert (f"{title} (log scale)" in xml) == log_scale
    loss = engine.train(seed_spec, learning_rate).loss
    assert (loss.max() / loss.min() > 100) == log_scale


def test_same_inputs_give_a_byte_identical_file(tmp_path, seed_spec):
    spec = seed_spec.with_training([0.8], 20)
    build_workbook(spec, tmp_path / "a.xlsx")
    build_workbook(spec, tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


@pytest.mark.slow
def test_overview_cached_values(seed_workbook, seed_spec):
    frame = pd.read_excel(seed_workbook, sheet_name="Overview", header=5, nrows=6)
    assert frame.iloc[:, 0].tolist() == list(seed_spec.learning_rates)
    assert frame.iloc[:, 1].tolist() == pytest.approx(
        [engine.train(seed_spec, lr).loss[-1] for lr in seed_spec.learning_rates], rel=1e-15
    )
    assert frame.iloc[:, 2].tolist() == ["not reached", "not reached", 85, 53, 43, 21]


@pytest.mark.slow
def test_overview_cells_are_where_the_layout_puts_them(seed_workbook, seed_spec):
    """verify reads the Overview through the layout, so the writer must put it there."""
    ws = openpyxl.load_workbook(seed_workbook)["Overview"]
    threshold = L.overview_threshold_ref()
    assert ws[threshold.replace("$", "")].value == seed_spec.loss_threshold
    layout = SheetLayout.for_spec(seed_spec)
    for i, lr in enumerate(seed_spec.learning_rates):
        row = L.overview_row(i) + 1
        sheet = sheet_name(lr)
        assert ws.cell(row, L.OVERVIEW_RATE_COL + 1).value == "=" + layout.input_ref(("eta",), sheet)
        assert ws.cell(row, L.OVERVIEW_FINAL_LOSS_COL + 1).value == "=" + layout.last_cell(
            ("E_total",), seed_spec.iterations + 1, sheet
        )
        updates = ws.cell(row, L.OVERVIEW_UPDATES_COL + 1).value.text
        assert f"<{threshold}," in updates and f'"{L.NEVER}"' in updates


def test_the_specs_iteration_budget_fits_on_a_sheet():
    """The spec caps iterations (MAX_ITERATIONS); the layout must keep the last one's row, below
    the title, inputs, chart and headers, on a spreadsheet's 1,048,576 rows."""
    assert SheetLayout.row(MAX_ITERATIONS) <= L.EXCEL_ROWS - 1


@pytest.mark.parametrize(
    "value, text",
    [  # as LibreOffice 7.4 writes =""&A1 for each
        (0.8, "0.8"),
        (2, "2"),
        (100, "100"),
        (1e-05, "0.00001"),
        (2.5e-08, "0.000000025"),
        (1 / 3, "0.333333333333333"),
        (0.1 + 0.2, "0.3"),
        (1e15, "1000000000000000"),
        (1e16, "1E+016"),
    ],
)
def test_a_title_caches_a_number_as_a_spreadsheet_writes_it(value, text):
    assert number_text(value) == text


@pytest.mark.parametrize(
    "text, literal",
    [
        ("plain", '"plain"'),
        ('say "hi"', '"say ""hi"""'),
        ("", '""'),
        ("a" * 300, '"' + "a" * 255 + '"&"' + "a" * 45 + '"'),  # 255 characters a literal at most
    ],
)
def test_text_in_a_formula_is_a_string_literal(text, literal):
    assert text_literal(text) == literal
