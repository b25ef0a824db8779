"""The trained CNN as live formulas ('MNIST live'), proven by LibreOffice against model.pt2.

The run is the tiny 2-epoch one of mnist_fixtures (synthetic digits, real training code), so
the weights are a trained network's, BatchNorm statistics included.
"""

import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import torch
import xlsxwriter
from click.testing import CliRunner
from mnist_fixtures import TEST_COUNT, mnist_data_dir, mnist_run, synthetic_digits  # noqa: F401

from mnist.export import load_model
from sheetgen.analyse.recalc import _PROFILE, find_soffice, recalculate, recalculate_many
from sheetgen.cli import main
from sheetgen.record import RECORD_SHEET
from sheetgen.runs import cnn
from sheetgen.runs.live_layout import (
    BLANK_NOTE,
    CHOOSER_ROW,
    DIGITS_SHEET,
    LIVE_SHEET,
    PREDICTION_ROW,
    TRUE_LABEL_ROW,
    VALUE_COL,
    WEIGHTS_SHEET,
    LiveLayout,
)
from sheetgen.runs.mnist_live import BLANK_NOTE_TEXT, write_live_sheets
from sheetgen.runs.mnist_sheets import SHEETS as METRIC_SHEETS
from sheetgen.runs.training import read_run
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import _formats as writer_formats
from sheetgen.workbook.writer import build_workbook
from tests.conftest import require_libreoffice
from tests.run_fixtures import write_run_dir

