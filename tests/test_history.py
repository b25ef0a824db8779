"""sheetgen.read_history: a workbook's tables as DataFrames, from the values the file caches."""

import subprocess
import sys

import openpyxl
import pandas as pd
import pytest

import sheetgen
from sheetgen.analyse.history import HistoryError
from sheetgen.workbook import engine
from sheetgen.workbook.quantities import history
from tests.handmade import layout_block, write_workbook


def test_a_built_workbook_gives_one_frame_per_learning_rate(seed_workbook, seed_spec):
    tables = sheetgen.read_history(seed_workbook)
    assert list(tables) == list(seed_spec.learning_rates)
    for learning_rate, frame in tables.items():
        expected = history(seed_spec, engine.train(seed_spec, learning_rate))
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert tables[1.0]["E_total"].iloc[1] == pytest.approx(0.0133779156, abs=5e-11)


def test_a_handmade_table_is_keyed_by_its_eta(tmp_path, seed_spec):
    """Typed numbers (what a sheet caches) under hand-made labels, the block above."""
    trace = engine.train(seed_spec, 0.5, iterations=4)
    frame = history(seed_spec, trace)
    path = tmp_path / "typed.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["eta", 0.5, "i1", "i2", "t1", "t2"])
    ws.append([None, None, 0.05, 0.1, 0.5, 0.5])
    ws.append([])
    labels = {"a_h1": "out_h1", "E_total": "E_tot", "∂E/∂w1": "dE/dw1"}
    ws.append([labels.get(c, c) for c in frame.columns])
    for row in frame.itertuples(index=False):
        ws.append(list(row))
    book.save(path)
    ((learning_rate, got),) = sheetgen.read_history(path).items()
    assert learning_rate == 0.5
    assert got.index.tolist() == [0, 1, 2, 3, 4]
    # openpyxl writes floats with one digit fewer than a round trip needs
    assert got["E_tot"].tolist() == pytest.approx(trace.loss.tolist(), rel=1e-15)
    assert got["out_h1"].tolist() == pytest.approx(frame["a_h1"].tolist(), rel=1e-15)


def test_formulas_without_cached_values_are_refused(tmp_path):
    path = tmp_path / "openpyxl.xlsx"
    write_workbook(path, "block", layout_block())
    with pytest.raises(HistoryError, match="has formulas without cached values"):
        sheetgen.read_history(path)


def test_importing_sheetgen_does_not_import_pandas_or_torch():
    code = (
        "import sys, sheetgen; assert sheetgen.read_history\n"
        "assert 'torch' not in sys.modules\n"
        "import sheetgen.cli\n"
        "assert 'pandas' not in sys.modules and 'torch' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
