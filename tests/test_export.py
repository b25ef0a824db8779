"""Training metrics into the backprop workbook without losing a chart, a formula or a value."""

import json
import zipfile

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetgen.analyse.recalc import recalculate
from sheetgen.cli import main
from sheetgen.record import RECORD_SHEET, read_record
from sheetgen.runs.export import recorded_training
from sheetgen.runs.mnist_sheets import (
    CONFUSION_SHEET,
    ERRORS_SHEET,
    METRIC_HEADERS,
    METRICS_SHEET,
    MODEL_SHEET,
)
from sheetgen.runs.training import METRIC_COLUMNS
from sheetgen.workbook.layout import SheetLayout, sheet_name
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook
from tests.conftest import require_libreoffice
from tests.run_fixtures import write_run_dir
from tests.torch_reference import autograd_columns, relative_error


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def parts(path):
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


@pytest.fixture
def built(tmp_path):
    spec = load_spec().with_training([0.5, 2.0], 30)
    path = tmp_path / "backprop.xlsx"
    build_workbook(spec, path)
    return spec, path


@pytest.fixture
def run_dir(tmp_path):
    return write_run_dir(tmp_path / "runs" / "seed-1", epochs=4)


@pytest.mark.slow
def test_export_adds_the_mnist_sheets_and_keeps_everything(built, run_dir):
    spec, path = built
    before = parts(path)
    result = run("export", run_dir, "--workbook", path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        f"wrote {path}: MNIST sheets for run seed-1 (4 epochs, final test accuracy 97.20%)"
    )
    after = parts(path)
    charts_before = sorted(n for n in before if n.startswith("xl/charts/chart"))
    charts_after = sorted(n for n in after if n.startswith("xl/charts/chart"))
    assert len(charts_before) == 3 and len(charts_after) == 5  # 2 sheets + overview, + 2 MNIST
    for name in charts_before:  # every chart it had, byte for byte
        assert after[name] == before[name], name
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [
        "Network",
        "Overview",
        "lr 0.5",
        "lr 2",
        METRICS_SHEET,
        MODEL_SHEET,
        CONFUSION_SHEET,
        ERRORS_SHEET,
        RECORD_SHEET,
    ]
    # every backprop sheet's cells (formulas and cached values) are as they were
    for n in range(1, 5):
        name = f"xl/worksheets/sheet{n}.xml"
        assert after[name] == before[name], name
    assert len([n for n in after if n.startswith("xl/media/")]) == 2  # diagram + gallery
    assert b"colorScale" in after["xl/worksheets/sheet7.xml"]  # the confusion heat map
    assert recorded_training(read_record(path), path).run_name == "seed-1"


@pytest.mark.slow
def test_metrics_cells_equal_metrics_csv(built, run_dir):
    _, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    csv = pd.read_csv(run_dir / "metrics.csv")
    sheet = pd.read_excel(path, sheet_name=METRICS_SHEET, header=2)
    # people read the sheet's headers; metrics.csv keeps the names programs use
    assert list(sheet.columns) == [
        "Epoch",
        "Train loss",
        "Train accuracy (%)",
        "Test loss",
        "Test accuracy (%)",
        "Learning rate",
        "Time (s)",
    ]
    assert list(csv.columns) == list(METRIC_COLUMNS)
    sheet.columns = [METRIC_COLUMNS[list(METRIC_HEADERS.values()).index(h)] for h in sheet.columns]
    pd.testing.assert_frame_equal(sheet, csv, check_dtype=False, rtol=0, atol=0)


@pytest.mark.slow
def test_metrics_sheet_shows_learning_rates_in_scientific_notation(built, run_dir):
    _, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    ws = openpyxl.load_workbook(path)[METRICS_SHEET]
    lr_col = METRIC_COLUMNS.index("lr") + 1
    formats = {ws.cell(row=4 + i, column=lr_col).number_format for i in range(4)}
    assert formats == {"0.0000E+00"}