# float32 model against a float64 sheet: a logit may differ by float32 rounding, no more
LOGIT_TOLERANCE = 1e-5


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def relative_error(got, expected) -> float:
    """Largest |got - expected| over the largest |expected|: one scale for the ten logits."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(got - expected)) / np.max(np.abs(expected)))


@pytest.fixture(scope="module")
def exported(mnist_run, tmp_path_factory):
    """A small backprop workbook with the tiny run exported into it, and the run."""
    result, _ = mnist_run
    path = tmp_path_factory.mktemp("live") / "backprop.xlsx"
    build_workbook(load_spec().with_training([0.5], 5), path)
    outcome = run("export", result.run_dir, "--workbook", path)
    assert outcome.exit_code == 0, outcome.output
    return path, result.run_dir


def torch_logits(run_dir: Path, pixels: np.ndarray) -> np.ndarray:
    """model.pt2 on images given as float arrays in [0, 1], shaped (N, 28, 28)."""
    model = load_model(run_dir / "model.pt2")
    with torch.no_grad():
        images = torch.from_numpy(np.asarray(pixels, dtype=np.float32)).unsqueeze(1)
        return model(images).double().numpy()


def sheet_index(path: Path, name: str) -> int:
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return book.sheetnames.index(name)
    finally:
        book.close()


def with_chooser(parts: dict, part: str, number: int) -> dict:
    """The package with the chooser cell set to `number`, as a user typing it would."""
    sheet = parts[part].decode()
    chooser = f"B{CHOOSER_ROW + 1}"
    pattern = rf'(<c r="{chooser}"[^>]*><v>)1(</v></c>)'
    assert len(re.findall(pattern, sheet)) == 1
    return {**parts, part: re.sub(pattern, rf"\g<1>{number}\g<2>", sheet).encode()}


def live_sheet_as_csv(paths: list[Path], sheet_number: int, out_dir: Path) -> list[Path]:
    """Recalculate workbooks in LibreOffice (forced) and save one sheet of each as CSV, with
    every value in full (not as shown). Two LibreOffice processes share the files: the run is
    bound by LibreOffice loading and recalculating them."""
    soffice = find_soffice()
    filter_options = f"44,34,76,1,,0,false,true,false,false,false,{sheet_number}"

    def convert(group: list[Path]) -> None:
        with tempfile.TemporaryDirectory(prefix="live-lo-") as profile:
            (Path(profile) / "user").mkdir()
            (Path(profile) / "user" / "registrymodifications.xcu").write_text(_PROFILE)
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={Path(profile).as_uri()}",
                    "--headless",
                    "--norestore",
                    "--nolockcheck",
                    "--convert-to",
                    f"csv:Text - txt - csv (StarCalc):{filter_options}",
                    "--outdir",
                    str(out_dir),
                    *map(str, group),
                ],
                check=True,
                capture_output=True,
                timeout=600,
                env={**os.environ, "HOME": profile},
            )

    halves = [paths[: len(paths) // 2], paths[len(paths) // 2 :]]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(convert, [h for h in halves if h]))
    return [out_dir / f"{p.stem}-{LIVE_SHEET}.csv" for p in paths]


def csv_value(rows, row: int, col: int):
    text = rows[row][col]
    if text.endswith("%"):
        return float(text[:-1]) / 100
    try:
        return float(text)
    except ValueError:
        return text


@pytest.mark.libreoffice
def test_each_stored_digit_recalculated_by_libreoffice_matches_the_exported_model(exported, tmp_path):
    """Set the chooser to 1..100, recalculate each in LibreOffice, compare with model.pt2."""
    require_libreoffice()
    _, run_dir = exported
    network = read_run(run_dir).live
    layout = LiveLayout.for_network(network)
    count = len(network.digit_labels)
    assert count == min(100, TEST_COUNT) == 100
    # the stored digits are the test set's first 100, labels and all (an independent source:
    # the fixture's own generator)
    images, labels = synthetic_digits(TEST_COUNT, 2)
    assert np.array_equal(network.digit_pixels, images[:count])
    assert list(network.digit_labels) == labels[:count].tolist()

    # The three live sheets alone, as export writes them (the same code, the same sheet names
    # that the formulas refer to): LibreOffice then loads a third less per variant, which keeps
    # this test near two minutes on a busy 2-core machine. The tests below recalculate the
    # whole exported workbook.
    path = tmp_path / "live.xlsx"
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    write_live_sheets(workbook, writer_formats(workbook), network)
    workbook.close()
    index = sheet_index(path, LIVE_SHEET)
    part = f"xl/worksheets/sheet{index + 1}.xml"
    with zipfile.ZipFile(path) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    variants = []
    for number in range(1, count + 1):
        variant = tmp_path / f"digit{number:03d}.xlsx"
        with zipfile.ZipFile(variant, "w", zipfile.ZIP_STORED) as package:  # quick to write
            for name, data in with_chooser(parts, part, number).items():
                package.writestr(name, data)
        variants.append(variant)
    sheets = live_sheet_as_csv(variants, index + 1, tmp_path / "csv")

    expected = torch_logits(run_dir, images[:count] / 255.0)
    worst = 0.0
    for number, sheet in enumerate(sheets, start=1):
        with open(sheet, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        logits = [csv_value(rows, *layout.logit_cell(d)) for d in range(10)]
        error = relative_error(logits, expected[number - 1])
        worst = max(worst, error)
        assert error <= LOGIT_TOLERANCE, (number, error)
        assert csv_value(rows, PREDICTION_ROW, VALUE_COL) == expected[number - 1].argmax(), number
        assert csv_value(rows, TRUE_LABEL_ROW, VALUE_COL) == labels[number - 1], number
        probabilities = [csv_value(rows, *layout.probability_cell(d)) for d in range(10)]
        assert sum(probabilities) == pytest.approx(1, abs=1e-12)
    assert worst > 0  # a float32 model and a float64 sheet cannot agree to the last bit


def draw_seven(grid: np.ndarray) -> np.ndarray:
    """A hand-drawn 7: a bar on top and a slanted stroke, some pixels half-inked."""
    grid[5, 7:21] = 1.0
    grid[6, 7:21] = 0.5
    for y in range(7, 24):
        x = 20 - (y - 7) // 2
        grid[y, x] = 1.0
        grid[y, x - 1] = 0.5
    return grid


def draw(ws, layout: LiveLayout, image: np.ndarray) -> None:
    """Type an image's inked pixels into the canvas, as a user drawing does."""
    for y, x in zip(*np.nonzero(image)):
        row, col = layout.canvas(y, x)
        ws.cell(row=row + 1, column=col + 1).value = float(image[y, x])


def live_rows(path: Path) -> list[tuple]:
    return list(openpyxl.load_workbook(path, data_only=True)[LIVE_SHEET].iter_rows(values_only=True))


