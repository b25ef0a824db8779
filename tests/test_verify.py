"""sheetgen verify: a built workbook passes; a changed formula, a changed cached value, a missing
LibreOffice, a foreign or missing file each get the exit status and message the help promises."""

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from xlsxwriter.utility import xl_rowcol_to_cell

from sheetgen.cli import main
from sheetgen.workbook import engine
from sheetgen.workbook import layout as L
from sheetgen.workbook.layout import SheetLayout
from sheetgen.workbook.writer import build_workbook
from tests.conftest import require_libreoffice


def run(*args):
    return CliRunner().invoke(main, ["verify", *map(str, args)])


@pytest.fixture(scope="module")
def small(tmp_path_factory, seed_spec):
    """One learning rate, 20 updates: quick for LibreOffice."""
    spec = seed_spec.with_training([0.8], 20)
    path = tmp_path_factory.mktemp("small") / "small.xlsx"
    build_workbook(spec, path)
    return spec, path


@pytest.mark.libreoffice
def test_a_built_workbook_verifies(seed_workbook):
    require_libreoffice()
    result = run(seed_workbook)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "lr 0.8: 3,333 cells" in lines
    assert re.search(r"^  ∂E/∂w3 +101 +\S+ +\S+$", result.output, re.M)
    assert "Overview: 18 cells" in lines
    assert lines[-1].startswith(
        "OK: 20,016 computed cells agree with the reference engine (largest relative error "
    )
    assert lines[-1].endswith("; tolerance 1e-12")


@pytest.mark.libreoffice
def test_a_changed_formula_is_named_with_its_formula(small, tmp_path):
    require_libreoffice()
    spec, path = small
    layout = SheetLayout.for_spec(spec)
    cell = layout.ref(("act", 0, 0, 0), 5)  # a_h1 at iteration 5
    book = openpyxl.load_workbook(path)
    formula = book["lr 0.8"][cell].value
    book["lr 0.8"][cell] = formula + "*1.001"
    tampered = tmp_path / "tampered.xlsx"
    book.save(tampered)  # openpyxl keeps no cached values
    result = run(tampered)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("note: the file holds no cached values")
    last = result.output.splitlines()[-1]
    # the overview's final E_total reads the changed sheet, so it differs too
    assert last.startswith(
        f"DIFFERS on 2 sheets: first at lr 0.8!{cell} (a_h1) {formula}*1.001: LibreOffice gives "
    )
    assert "the reference engine" in last


@pytest.mark.libreoffice
def test_a_changed_cached_value_is_caught(small, tmp_path):
    require_libreoffice()
    spec, path = small
    cell = SheetLayout.for_spec(spec).ref(("E_total",), 7)
    tampered = tmp_path / "cache.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet3.xml":  # Network, Overview, lr 0.8
                data, count = re.subn(
                    rf'(<c r="{cell}"[^>]*><f>[^<]*</f><v>)[^<]*(</v>)',
                    rb"\g<1>0.125\g<2>".decode(),
                    data.decode(),
                )
                assert count == 1
                data = data.encode()
            target.writestr(item, data)
    result = run(tampered)
    assert result.exit_code == 1, result.output
    assert re.search(r"^  E_total +21 +\S+ +\S+$", result.output, re.M)
    assert f"first at lr 0.8!{cell} (E_total) =" in result.output
    assert ": the cached value is 0.125, LibreOffice gives 0.0" in result.output


@pytest.mark.libreoffice
@pytest.mark.parametrize(
    "col, title",
    [
        (L.OVERVIEW_RATE_COL, "learning rate η"),
        (L.OVERVIEW_FINAL_LOSS_COL, "final E_total"),
        (L.OVERVIEW_UPDATES_COL, "updates until E_total < threshold"),
    ],
)
def test_a_changed_overview_cached_value_is_named_with_its_column(small, tmp_path, col, title):
    """verify finds the Overview's table where the layout puts it, column by column."""
    require_libreoffice()
    spec, path = small
    cell = xl_rowcol_to_cell(L.overview_row(0), col)
    tampered = tmp_path / "overview.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet2.xml":  # Network, Overview
                data, count = re.subn(
                    rf'(<c r="{cell}"[^>]*><f[^>]*>[^<]*</f><v>)[^<]*(</v>)', r"\g<1>999\g<2>", data.decode()
                )
                assert count == 1
                data = data.encode()
            target.writestr(item, data)
    result = run(tampered)
    assert result.exit_code == 1, result.output
    assert f"DIFFERS on 1 sheet: first at Overview!{cell} ({title})" in result.output
    assert ": the cached value is " in result.output


