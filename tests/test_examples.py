"""The example workbooks in examples/: what check says of them, and that they are what
examples/make_examples.py writes (so the committed files cannot drift from their script)."""

import subprocess
import sys

import openpyxl
import pytest

from sheetgen.analyse.check import check_workbook
from tests.conftest import ROOT, require_libreoffice

EXAMPLES = ROOT / "examples"


@pytest.mark.parametrize(
    "name, ok, mistakes",
    [
        ("backprop-by-hand.xlsx", True, []),
        ("backprop-by-hand-slope-mistake.xlsx", False, [("W7", "a_h2's belongs"), ("X7", "a_h2's belongs")]),
    ],
)
def test_check_says_what_the_examples_hold(name, ok, mistakes):
    report = check_workbook(EXAMPLES / name)
    assert report.ok is ok
    found = [(c.first_cell, c.mistake) for t in report.tables for c in t.mistakes]
    assert [cell for cell, _ in found] == [cell for cell, _ in mistakes]
    for (_, said), (_, expected) in zip(found, mistakes):
        assert expected in said


def _cells(path):
    """Every cell's formula (or typed value) and cached value, sheet by sheet."""
    out = {}
    for formulas in (True, False):
        book = openpyxl.load_workbook(path, data_only=not formulas)
        out[formulas] = {
            ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in book.worksheets
        }
    return out


@pytest.mark.libreoffice
def test_the_examples_are_what_their_script_writes(tmp_path):
    require_libreoffice()
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_examples.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for committed in sorted(EXAMPLES.glob("*.xlsx")):
        assert _cells(tmp_path / committed.name) == _cells(committed), committed.name
    assert sorted(p.name for p in tmp_path.glob("*.xlsx")) == sorted(p.name for p in EXAMPLES.glob("*.xlsx"))