@pytest.mark.libreoffice
def test_a_user_chooses_a_digit_draws_one_and_chooses_again(exported, tmp_path):
    """As a user does, on one workbook: choose digit 5; set the chooser to 0 (a blank canvas);
    draw a 7 on the canvas; choose 5 again. LibreOffice recalculates each state: the input grid
    stays formulas throughout, digit 5 comes back untouched by the drawing, and every
    prediction is model.pt2's on the same image (logits within 1e-5); the blank canvas, and
    only it, gets the note that the network never saw such an image."""
    require_libreoffice()
    path, run_dir = exported
    network = read_run(run_dir).live
    layout = LiveLayout.for_network(network)
    seven = draw_seven(np.zeros((28, 28)))
    digit5 = cnn.stored_pixels(network, 5)
    # each state is the one before with the user's next edit; openpyxl saves a workbook with
    # pictures once, so each is the exported file with every edit up to it
    edits = [("chosen5", 5, False), ("blank", 0, False), ("drawn7", 0, True), ("chosen5again", 5, True)]
    images = [digit5, np.zeros((28, 28)), seven, digit5]
    labels = [network.digit_labels[4], "drawn", "drawn", network.digit_labels[4]]
    steps = []  # (file, the image the grid must hold, the true label)
    for (name, number, drawn), image, label in zip(edits, images, labels):
        book = openpyxl.load_workbook(path)  # formulas kept; charts do not matter here
        ws = book[LIVE_SHEET]
        ws.cell(row=CHOOSER_ROW + 1, column=VALUE_COL + 1).value = number
        if drawn:
            draw(ws, layout, seven)
        steps.append((tmp_path / f"{name}.xlsx", image, label))
        book.save(steps[-1][0])
    grid = [layout.pixel(y, x) for y in range(28) for x in range(28)]
    assert all(str(ws.cell(row=r + 1, column=c + 1).value).startswith("=IF(") for r, c in grid)
    recalculated = recalculate_many([file for file, _, _ in steps], tmp_path / "lo")
    expected = torch_logits(run_dir, np.stack([image for _, image, _ in steps]))
    note_row, note_col, _ = BLANK_NOTE
    for (file, image, label), sheet, logits_expected in zip(steps, recalculated, expected):
        rows = live_rows(sheet)
        pixels = np.array([rows[r][c] for r, c in grid], dtype=np.float64).reshape(28, 28)
        # LibreOffice saves 15 significant digits: a stored grey level / 255 to that rounding
        np.testing.assert_allclose(pixels, image, rtol=1e-14, atol=0, err_msg=file.stem)
        logits = [rows[r][c] for r, c in (layout.logit_cell(d) for d in range(10))]
        assert relative_error(logits, logits_expected) <= LOGIT_TOLERANCE, file.stem
        assert rows[PREDICTION_ROW][VALUE_COL] == logits_expected.argmax(), file.stem
        assert rows[TRUE_LABEL_ROW][VALUE_COL] == label, file.stem
        assert (rows[note_row][note_col] or "") == (BLANK_NOTE_TEXT if file.stem == "blank" else ""), (
            file.stem
        )
    first, last = (live_rows(sheet) for sheet in (recalculated[0], recalculated[-1]))
    assert [first[r][c] for r, c in grid] == [last[r][c] for r, c in grid]
    assert not np.allclose(expected[1], expected[2])  # the drawing is what the network saw


@pytest.mark.libreoffice
def test_an_edited_weight_moves_the_prediction_of_a_drawn_digit(exported, tmp_path):
    """A 7 drawn on the canvas, then a weight edited on 'MNIST weights': LibreOffice's logits
    follow the model with that weight changed."""
    require_libreoffice()
    path, run_dir = exported
    network = read_run(run_dir).live
    layout = LiveLayout.for_network(network)
    book = openpyxl.load_workbook(path)
    book[LIVE_SHEET].cell(row=CHOOSER_ROW + 1, column=VALUE_COL + 1).value = 0
    drawn = draw_seven(np.zeros((28, 28)))
    draw(book[LIVE_SHEET], layout, drawn)
    expected = torch_logits(run_dir, drawn[None])[0]
    # lower the predicted digit's bias by 100
    predicted = int(expected.argmax())
    bias_row, bias_col = layout.bias_cell(predicted)
    book[WEIGHTS_SHEET].cell(row=bias_row + 1, column=bias_col + 1).value = (
        float(network.linear_bias[predicted]) - 100
    )
    reweighted = tmp_path / "reweighted.xlsx"
    book.save(reweighted)
    rows = live_rows(recalculate(reweighted, tmp_path / "lo"))
    logits = np.array([rows[r][c] for r, c in (layout.logit_cell(d) for d in range(10))])
    moved = expected.copy()
    moved[predicted] -= 100
    assert relative_error(logits, moved) <= LOGIT_TOLERANCE
    assert rows[PREDICTION_ROW][VALUE_COL] == moved.argmax() != predicted
    assert rows[TRUE_LABEL_ROW][VALUE_COL] == "drawn"