@pytest.mark.libreoffice
def test_an_edited_threshold_is_read_from_its_cell(small, tmp_path):
    """A threshold above E_total from the start: every rate reaches it after 0 updates, which
    only a verify that reads the threshold cell expects (the recorded 1e-3 is not reached)."""
    require_libreoffice()
    spec, path = small
    loss = engine.train(spec, spec.learning_rates[0]).loss
    assert loss[0] < 1.0 and engine.updates_until_below(loss, spec.loss_threshold) is None
    book = openpyxl.load_workbook(path)
    book["Overview"][L.overview_threshold_ref().replace("$", "")] = 1.0
    edited = tmp_path / "threshold.xlsx"
    book.save(edited)
    result = run(edited)
    assert result.exit_code == 0, result.output
    assert "Overview: 3 cells" in result.output.splitlines()


@pytest.mark.libreoffice
def test_edited_inputs_are_used_and_reported(small, tmp_path):
    require_libreoffice()
    spec, path = small
    layout = SheetLayout.for_spec(spec)
    book = openpyxl.load_workbook(path)
    eta = layout.input_ref(("eta",)).replace("$", "")
    book["lr 0.8"][eta] = 1.7
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    result = run(edited)
    assert result.exit_code == 0, result.output
    assert (
        f"note: lr 0.8: η ({eta}) is 1.7 in the sheet, 0.8 in the recorded spec; "
        "compared with what the sheet's inputs give"
    ) in result.output


def test_without_libreoffice_says_how_to_install_it(small, monkeypatch):
    monkeypatch.setattr("sheetgen.analyse.recalc.find_soffice", lambda: None)
    result = run(small[1])
    assert result.exit_code == 2
    assert result.output == (
        "Error: LibreOffice is not installed; install it with: "
        "sudo apt-get install -y libreoffice-calc-nogui\n"
    )


def test_a_workbook_not_built_by_sheetgen_points_to_check(tmp_path):
    path = tmp_path / "hand.xlsx"
    openpyxl.Workbook().save(path)
    result = run(path)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {path} was not built by sheetgen (it has no 'sheetgen' "
        f"sheet); for a hand-made workbook use: sheetgen check {path}\n"
    )


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.xlsx", None, "does not exist"),
        (
            "text.xlsx",
            b"not a workbook",
            "is not a readable workbook: not a zip package (File is not a zip file)",
        ),
    ],
)
def test_missing_or_unreadable_file_is_one_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    result = run(path)
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and message in result.output
    assert result.output.count("\n") == 1


def test_recalculate_many_refuses_clashing_names(tmp_path):
    from sheetgen.analyse.recalc import recalculate_many

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="share a file name"):
        recalculate_many([tmp_path / "a" / "x.xlsx", tmp_path / "b" / "x.xlsx"], tmp_path)