@pytest.mark.libreoffice
def test_backprop_cells_still_match_autograd_after_export(built, run_dir, tmp_path):
    require_libreoffice()
    spec, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    book = openpyxl.load_workbook(recalculate(path, tmp_path / "lo"), data_only=True)
    layout = SheetLayout.for_spec(spec)
    first = layout.row(0) + 1
    for lr in spec.learning_rates:
        ws = book[sheet_name(lr)]
        expected = autograd_columns(spec, lr, spec.iterations)
        for quantity in layout.quantities[1:]:
            got = [
                ws.cell(row=first + t, column=layout.column_of[quantity.key] + 1).value
                for t in range(spec.iterations + 1)
            ]
            assert relative_error(got, expected[quantity.key]) <= 1e-12, quantity.label
    assert book[MODEL_SHEET]["D8"].value == 88  # the SUM of the parameters, recalculated
    confusion = json.loads((run_dir / "evaluation.json").read_text())["confusion"]
    recall = [book[CONFUSION_SHEET].cell(row=5 + t, column=12).value for t in range(10)]
    assert recall == pytest.approx([100 * row[t] / sum(row) for t, row in enumerate(confusion)], rel=1e-12)


@pytest.mark.slow
def test_export_again_is_byte_identical(built, run_dir):
    _, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    first = path.read_bytes()
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    assert path.read_bytes() == first


def test_a_workbook_edited_by_hand_is_not_clobbered(built, run_dir):
    _, path = built
    book = openpyxl.load_workbook(path)
    book["lr 0.5"]["B5"] = 0.7
    book.save(path)
    edited = path.read_bytes()
    result = run("export", run_dir, "--workbook", path)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path} has changed since sheetgen wrote it (edited by "
        "hand); it is left as it is. Give another --workbook for the "
        "metrics, or rebuild it with `sheetgen build`\n"
    )
    assert path.read_bytes() == edited


def test_a_workbook_sheetgen_did_not_make_is_refused(tmp_path, run_dir):
    path = tmp_path / "mine.xlsx"
    book = openpyxl.Workbook()
    book.active["A1"] = "my own notes"
    book.save(path)
    original = path.read_bytes()
    result = run("export", run_dir, "--workbook", path)
    assert result.exit_code == 1
    assert "was not made by sheetgen" in result.output
    assert path.read_bytes() == original


@pytest.mark.slow
def test_a_new_workbook_is_built_from_the_default_template(tmp_path, run_dir):
    path = tmp_path / "new.xlsx"
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    record = read_record(path)
    assert record.spec == load_spec() and recorded_training(record, path) is not None
    assert "lr 0.8" in openpyxl.load_workbook(path, read_only=True).sheetnames


@pytest.mark.slow
def test_plots_are_written_next_to_the_run(built, run_dir):
    _, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    for name in ("curves.png", "confusion.png", "misclassified.png"):
        assert (run_dir / name).read_bytes().startswith(b"\x89PNG"), name


@pytest.mark.slow
def test_a_workbook_that_cannot_be_replaced_is_left_whole(built, run_dir, monkeypatch):
    _, path = built
    original = path.read_bytes()

    import os

    real_replace = os.replace

    def refuse(source, target):  # the workbook is locked; other renames go through
        if str(target) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_replace(source, target)

    monkeypatch.setattr("sheetgen.files.os.replace", refuse)
    result = run("export", run_dir, "--workbook", path)
    assert result.exit_code == 1
    assert result.output == f"Error: cannot write {path}: Permission denied\n"
    assert path.read_bytes() == original
    assert sorted(p.name for p in path.parent.iterdir()) == ["backprop.xlsx", "runs"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "metrics.csv").unlink(), "metrics.csv does not exist: is it a run dir"),
        (
            lambda d: (d / "metrics.csv").write_text("epoch,loss\n1,0.5\n"),
            "metrics.csv has columns ['epoch', 'loss'], expected epoch,train_loss",
        ),
        (lambda d: (d / "summary.json").write_text("{"), "cannot read"),
    ],
)
def test_bad_run_dirs_get_one_line(built, run_dir, damage, message):
    _, path = built
    damage(run_dir)
    result = run("export", run_dir, "--workbook", path)
    assert result.exit_code == 1 and message in result.output
    assert result.output.count("\n") == 1