@pytest.mark.slow
def test_cached_values_are_the_numpy_forward_pass_of_digit_one(exported):
    """What a spreadsheet shows before recalculating: cnn.forward on stored digit 1."""
    path, run_dir = exported
    network = read_run(run_dir).live
    layout = LiveLayout.for_network(network)
    act = cnn.forward(network, cnn.stored_pixels(network, 1))
    rows = list(
        openpyxl.load_workbook(path, data_only=True, read_only=True)[LIVE_SHEET].iter_rows(values_only=True)
    )
    assert [rows[r][c] for r, c in (layout.logit_cell(d) for d in range(10))] == act.logits.tolist()
    top, left = layout.convs[1].origins[3]
    block = [
        [rows[top + y][left + x] for x in range(layout.convs[1].side)] for y in range(layout.convs[1].side)
    ]
    assert block == act.convs[1][3].tolist()
    assert relative_error(act.logits, torch_logits(run_dir, act.pixels[None])[0]) <= 1e-5


@pytest.mark.slow
def test_the_numpy_engine_equals_the_float64_torch_model(mnist_run):
    """The reference engine against the trained model itself, run by torch in float64, on
    every stored digit: BatchNorm folding and every layer must agree to rounding."""
    from mnist.model import DigitNet
    from mnist.train import read_checkpoint

    result, _ = mnist_run
    network = read_run(result.run_dir).live
    model = DigitNet().double().eval()
    model.load_state_dict(read_checkpoint(result.run_dir)["model"])
    pixels = network.digit_pixels / 255.0
    with torch.no_grad():
        expected = model(torch.from_numpy(pixels).unsqueeze(1)).numpy()
    for n in range(len(pixels)):
        got = cnn.forward(network, pixels[n]).logits
        assert relative_error(got, expected[n]) <= 1e-12, n


@pytest.mark.slow
def test_the_live_sheets_come_after_the_others_and_leave_them_byte_for_byte(mnist_run, tmp_path):
    """The backprop sheets and charts, and the four metrics sheets, are what they were."""
    result, _ = mnist_run
    without = tmp_path / "without" / result.run_dir.name
    shutil.copytree(result.run_dir, without)
    (without / "inference.json").unlink()
    paths = {}
    for name, run_dir in (("with", result.run_dir), ("without", without)):
        paths[name] = tmp_path / f"{name}.xlsx"
        build_workbook(load_spec().with_training([0.5, 2.0], 30), paths[name])
        outcome = run("export", run_dir, "--workbook", paths[name])
        assert outcome.exit_code == 0, outcome.output
    parts = {}
    for name, path in paths.items():
        with zipfile.ZipFile(path) as package:
            parts[name] = {n: package.read(n) for n in package.namelist()}
    for n in range(1, 9):  # Network, Overview, 2 rate sheets, 4 metrics sheets
        part = f"xl/worksheets/sheet{n}.xml"
        assert parts["with"][part] == parts["without"][part], part
    for n in range(1, 6):  # 2 rate sheets + overview + 2 metrics charts
        part = f"xl/charts/chart{n}.xml"
        assert parts["with"][part] == parts["without"][part], part
    assert "xl/charts/chart6.xml" in parts["with"]  # the bar chart of probabilities
    names = openpyxl.load_workbook(paths["with"], read_only=True).sheetnames
    assert names == [
        "Network",
        "Overview",
        "lr 0.5",
        "lr 2",
        *METRIC_SHEETS,
        LIVE_SHEET,
        WEIGHTS_SHEET,
        DIGITS_SHEET,
        RECORD_SHEET,
    ]


@pytest.mark.slow
def test_export_again_is_byte_identical_with_the_live_sheets(exported):
    path, run_dir = exported
    first = path.read_bytes()
    assert run("export", run_dir, "--workbook", path).exit_code == 0
    assert path.read_bytes() == first


@pytest.mark.slow
def test_a_run_dir_without_inference_json_exports_as_before_with_a_note(tmp_path):
    run_dir = write_run_dir(tmp_path / "runs" / "old", epochs=2)
    path = tmp_path / "b.xlsx"
    outcome = run("export", run_dir, "--workbook", path)
    assert outcome.exit_code == 0, outcome.output
    assert outcome.output.splitlines()[-1] == (
        f"note: {run_dir} has no inference.json (a run made before the live sheet existed), "
        "so the workbook has no 'MNIST live' sheet; train again to get it"
    )
    assert LIVE_SHEET not in openpyxl.load_workbook(path, read_only=True).sheetnames


