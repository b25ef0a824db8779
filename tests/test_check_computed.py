"""check reads each column by what it computes, not by its header: the same hand-made table
under the header spellings real workbooks use, under headers that say nothing, stored with
Google Sheets' ten significant digits, and with a mistake planted or none. Each case gives the
exact cells that must be flagged; every numeric column must be recognised.

The workbooks are written with their cached values (tests/handmade.py evaluates the formulas),
so no LibreOffice is needed."""

import json

import pytest
from click.testing import CliRunner

from sheetgen.cli import main
from tests.handmade import FORWARD, GRADIENTS, WEIGHTS, layout_rows, workbook_of, write_cached

# The rows layout's labels (tests/handmade.py layout_rows), by column name.
BASE = {
    "iteration": "iteration",
    "t1": "t1",
    "t2": "t2",
    "i1": "i1",
    "i2": "i2",
    **{w: w for w in WEIGHTS},
    **{n: n if not n.startswith("a") else f"a_{n[1:]}" for n in FORWARD},
    "Et": "E_total",
    **{g: f"∂E/∂w{g[1:]}" for g in GRADIENTS},
}
# w3 and w4 updated with ∂E/∂w1 and ∂E/∂w2 from the second row on
CROSSED = {"w3": ("{w3@p}-{eta}*{g1@p}", 1), "w4": ("{w4@p}-{eta}*{g2@p}", 1)}
# ∂E/∂w3 takes a_h1's slope where a_h2's belongs, from the first row
SLOPE = {"g3": ("{dah2}*{ah1}*(1-{ah1})*{i1}", 0)}


def _gradients(pattern):
    return {g: pattern.format(n=g[1:]) for g in GRADIENTS}


# case: (labels that differ from BASE, η's label, plants, digits stored, cells that must be
#        flagged as where a mistake starts: {column name: iteration})
CASES = {
    "capital W, η labelled L.R": (_gradients("∂E_t/∂W{n}"), "L.R", CROSSED, None, {"w3": 1, "w4": 1}),
    "eth and a zero for o": (
        {**_gradients("ðE_t/ðw{n}"), "ao1": "a_01", "ao2": "a_02", "ah1": "a_h1", "ah2": "a_h2"},
        "learning rate",
        SLOPE,
        None,
        {"g3": 0},
    ),
    "mathematical bold partial": (_gradients("𝟃E/𝟃w{n}"), "learning rate", SLOPE, None, {"g3": 0}),
    "Cyrillic schwa": (_gradients("ӘE/Әw{n}"), "learning rate", {}, None, {}),
    "E_t and a target described": (
        {"Et": "E_t", "t1": "t1 ( output of out_o1)", "t2": "t2 ( output of out_o2)"},
        "learning rate",
        SLOPE,
        None,
        {"g3": 0},
    ),
    "headers that say nothing": (
        {name: f"col {i}" for i, name in enumerate(BASE)},
        "rate",
        SLOPE,
        None,
        {"g3": 0},
    ),
    "no headers at all": ({name: None for name in BASE}, None, {}, None, {}),
    "ten digits, right": ({}, "learning rate", {}, 10, {}),
    "ten digits, slope mistake": ({}, "learning rate", SLOPE, 10, {"g3": 0}),
}


