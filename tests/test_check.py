"""sheetgen check on hand-made-style workbooks: each planted mistake is found where it starts and
named; each correct twin passes; the columns a mistake spreads to are "follows from" it."""

import json
import re
import subprocess
import sys

import openpyxl
import pytest
from click.testing import CliRunner

from sheetgen.analyse.recalc import find_soffice, recalculate_many
from sheetgen.cli import main
from tests.conftest import ROOT, require_libreoffice
from tests.handmade import layout_block, layout_rows, layout_several, write_workbook

# name: (layout, sheets) -- each layout's correct twin, and its planted mistakes
VARIANTS = {
    "rows_ok": ("rows", layout_rows()),
    "rows_slope": ("rows", layout_rows({"g3": ("{dah2}*{ah1}*(1-{ah1})*{i1}", 0)})),
    "rows_absolute": ("rows", layout_rows({"w1": ("{w1@p}-{eta}*{g1@0}", 1)})),
    "block_ok": ("block", layout_block()),
    "block_sign": ("block", layout_block({"w5": ("{w5@p}+{eta}*{g5@p}", 1)})),
    "block_half": ("block", layout_block({"E1": ("({t1}-{ao1})^2", 0)})),
    "block_slope": ("block", layout_block({"dh2": ("{dah2}*{ah1}*(1-{ah1})", 0)})),
    "several_ok": ("several", layout_several()),
    "several_row": ("several", layout_several(plants_third={"h1": ("{w1@p}*{i1}+{w2}*{i2}", 1)})),
    "several_frozen": ("several", layout_several(plants_first={"ah1": ("1/(1+EXP(-{h1@0}))", 1)})),
}


def _plan(name, sheet, index=0):
    return VARIANTS[name][1][sheet][index]


# name: (sheet, table index on that sheet, column label, cell, what check must call it,
#        columns that must "follow from" it)
EXPECTED = {
    "rows_slope": (
        "Sheet1",
        0,
        "∂E/∂w3",
        ("g3", 0),
        "uses a_h1's slope a_h1·(1−a_h1) where a_h2's belongs",
        ["w3"],
    ),
    "rows_absolute": (
        "Sheet1",
        0,
        "w1",
        ("w1", 2),
        "uses ∂E/∂w1 of row 2 in every row: an absolute reference ($W$2) where a relative one belongs",
        [],
    ),
    "block_sign": (
        "Backprop",
        0,
        "w5",
        ("w5", 1),
        "adds η·dE/dw5 instead of subtracting it: w5 + η·dE/dw5 where w5 − η·dE/dw5 belongs",
        [],
    ),
    "block_half": (
        "Backprop",
        0,
        "E1",
        ("E1", 0),
        "misses the ½: (t1 − out_o1)² where ½·(t1 − out_o1)² belongs",
        ["E_tot"],
    ),
    "block_slope": (
        "Backprop",
        0,
        "δ_h2",
        ("dh2", 0),
        "uses out_h1's slope out_h1·(1−out_h1) where out_h2's belongs",
        ["dE/dw3", "dE/dw4", "w3", "w4"],
    ),
    "several_row": (
        "eta 1 and 2",
        1,
        "h1",
        ("h1", 1),
        "uses w1 of the row above where this row's belongs",
        ["ah1", "Etotal"],
    ),
    "several_frozen": (
        "eta 0.5",
        0,
        "ah1",
        ("ah1", 1),
        "uses h1 of row 6 in every row: an absolute reference ($J$6) where a relative one belongs",
        ["o1", "Etotal", "∂E_total/∂w5", "w5"],
    ),
}


@pytest.fixture(scope="session")
def handmade(tmp_path_factory):
    """Every variant written by openpyxl (no cached values) and recalculated in one
    LibreOffice run: {name: (as written, recalculated)}."""
    require_libreoffice()
    folder = tmp_path_factory.mktemp("handmade")
    written = {}
    for name, (layout, sheets) in VARIANTS.items():
        written[name] = folder / f"{name}.xlsx"
        write_workbook(written[name], layout, sheets)
    copies = recalculate_many(list(written.values()), folder / "recalculated")
    return {name: (written[name], copy) for name, copy in zip(written, copies)}