def _inference(run_dir: Path) -> dict:
    return json.loads((run_dir / "inference.json").read_text())


def _damaged(change):
    def damage(run_dir: Path) -> None:
        data = _inference(run_dir)
        change(data)
        (run_dir / "inference.json").write_text(json.dumps(data))

    return damage


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "inference.json").write_text("{"), "cannot read"),
        (
            lambda d: (d / "inference.json").write_bytes(b" " * (16 * 1024 * 1024 + 1)),
            "inference.json holds 16,777,217 bytes; a run dir's files hold at most 16,777,216",
        ),
        (lambda d: (d / "inference.json").write_text("[" * 100_000), "cannot read"),
        (_damaged(lambda x: x.update(format=2)), "has format 2; this sheetgen reads format 1"),
        (
            _damaged(lambda x: x["convs"][1]["weight"].pop()),
            "convs[2].shift must be 11; found 12 where 11 belong",
        ),
        (
            _damaged(lambda x: x["convs"][0]["weight"][0][0][1].append(0.5)),
            "convs[1].weight must be 8x1x3x3; found 4 where 3 belong",
        ),
        (
            _damaged(lambda x: x["convs"][0]["shift"].__setitem__(2, "1")),
            "convs[1].shift holds str where a number belongs",
        ),
        (
            _damaged(lambda x: x["linear"]["bias"].__setitem__(0, 1e300)),
            "linear.bias holds 1e+300, not a finite number within ±1e+06",
        ),
        (_damaged(lambda x: x["normalize"].update(std=0)), "normalize.std must be positive"),
        (
            _damaged(lambda x: x.update(convs=x["convs"] * 2)),
            "the number of convolutions must be a whole number in 1..8, got 10",
        ),
        (
            _damaged(lambda x: x["digits"]["labels"].pop()),
            "digits has 100 indices, 99 labels and 100 pictures; they must agree",
        ),
        (
            _damaged(lambda x: x["digits"]["labels"].__setitem__(0, 10)),
            "a digit's label must be a whole number in 0..9, got 10",
        ),
        (
            _damaged(lambda x: x["digits"]["pixels"].__setitem__(3, "AAAA")),
            "digits.pixels[3] has 3 bytes, not 784",
        ),
        (_damaged(lambda x: x.update(pool_after=6)), "pool_after must be a whole number in 1..5"),
    ],
)
def test_a_bad_inference_json_gets_one_line_and_leaves_the_workbook(mnist_run, tmp_path, damage, message):
    result, _ = mnist_run
    run_dir = tmp_path / "run"
    shutil.copytree(result.run_dir, run_dir)
    damage(run_dir)
    path = tmp_path / "b.xlsx"
    build_workbook(load_spec().with_training([0.5], 5), path)
    before = path.read_bytes()
    outcome = run("export", run_dir, "--workbook", path)
    assert outcome.exit_code == 1
    assert outcome.output.startswith("Error: ") and message in outcome.output, outcome.output
    assert outcome.output.count("\n") == 1
    assert path.read_bytes() == before


@pytest.mark.libreoffice
def test_verify_covers_the_live_sheet(exported, tmp_path):
    """verify recalculates 'MNIST live' and holds every layer to the NumPy engine; a formula
    changed by hand is named, with the layer it belongs to."""
    require_libreoffice()
    path, run_dir = exported
    outcome = run("verify", path)
    assert outcome.exit_code == 0, outcome.output
    lines = outcome.stdout.splitlines()  # openpyxl may warn on stderr
    live = lines.index("MNIST live: 18,930 cells")
    assert [line.split()[0] for line in lines[live + 2 : live + 16]] == [
        "input",
        "normalised",
        "conv1",
        "conv2",
        "pool",
        "conv3",
        "conv4",
        "conv5",
        "average",
        "logit",
        "probability",
        "predicted",
        "true",
        "blank",
    ]
    assert lines[-1].startswith("OK: ")

    layout = LiveLayout.for_network(read_run(run_dir).live)
    top, left = layout.convs[2].origins[5]
    book = openpyxl.load_workbook(path)
    target = book[LIVE_SHEET].cell(row=top + 3, column=left + 3)  # conv3 ch6, (2, 2)
    original = target.value
    target.value = original + "+0.001"
    broken = tmp_path / "broken.xlsx"
    book.save(broken)
    outcome = run("verify", broken)
    assert outcome.exit_code == 1
    assert (
        f"first at MNIST live!{target.coordinate} (conv3) {original}+0.001: LibreOffice "
        "gives" in outcome.stdout
    )