def _write(path, labels, eta_label, plants, digits):
    sheets = layout_rows(plants)
    (plan,) = sheets["Sheet1"]
    plan.columns = [(name, labels.get(name, BASE[name])) for name, _ in plan.columns]
    book = workbook_of("rows", sheets)
    book["Sheet1"]["AF1"] = eta_label
    write_cached(path, book, digits)
    return plan


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_column_is_read_by_what_it_computes(tmp_path, case):
    labels, eta_label, plants, digits, flagged = CASES[case]
    path = tmp_path / "table.xlsx"
    plan = _write(path, labels, eta_label, plants, digits)
    result = CliRunner().invoke(main, ["check", str(path), "--json"])
    report = json.loads(result.output)
    assert result.exit_code == (1 if flagged else 0), result.output
    (table,) = report["tables"]
    assert (table["network"], table["rows"]) == ("2-2-2", [2, 27])
    columns = table["columns"]
    # every numeric column of the table is read as a quantity: none left out
    assert len(columns) == len(plan.columns)
    assert [c["label"] for c in columns if c["status"] in ("not recognised", "not checked")] == []
    got = {c["first_cell"] for c in columns if c["status"] == "wrong"}
    assert got == {plan.cell(name, iteration) for name, iteration in flagged.items()}
    assert table["constants"]["η" if eta_label is None else eta_label].startswith("0.5 (Sheet1!AG1)")
    if digits is not None:
        assert table["significant_digits"] == digits