def run(*args):
    return CliRunner().invoke(main, ["check", *map(str, args)])


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", [n for n in VARIANTS if n.endswith("_ok")])
def test_correct_twins_pass(handmade, name):
    result = run(handmade[name][1])
    assert result.exit_code == 0, result.output
    tables = {"rows": 1, "block": 1, "several": 3}[VARIANTS[name][0]]
    assert result.output.splitlines()[-1] == (
        f"OK: {tables} table{'s' if tables > 1 else ''} checked, every column right"
    )
    assert "WRONG" not in result.output and "follows" not in result.output


@pytest.mark.libreoffice
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_planted_mistake_is_found_where_it_starts(handmade, name):
    sheet, index, label, (column, iteration), mistake, followers = EXPECTED[name]
    cell = _plan(name, sheet, index).cell(column, iteration)
    tables = {"rows": 1, "block": 1, "several": 3}[VARIANTS[name][0]]
    result = run(handmade[name][1])
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == (
        f"WRONG: 1 mistake in 1 of {tables} table{'s' if tables > 1 else ''}; the first at "
        f"{sheet}!{cell} ({label}): {mistake}"
    )
    assert f"  {label} is wrong from {sheet}!{cell}: =" in result.output

    report = json.loads(run(handmade[name][1], "--json").output)
    table = [t for t in report["tables"] if t["sheet"] == sheet][index]
    assert table["cause"]["column"] == label and table["cause"]["cell"] == cell
    statuses = {c["label"]: c for c in table["columns"]}
    assert [c for c in statuses if statuses[c]["status"] == "wrong"] == [label]
    for follower in followers:
        assert statuses[follower]["status"] == "follows", follower
        assert statuses[follower]["follows_from"] == label
    others = [t for t in report["tables"] if t is not table]
    assert all(t["ok"] for t in others)


@pytest.mark.libreoffice
def test_json_gives_the_same_findings(handmade):
    result = run(handmade["block_half"][1], "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False and report["recalculated"] is False
    (table,) = report["tables"]
    assert (table["sheet"], table["header_row"], table["rows"], table["network"]) == (
        "Backprop",
        30,
        [31, 56],
        "2-2-2",
    )
    assert table["constants"]["eta"] == "0.5 (Backprop!A4)"
    e1 = next(c for c in table["columns"] if c["label"] == "E1")
    assert e1["status"] == "wrong" and e1["wrong_cells"] == 26
    assert e1["formula"] == "=($D$4-O31)^2"
    assert e1["value"] == pytest.approx(2 * e1["expected"], rel=1e-12)
    assert e1["quantity"] == ["E", 0, 0]


@pytest.mark.libreoffice
def test_formulas_without_cached_values_are_recalculated_first(handmade):
    written = handmade["block_sign"][0]
    result = run(written)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"(recalculated {written.name} in LibreOffice first")
    assert "the first at Backprop!F32 (w5): adds η·dE/dw5" in result.output


@pytest.mark.libreoffice
def test_without_libreoffice_an_uncalculated_file_is_refused(handmade, monkeypatch):
    monkeypatch.setattr("sheetgen.analyse.recalc.find_soffice", lambda: None)
    written = handmade["rows_ok"][0]
    result = run(written)
    assert result.exit_code == 2
    assert result.output == (
        f"Error: {written} has formulas without cached values, so it "
        "must be recalculated first: LibreOffice is not installed; "
        "install it with: sudo apt-get install -y libreoffice-calc-nogui\n"
    )


@pytest.mark.slow
def test_a_workbook_sheetgen_built_passes(seed_workbook):
    result = run(seed_workbook)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "OK: 6 tables checked, every column right"
    assert (
        "lr 0.8: table with its header on row 27, rows 28–128, 2-2-2 network; "
        "η = 0.8 (lr 0.8!B5)" in result.output
    )