def test_missing_run_dir(built, tmp_path):
    _, path = built
    result = run("export", tmp_path / "nowhere", "--workbook", path)
    assert result.exit_code == 1
    assert result.output == f"Error: run dir {tmp_path / 'nowhere'} does not exist\n"


@pytest.mark.slow
def test_an_interrupted_export_leaves_the_workbook_that_was_there(built, run_dir, monkeypatch):
    """Ctrl-C halfway through rendering: the old workbook stays, whole, and no temporary."""
    _, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    before = path.read_bytes()

    from sheetgen.runs.export import WorkbookExporter
    from sheetgen.runs.training import read_run

    exporter = WorkbookExporter(path)
    exporter.prepare()  # the check that it is untouched renders it once, uninterrupted

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sheetgen.runs.mnist_sheets._errors_sheet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        exporter.write(read_run(run_dir))
    assert path.read_bytes() == before
    assert openpyxl.load_workbook(path, read_only=True).sheetnames[-1] == RECORD_SHEET
    assert sorted(p.name for p in path.parent.iterdir()) == ["backprop.xlsx", "runs"]


@pytest.mark.slow
def test_build_run_workbook_reports_the_sheets_it_writes(tmp_path, run_dir):
    from sheetgen.runs.export import build_run_workbook
    from sheetgen.runs.training import read_run

    path = tmp_path / "book.xlsx"
    report = build_run_workbook(load_spec().with_training([0.5], 5), path, read_run(run_dir))
    assert report.sheets + (RECORD_SHEET,) == tuple(openpyxl.load_workbook(path, read_only=True).sheetnames)
    assert report.sheets[-4:] == (METRICS_SHEET, MODEL_SHEET, CONFUSION_SHEET, ERRORS_SHEET)


@pytest.mark.slow
def test_the_record_reads_the_same_from_the_file_and_from_grids(built, run_dir):
    """export reads the record with read_record, verify and history from grids: one reader."""
    from sheetgen.analyse.reading import load_grids
    from sheetgen.record import record_from_grids

    _, path = built
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    record = read_record(path)
    assert record.training_json is not None and record.seal is not None
    for formulas in (True, False):
        assert record_from_grids(load_grids(path, formulas=formulas), path) == record


def _record_sheet(path, rows):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = RECORD_SHEET
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


SPEC_JSON = load_spec().to_json()


@pytest.mark.parametrize(
    "rows, reason",
    [
        ([("other", "0.1.0"), (SPEC_JSON,)], "its 'sheetgen' sheet is not a sheetgen record"),
        ([("sheetgen", "0.1.0"), ("{",)], "its sheetgen record cannot be read (Expecting"),
        (
            [("sheetgen", "0.1.0", '{"parts": 1}'), (SPEC_JSON,)],
            "its sheetgen record cannot be read (its seal is not sheetgen's)",
        ),
    ],
    ids=["no header", "spec not JSON", "a seal not sheetgen's"],
)
def test_both_ways_of_reading_the_record_refuse_alike(tmp_path, rows, reason):
    from sheetgen.analyse.reading import load_grids
    from sheetgen.record import NoSpecError, RecordError, record_from_grids

    path = _record_sheet(tmp_path / "book.xlsx", rows)
    with pytest.raises(RecordError) as from_file:
        read_record(path)
    with pytest.raises(NoSpecError) as from_grids:
        record_from_grids(load_grids(path, formulas=True), path)
    assert str(from_file.value) == str(from_grids.value)
    assert str(from_file.value).startswith(f"{path}: {reason}")


def test_a_record_split_by_a_number_reads_alike_both_ways(tmp_path):
    """Every text cell of the column counts, whichever reader reads it."""
    from sheetgen.analyse.reading import load_grids
    from sheetgen.record import record_from_grids

    half = len(SPEC_JSON) // 2
    path = _record_sheet(
        tmp_path / "book.xlsx", [("sheetgen", "0.1.0"), (SPEC_JSON[:half],), (7,), (SPEC_JSON[half:],)]
    )
    record = read_record(path)
    assert record.spec == load_spec() and record.training_json is None
    assert record_from_grids(load_grids(path, formulas=True), path) == record