def test_a_column_that_matches_nothing_is_named_and_the_table_is_not_right(tmp_path):
    """A column of the table that no quantity of the network explains is listed with its
    header and cells, and the verdict is NOT CHECKED (exit 1), never OK."""
    sheets = layout_rows({"score": ("{Et}*7+{ah1}^3", 0)})
    (plan,) = sheets["Sheet1"]
    plan.columns.append(("score", "score"))
    path = tmp_path / "extra.xlsx"
    book = workbook_of("rows", sheets)
    write_cached(path, book)
    first, last = plan.cell("score", 0), plan.cell("score", 25)
    result = CliRunner().invoke(main, ["check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"NOT RECOGNISED: {first}…{last} matches no quantity of the network" in result.output
    assert result.output.splitlines()[-1] == (
        f"NOT CHECKED: 1 column could not be checked, the first score on Sheet1: {first}…{last} "
        "match no quantity of the network, by value or by formula; the rest is right"
    )


# One step of Mazur's worked example (fixed biases b1, b2) down a column or across a row:
# (across, plants, the entries that must be flagged, the entries that must follow from them)
SLOPE_W3 = {"∂E/∂w3": "{∂E/∂out_h2}*{∂out_h1/∂net_h1}*{i1}"}
ONE_STEP_CASES = {
    "down a column": (False, {}, [], []),
    "down a column, slope mistake": (False, SLOPE_W3, ["∂E/∂w3"], ["w3⁺"]),
    "across a row": (True, {}, [], []),
    "across a row, slope mistake": (True, SLOPE_W3, ["∂E/∂w3"], ["w3⁺"]),
    "down a column, E without ½": (False, {"E_o2": "({t2}-{out_o2})^2"}, ["E_o2"], ["E_total"]),
}


@pytest.mark.parametrize("case", sorted(ONE_STEP_CASES))
def test_one_step_laid_out_down_a_column_or_across_is_read(tmp_path, case):
    from tests.handmade import MAZUR, one_step

    across, plants, flagged, followers = ONE_STEP_CASES[case]
    book, where = one_step(across, plants)
    path = tmp_path / "step.xlsx"
    write_cached(path, book)
    result = CliRunner().invoke(main, ["check", str(path), "--json"])
    assert result.exit_code == (1 if flagged else 0), result.output
    (table,) = json.loads(result.output)["tables"]
    assert (table["layout"], table["network"]) == ("one step", "2-2-2")
    columns = {c["label"]: c for c in table["columns"]}
    # every entry is read, each a cell of its own (the refs the annotation marks)
    assert sorted(columns) == sorted(name for name, _ in MAZUR)
    assert all(c["refs"] == [where[label]] for label, c in columns.items())
    assert all(c["status"] not in ("not recognised", "not checked") for c in columns.values())
    # Mazur's fixed biases are the cells the nets add
    assert [columns["b1"]["quantity"], columns["b2"]["quantity"]] == [["init_b", 0, 0], ["init_b", 1, 0]]
    wrong = sorted(label for label, c in columns.items() if c["status"] == "wrong")
    assert wrong == sorted(flagged)
    for label in flagged:
        assert columns[label]["first_cell"] == where[label]
    for label in followers:
        assert (columns[label]["status"], columns[label]["follows_from"]) == ("follows", flagged[0])


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _with_x_prefix(source, target):
    """The workbook with every SpreadsheetML part written as Hancom Office writes it: the main
    namespace bound to the prefix x (<x:worksheet xmlns:x=…><x:sheetData><x:row><x:c …>)."""
    import re
    import zipfile

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            text = data.decode("utf-8") if item.filename.endswith(".xml") else None
            if text is not None and f'xmlns="{_MAIN}"' in text:
                text = text.replace(f'xmlns="{_MAIN}"', f'xmlns:x="{_MAIN}"')
                text = re.sub(r"<(/?)([A-Za-z][\w.]*)(?=[\s/>])", r"<\1x:\2", text)
                data = text.encode("utf-8")
            zout.writestr(item, data)


def test_a_workbook_with_the_x_prefix_is_read_like_any_other(tmp_path):
    """Hancom Office binds SpreadsheetML to the prefix x:; the verdict and the cells flagged are
    those of the same workbook written plainly, and no traceback is ever shown."""
    _, _, plants, _, flagged = CASES["mathematical bold partial"]
    plain = tmp_path / "plain.xlsx"
    plan = _write(plain, {}, "learning rate", plants, None)
    prefixed = tmp_path / "hancom.xlsx"
    _with_x_prefix(plain, prefixed)
    assert b"<x:sheetData>" in __import__("zipfile").ZipFile(prefixed).read("xl/worksheets/sheet1.xml")
    results = [CliRunner().invoke(main, ["check", str(p)]) for p in (plain, prefixed)]
    assert [r.exit_code for r in results] == [1, 1], results[1].output
    assert results[0].output.replace("plain", "hancom") == results[1].output
    assert (
        results[1]
        .output.splitlines()[-1]
        .startswith(f"WRONG: 1 mistake in 1 of 1 table; the first at Sheet1!{plan.cell('g3', 0)}")
    )


def _patched(source, target, cell, xml):
    """The workbook with one cell of Sheet1 written as the given XML (what no writer here
    writes: 1e999, an error value)."""
    import re
    import zipfile

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<c r="' + cell.encode() + rb'"[^>]*>.*?</c>', xml, data, count=1)
            zout.writestr(item, data)


def test_an_infinite_number_or_an_error_is_reported_and_a_batch_goes_on(tmp_path):
    """1e999 typed into a table of formulas is flagged where it is; #NUM! in a given weight is
    a cell check cannot check (never OK); in a folder each file gets its verdict and --json
    prints a list."""
    folder = tmp_path / "class"
    folder.mkdir()
    plain = folder / "a_right.xlsx"
    plan = _write(plain, {}, "learning rate", {}, None)
    w4, w1 = plan.cell("w4", 4), plan.cell("w1", 0)
    _patched(plain, folder / "b_infinite.xlsx", w4, f'<c r="{w4}"><v>1e999</v></c>'.encode())
    _patched(
        plain, folder / "c_error.xlsx", w1, f'<c r="{w1}" t="e"><f>SQRT(-1)</f><v>#NUM!</v></c>'.encode()
    )
    infinite = CliRunner().invoke(main, ["check", str(folder / "b_infinite.xlsx")])
    assert infinite.exit_code == 1, infinite.output
    assert (
        f"the first at Sheet1!{w4} (w4): is a number typed into a table of formulas, inf" in infinite.output
    )
    error = CliRunner().invoke(main, ["check", str(folder / "c_error.xlsx")])
    assert error.exit_code == 1, error.output
    assert (
        f"w1 on Sheet1: 2 cells ({w1}, {plan.cell('w1', 1)}) could not be recomputed ({w1} holds '#NUM!')"
        in (error.output)
    )
    batch = CliRunner().invoke(main, ["check", str(folder), "--json"])
    assert batch.exit_code == 1
    outcomes = json.loads(batch.output)
    assert [(o["file"].rsplit("/", 1)[1], o["ok"], "error" in o) for o in outcomes] == [
        ("a_right.xlsx", True, False),
        ("b_infinite.xlsx", False, False),
        ("c_error.xlsx", False, False),
    ]


def _typed(path, changes=None):
    """The rows layout as typed numbers, six significant digits, with some cells changed."""
    import openpyxl

    from tests.handmade import _evaluate

    sheets = layout_rows()
    book = workbook_of("rows", sheets)
    ws = book["Sheet1"]
    cells = {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
    values = _evaluate(cells)
    typed = openpyxl.Workbook()
    out = typed.active
    out.title = "Sheet1"
    for ref, held in cells.items():
        out[ref] = float(f"{values[ref]:.6g}") if ref in values else held
    for ref, value in (changes or {}).items():
        out[ref] = value
    typed.save(path)
    return sheets["Sheet1"][0]


def test_a_wrong_typed_table_never_passes(tmp_path):
    """A typed table is judged at its rounding, but a number typed with one digit where six
    belong is no rounding: w8 typed as 1e30 is flagged where it is."""
    right = tmp_path / "typed.xlsx"
    plan = _typed(right)
    assert CliRunner().invoke(main, ["check", str(right)]).exit_code == 0
    cell = plan.cell("w8", 3)
    wrong = tmp_path / "typed_w8.xlsx"
    _typed(wrong, {cell: 1e30})
    result = CliRunner().invoke(main, ["check", str(wrong), "--json"])
    assert result.exit_code == 1, result.output
    (table,) = json.loads(result.output)["tables"]
    assert table["typed"] and not table["ok"]
    assert table["cause"]["cell"] == cell


def test_a_label_with_thousands_of_digits_is_only_a_label(tmp_path):
    """Twenty cells "η=111…1" of 32,000 digits beside a table: η is still the cell the
    updates read, and the table is right."""
    sheets = layout_rows()
    book = workbook_of("rows", sheets)
    for row in range(30, 50):
        book["Sheet1"].cell(row, 40, "η=" + "1" * 32_000)
    path = tmp_path / "long.xlsx"
    write_cached(path, book)
    result = CliRunner().invoke(main, ["check", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (table,) = json.loads(result.output)["tables"]
    assert table["constants"]["learning rate"].startswith("0.5 (Sheet1!AG1)")


def test_agreement_of_many_pairs_at_once_is_agreement_pair_by_pair():
    """The targets' search judges thousands of (line, quantity) pairs in one array pass; each
    pair must come out exactly as _agrees_somewhere judges it alone, NaN, infinities, zeros,
    partial agreement and one-step tables included."""
    import numpy as np

    from sheetgen.analyse.check.network import _agreement, _agrees_somewhere

    rng = np.random.default_rng(0)
    pairs = disagreements = 0
    for _ in range(200):
        steps = int(rng.integers(1, 12))
        expected = rng.normal(size=(6, steps)) * 10.0 ** rng.integers(-8, 3, size=(6, 1))
        noise = rng.normal(size=expected.shape) * 10.0 ** rng.integers(-14, -2, size=(6, 1))
        got = np.vstack([expected + noise * np.abs(expected), rng.normal(size=(3, steps))])
        for array in (expected, got):
            mask = rng.random(array.shape) < 0.1
            array[mask] = rng.choice([np.nan, np.inf, 0.0, -np.inf], size=mask.sum())
        got[1, steps // 2 :] *= 3
        tolerance = float(rng.choice([1e-9, 1e-7, 1e-3]))
        together = _agreement(got, expected, tolerance)
        for i in range(got.shape[0]):
            for k in range(expected.shape[0]):
                pairs += 1
                disagreements += bool(together[i, k]) != _agrees_somewhere(got[i], expected[k], tolerance)
    assert pairs == 10_800 and disagreements == 0