def test_no_table_gives_the_labels_it_looks_for(tmp_path):
    path = tmp_path / "scores.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["name", "score"])
    book.active.append(["Ada", 3])
    book.save(path)
    result = run(path)
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: no training table recognised in {path}. check finds a training table by its "
        "weight updates: cells that take each weight of one step and subtract η times its gradient"
    )
    assert result.output.rstrip().endswith("Labels are not needed")
    assert result.output.count("\n") == 1


def test_labels_down_a_column_without_updates_are_named_not_passed_over(tmp_path):
    """Labels of the weights down a column over typed numbers that are no training steps:
    check says where it saw them and why they are not a table."""
    path = tmp_path / "across.xlsx"
    book = openpyxl.Workbook()
    for label in ["i1", "i2", "t1", "t2"] + [f"w{n}" for n in range(1, 9)] + ["h1", "a_h1", "E_total"]:
        book.active.append([None, label, 0.1, 0.2, 0.3])
    book.save(path)
    result = run(path)
    assert result.exit_code == 2
    assert (
        "(Sheet!row 1: the labels down column B name the weights, but no weight is updated from "
        "a gradient (no cell computes w − η·∂E/∂w from another weight's cell), so no training "
        "step could be read)"
    ) in result.output


def test_a_table_without_inputs_says_what_is_missing(tmp_path):
    path = tmp_path / "no_inputs.xlsx"
    book = openpyxl.Workbook()
    book.active.append([f"w{n}" for n in range(1, 9)] + ["E_total"])
    book.active.append([0.1] * 9)
    book.save(path)
    result = run(path)
    assert result.exit_code == 2
    assert (
        "(Sheet!row 1: the labels along row 1 name the weights, but no weight is updated from a gradient"
    ) in result.output


# Run in a fresh interpreter: torch cannot be imported there (an import of it fails and is
# recorded), and check must still give its verdict.
_WITHOUT_TORCH = """
import json, sys
attempts = []

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision"):
            attempts.append(name)
            raise ImportError(f"{name} is not installed here")
        return None

sys.meta_path.insert(0, Refuse())
from sheetgen.cli import main
try:
    main(["check", *sys.argv[1:]])
except SystemExit as done:
    code = done.code
loaded = [m for m in sys.modules if m.startswith("torch")]
print(json.dumps({"exit": code, "attempts": attempts, "loaded": loaded}))
"""


def test_check_needs_no_torch_and_never_imports_it(tmp_path, seed_spec):
    """The check of a workbook, right and wrong, in an interpreter where torch cannot be
    imported: the verdict is the usual one, and no import of torch was even attempted."""
    from sheetgen.workbook.writer import build_workbook

    right = tmp_path / "right.xlsx"
    build_workbook(seed_spec.with_training(learning_rates=[0.5], iterations=5), right)
    wrong = tmp_path / "wrong.xlsx"
    book = openpyxl.load_workbook(right)
    sheet = book["lr 0.5"]
    sheet["K30"] = sheet["K30"].value + "*1.001"  # a_h1 of the third row, off by a thousandth
    book.save(wrong)  # no cached values now: LibreOffice recalculates it, if installed
    for path, status in ((right, 0), (wrong, 1)):
        if path is wrong and find_soffice() is None:
            continue
        done = subprocess.run(
            [sys.executable, "-c", _WITHOUT_TORCH, str(path)], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout.splitlines()[-1])
        assert result == {"exit": status, "attempts": [], "loaded": []}, done.stdout


