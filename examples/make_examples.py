"""Write the example hand-made workbooks that README's tour checks.

    python examples/make_examples.py            # rewrites examples/*.xlsx (needs LibreOffice)

Each is laid out the way students lay out the exercise by hand (a labelled block of η, inputs,
targets and initial weights on top; one row per step; a chart of E_total), written by the tests'
hand-made workbook writer (tests/handmade.py) and then opened and saved by LibreOffice with
recalculation forced, so that every formula cell holds its value, as a file saved by a
spreadsheet program does. One has the class template's common mistake (∂E/∂w3 and ∂E/∂w4 take
a_h1's slope where a_h2's belongs); the other is right.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's sheetgen and tests, not an installed one

import openpyxl
from openpyxl.chart import LineChart, Reference

from sheetgen.analyse.recalc import recalculate_many
from tests.handmade import DATA, INITIAL, WEIGHTS, TablePlan, write_table

# The class template's mistake: a_h1's slope in the gradients of w3 and w4.
SLOPE_MISTAKE = {"g3": ("{dah2}*{ah1}*(1-{ah1})*{i1}", 0), "g4": ("{dah2}*{ah1}*(1-{ah1})*{i2}", 0)}
EXAMPLES = {
    "backprop-by-hand.xlsx": {},
    "backprop-by-hand-slope-mistake.xlsx": SLOPE_MISTAKE,
}
LEARNING_RATE = 0.5
STEPS = 40  # rows: the initial weights and 39 updates
HEADER_ROW = 6
COLUMNS = (
    [("iteration", "step")]
    + [(w, w) for w in WEIGHTS]
    + [
        ("h1", "h1"),
        ("ah1", "a_h1"),
        ("h2", "h2"),
        ("ah2", "a_h2"),
        ("o1", "o1"),
        ("ao1", "a_o1"),
        ("o2", "o2"),
        ("ao2", "a_o2"),
        ("E1", "E1"),
        ("E2", "E2"),
        ("Et", "E_total"),
    ]
    + [(f"g{n}", f"∂E/∂w{n}") for n in range(1, 9)]
)
BLOCK = ["eta", "i1", "i2", "t1", "t2"] + WEIGHTS
BLOCK_LABELS = {"eta": "η"}


def write_example(path: Path, plants: dict) -> None:
    """One example workbook as a student writes it (formulas, no cached values yet)."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Backprop"
    ws["A1"] = "Backpropagation by hand: 2 inputs, 2 hidden, 2 outputs, sigmoid"
    values = {"eta": LEARNING_RATE, **DATA, **INITIAL}
    for i, name in enumerate(BLOCK):
        ws.cell(3, 1 + i, BLOCK_LABELS.get(name, name))
        ws.cell(4, 1 + i, values[name])
    letter = {name: openpyxl.utils.get_column_letter(1 + i) for i, name in enumerate(BLOCK)}
    plan = TablePlan(
        HEADER_ROW,
        1,
        COLUMNS,
        {name: f"${letter[name]}$4" for name in ("eta", "i1", "i2", "t1", "t2")},
        eta=LEARNING_RATE,
        rows=STEPS,
        initial={w: f"=${letter[w]}$4" for w in WEIGHTS},
        plants=plants,
    )
    write_table(ws, plan)
    chart = LineChart()
    chart.title = "E_total"
    chart.x_axis.title = "step"
    chart.y_axis.title = "E_total"
    column = [name for name, _ in COLUMNS].index("Et") + 1
    data = Reference(ws, min_col=column, min_row=HEADER_ROW, max_row=HEADER_ROW + STEPS)
    chart.add_data(data, titles_from_data=True)
    # beside the table, where it covers no cell, as students place it
    ws.add_chart(chart, f"{openpyxl.utils.get_column_letter(len(COLUMNS) + 2)}{HEADER_ROW}")
    book.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "examples", help="folder for the workbooks")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sheetgen-examples-") as temp:
        written = []
        for name, plants in EXAMPLES.items():
            written.append(Path(temp) / name)
            write_example(written[-1], plants)
        for copy in recalculate_many(written, Path(temp) / "saved"):
            shutil.copyfile(copy, args.out / copy.name)
            print(args.out / copy.name)


if __name__ == "__main__":
    main()