@pytest.mark.libreoffice
def test_verify_names_a_changed_cached_value_on_the_live_sheet(exported, tmp_path):
    """A cached value of 'MNIST live' that LibreOffice's recalculation does not give is named
    with its cell, the value the file holds and the one LibreOffice gives."""
    require_libreoffice()
    path, run_dir = exported
    layout = LiveLayout.for_network(read_run(run_dir).live)
    top, left = layout.convs[2].origins[5]
    cell = openpyxl.utils.get_column_letter(left + 3) + str(top + 3)  # conv3 ch6, (2, 2)
    sheets = openpyxl.load_workbook(path, read_only=True).sheetnames
    part = f"xl/worksheets/sheet{sheets.index(LIVE_SHEET) + 1}.xml"  # XlsxWriter's numbering
    tampered = tmp_path / "cache.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == part:
                pattern = rf'(<c r="{cell}"[^>]*><f>[^<]*</f><v>)[^<]*(</v>)'.encode()
                data, count = re.subn(pattern, rb"\g<1>12345\g<2>", data)
                assert count == 1
            target.writestr(item, data)
    outcome = run("verify", tampered)
    assert outcome.exit_code == 1, outcome.output
    assert f"first at MNIST live!{cell} (conv3) " in outcome.stdout
    assert ": the cached value is 12345, LibreOffice gives " in outcome.stdout


def test_live_formulas_need_none_of_xlsxwriters_function_prefixes(exported):
    """The live sheet writes formulas as given (PlainFormulaWorksheet); that is right only
    while they call no function XlsxWriter would have prefixed with _xlfn."""
    from xlsxwriter.worksheet import Worksheet

    from sheetgen.runs.mnist_live import LIVE_FUNCTIONS

    path, _ = exported
    formulas = [
        v
        for row in openpyxl.load_workbook(path, read_only=True)[LIVE_SHEET].iter_rows(values_only=True)
        for v in row
        if isinstance(v, str) and v.startswith("=")
    ]
    assert len(formulas) == 18_930
    called = {name for f in formulas for name in re.findall(r"([A-Z][A-Z0-9.]*)\(", f)}
    assert called == LIVE_FUNCTIONS
    stock = Worksheet()
    for formula in {re.sub(r"\d+", "1", f): f for f in formulas}.values():  # one per shape
        assert stock._prepare_formula(formula) == formula[1:]
        assert stock._prepare_formula(formula, expand_future_functions=True) == formula[1:]


@pytest.mark.libreoffice
def test_verify_follows_a_drawn_digit_and_an_edited_weight(exported, tmp_path):
    """Inputs a user changed are inputs: verify checks the sheet against the canvas and the
    weights as they are, and against a pixel typed over the input grid's formula (the sheet
    unprotected), with notes for what differs from the run."""
    require_libreoffice()
    path, run_dir = exported
    layout = LiveLayout.for_network(read_run(run_dir).live)
    book = openpyxl.load_workbook(path)
    book[LIVE_SHEET].cell(row=CHOOSER_ROW + 1, column=VALUE_COL + 1).value = 0
    draw(book[LIVE_SHEET], layout, draw_seven(np.zeros((28, 28))))
    row, col = layout.pixel(14, 3)
    book[LIVE_SHEET].cell(row=row + 1, column=col + 1).value = 0.5
    row, col = layout.kernel_origins[(2, 4, 3)]
    book[WEIGHTS_SHEET].cell(row=row + 2, column=col + 2).value = 0.75
    edited = tmp_path / "edited.xlsx"
    book.save(edited)
    outcome = run("verify", edited)
    assert outcome.exit_code == 0, outcome.stdout
    assert (
        f"note: {WEIGHTS_SHEET}: 1 weight differs from the recorded run; compared with what "
        "the sheet's weights give"
    ) in outcome.stdout
    assert (
        f"note: {LIVE_SHEET}: 1 pixel typed into the grid; the network is checked on the image the grid holds"
    ) in outcome.stdout
    assert "  true label           1          0" in outcome.stdout