def test_the_shape_is_read_from_the_labels(tmp_path, seed_spec):
    """3 inputs, 3 hidden units, 2 outputs: w1…w15 mean other units than in the exercise."""
    from sheetgen.workbook.spec import spec_from_dict
    from sheetgen.workbook.writer import build_workbook

    spec = spec_from_dict(
        {
            "data": {"inputs": [[0.05, 0.1, 0.2]], "targets": [[0.5, 0.1]]},
            "layers": [
                {"units": 3, "weights": [[0.15, 0.2, 0.1], [0.25, 0.3, -0.2], [0.1, 0.2, 0.3]]},
                {"units": 2, "weights": [[0.4, 0.45, 0.1], [0.5, 0.55, -0.3]]},
            ],
            "training": {"learning_rates": [0.7], "iterations": 30},
        }
    )
    path = tmp_path / "wide.xlsx"
    build_workbook(spec, path)
    result = run(path)
    assert result.exit_code == 0, result.output
    assert "lr 0.7: table with its header on row 27, rows 28–58, 3-3-2 network" in result.output
    assert re.search(r"^  ∂E/∂w15 +31 ", result.output, re.M)


@pytest.mark.slow
def test_a_table_of_several_samples_per_row_says_why_it_is_not_read(tmp_path):
    """XOR's sheets label units per sample (h1 (s1)); check reads one sample per row and says
    so, rather than guessing a shape ("0 hidden units"). A workbook sheetgen built says what
    its network is in its record, so check gives that reason, and points to verify."""
    from sheetgen.workbook.spec import load_spec
    from sheetgen.workbook.writer import build_workbook

    path = tmp_path / "xor.xlsx"
    build_workbook(load_spec(ROOT / "templates" / "xor.toml"), path)
    result = run(path)
    assert result.exit_code == 2
    assert (
        "(its record describes a network with 4 samples a step and biases that are trained, "
        "which check does not model)"
    ) in result.output
    assert "sheetgen verify" in result.output
    assert "0 hidden units" not in result.output


@pytest.mark.libreoffice
def test_a_file_libreoffice_cannot_convert_fails_alone_in_a_class(tmp_path, monkeypatch):
    """Files without cached values go through LibreOffice together; when one of them makes the
    run fail, the others are converted again one by one and checked, and only it is reported."""
    import sheetgen.analyse.recalc as recalc
    from sheetgen.analyse.check import check_many

    require_libreoffice()
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("rows_ok", "block_sign", "rows_bad"):
        layout, sheets = VARIANTS["rows_ok" if name == "rows_bad" else name]
        write_workbook(folder / f"{name}.xlsx", layout, sheets)
    real, runs = recalc._convert, []

    def convert(soffice, sources, *args, **kwargs):
        runs.append(len(sources))
        if any("rows_bad" in source.name for source in sources):
            raise recalc.RecalcError(f"LibreOffice could not convert {sources[-1]}: planted")
        return real(soffice, sources, *args, **kwargs)

    monkeypatch.setattr(recalc, "_convert", convert)
    outcomes = {o.path.name: o for o in check_many(sorted(folder.iterdir()))}
    assert runs == [3, 1, 1, 1]  # the batch, then each file alone
    assert outcomes["rows_ok.xlsx"].status == "right"
    assert outcomes["block_sign.xlsx"].status == "wrong"
    assert outcomes["rows_bad.xlsx"].status == "error"
    assert "planted" in outcomes["rows_bad.xlsx"].error


@pytest.mark.libreoffice
def test_a_class_goes_through_libreoffice_in_batches(tmp_path, monkeypatch):
    import sheetgen.analyse.check as check
    import sheetgen.analyse.recalc as recalc

    require_libreoffice()
    for name in ("rows_ok", "block_ok", "block_half"):
        layout, sheets = VARIANTS[name]
        write_workbook(tmp_path / f"{name}.xlsx", layout, sheets)
    real, runs = recalc._convert, []

    def convert(soffice, sources, *args, **kwargs):
        runs.append(len(sources))
        return real(soffice, sources, *args, **kwargs)

    monkeypatch.setattr(recalc, "_convert", convert)
    monkeypatch.setattr(check, "LIBREOFFICE_BATCH", 2)
    outcomes = check.check_many(sorted(tmp_path.glob("*.xlsx")))
    assert runs == [2, 1]
    assert [o.status for o in outcomes] == ["wrong", "right", "right"]  # block_half, block_ok, rows_ok