@pytest.mark.libreoffice
@pytest.mark.parametrize("activation", ["tanh", "leaky_relu"])
def test_other_sizes_activations_and_samples_verify(tmp_path, activation):
    """Cells are found through the layout, so any network sheetgen builds verifies."""
    require_libreoffice()
    from sheetgen.workbook.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "data": {"inputs": [[0.05, 0.1], [0.6, -0.3]], "targets": [[0.2, 0.9], [0.7, 0.1]]},
            "layers": [
                {"units": 3, "activation": activation, "weights": [[0.15, -0.2], [0.25, 0.3], [-0.4, 0.1]]},
                {"units": 2, "activation": "sigmoid", "weights": [[0.4, 0.45, -0.3], [0.5, -0.55, 0.2]]},
            ],
            "training": {"learning_rates": [0.7, 1.5], "iterations": 30},
        }
    )
    path = tmp_path / f"{activation}.xlsx"
    build_workbook(spec, path)
    result = run(path)
    assert result.exit_code == 0, result.output
    assert re.search(r"^  ∂E/∂a_h3 \(s2\) +31 ", result.output, re.M)
    assert result.output.splitlines()[-1].startswith("OK: 4,036 computed cells agree")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The xor template: weights and biases drawn at random, so some need 17 digits."""
    from sheetgen.workbook.spec import load_spec

    spec = load_spec(Path(__file__).parents[1] / "templates" / "xor.toml").with_training([2.0], 5)
    path = tmp_path_factory.mktemp("drawn") / "xor.xlsx"
    build_workbook(spec, path)
    return spec, path


def test_input_cells_hold_drawn_weights_as_xlsxwriter_writes_them(drawn):
    """XlsxWriter writes 16 significant digits: some drawn weights lose their last bit in the
    sheet, and as_written gives exactly what the cell holds."""
    from sheetgen.analyse.verify import as_written
    from sheetgen.workbook.quantities import input_keys, input_value

    spec, path = drawn
    layout = SheetLayout.for_spec(spec)
    sheet = openpyxl.load_workbook(path, read_only=True)["lr 2"]
    row = next(
        sheet.iter_rows(min_row=L.INPUT_VALUE_ROW + 1, max_row=L.INPUT_VALUE_ROW + 1, values_only=True)
    )
    held = {key: row[layout.input_col[key]] for key in input_keys(spec)}
    recorded = {key: input_value(spec, key, 2.0) for key in held}
    assert any(held[key] != recorded[key] for key in held)  # the case: a last bit lost
    assert held == {key: as_written(value) for key, value in recorded.items()}


@pytest.mark.libreoffice
def test_drawn_weights_verify_without_notes_of_edits(drawn):
    require_libreoffice()
    result = run(drawn[1])
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if line.startswith("note:")]


@pytest.mark.libreoffice
def test_an_input_given_a_formula_is_read_as_libreoffice_computes_it(small, tmp_path):
    require_libreoffice()
    spec, path = small
    eta = SheetLayout.for_spec(spec).input_ref(("eta",)).replace("$", "")
    book = openpyxl.load_workbook(path)
    book["lr 0.8"][eta] = "=0.85*2"
    edited = tmp_path / "formula.xlsx"
    book.save(edited)
    result = run(edited)
    assert result.exit_code == 0, result.output
    assert f"note: lr 0.8: η ({eta}) is 1.7 in the sheet, 0.8 in the recorded spec; " in result.output


@pytest.mark.libreoffice
def test_a_loss_trained_to_rounding_noise_verifies_on_the_overview_too(tmp_path):
    """Trained until E_total is ~1e-33, ½(t − a)² is rounding noise: LibreOffice gives 0 where
    the engine has 6e-33. The learning-rate sheet judges that cell against the size of its
    terms; the Overview's final E_total, a reference to it, is judged the same way."""
    require_libreoffice()
    from sheetgen.workbook.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "data": {"inputs": [[0.05, 0.1, 0.3, 0.7]], "targets": [[0.5, 0.5, 0.3, 0.6, 0.4, 0.5]]},
            "init": {"seed": 3, "distribution": "uniform", "scale": 0.5},
            "layers": [
                {"name": "h", "units": 16, "activation": "sigmoid", "weights": "random"},
                {"name": "o", "units": 6, "activation": "sigmoid", "weights": "random"},
            ],
            "training": {"learning_rates": [2.0], "iterations": 150},
        }
    )
    path = tmp_path / "converged.xlsx"
    build_workbook(spec, path)
    result = run(path)
    assert result.exit_code == 0, result.output
    assert re.search(r"^  final E_total +1 +\d\.\de-3\d ", result.output, re.M), result.output
