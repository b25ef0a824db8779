"""Workbooks laid out the way people make them by hand for the exercise, written with openpyxl,
each with a mistake planted on purpose or none.

A table is described by its columns (a short name and the label the sheet shows) and by where
the constants live; every computed column gets the formula a careful student writes, referring
to other columns of the same row, and a column the table does not show is written inline into
the formulas that need it. A plant replaces one column's formula from some iteration on.
Templates name quantities in braces: {w1} this row, {w1@p} the row above, {w1@0} the first row
with an absolute reference ($B$2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import openpyxl
from openpyxl.utils import get_column_letter

INITIAL = {"w1": 0.15, "w2": 0.20, "w3": 0.25, "w4": 0.30, "w5": 0.40, "w6": 0.45, "w7": 0.50, "w8": 0.55}
DATA = {"i1": 0.05, "i2": 0.10, "t1": 0.5, "t2": 0.5, "b1": 0.35, "b2": 0.60}
SIGMOID = "1/(1+EXP(-{net}))"

CORRECT = {
    "h1": "{w1}*{i1}+{w2}*{i2}",
    "h2": "{w3}*{i1}+{w4}*{i2}",
    "ah1": SIGMOID.format(net="{h1}"),
    "ah2": SIGMOID.format(net="{h2}"),
    "o1": "{w5}*{ah1}+{w6}*{ah2}",
    "o2": "{w7}*{ah1}+{w8}*{ah2}",
    "ao1": SIGMOID.format(net="{o1}"),
    "ao2": SIGMOID.format(net="{o2}"),
    "E1": "0.5*({t1}-{ao1})^2",
    "E2": "0.5*({t2}-{ao2})^2",
    "Et": "{E1}+{E2}",
    "do1": "({ao1}-{t1})*{ao1}*(1-{ao1})",
    "do2": "({ao2}-{t2})*{ao2}*(1-{ao2})",
    "dah1": "{do1}*{w5}+{do2}*{w7}",
    "dah2": "{do1}*{w6}+{do2}*{w8}",
    "dh1": "{dah1}*{ah1}*(1-{ah1})",
    "dh2": "{dah2}*{ah2}*(1-{ah2})",
    "g1": "{dh1}*{i1}",
    "g2": "{dh1}*{i2}",
    "g3": "{dh2}*{i1}",
    "g4": "{dh2}*{i2}",
    "g5": "{do1}*{ah1}",
    "g6": "{do1}*{ah2}",
    "g7": "{do2}*{ah1}",
    "g8": "{do2}*{ah2}",
    **{f"w{n}": f"{{w{n}@p}}-{{eta}}*{{g{n}@p}}" for n in range(1, 9)},
    # columns some people add, which check does not read: ∂E/∂a_o1, the step Δw5, "new w1"
    "dao1": "{ao1}-{t1}",
    "dao2": "{ao2}-{t2}",
    "Dw5": "{eta}*{g5}",
    **{f"nw{n}": f"{{w{n}}}-{{eta}}*{{g{n}}}" for n in range(1, 9)},
}
FORWARD = ["h1", "ah1", "h2", "ah2", "o1", "ao1", "o2", "ao2"]
WEIGHTS = [f"w{n}" for n in range(1, 9)]
GRADIENTS = [f"g{n}" for n in range(1, 9)]
CONSTANTS = ("eta", "i1", "i2", "t1", "t2", "b1", "b2")
# Mazur's fixed biases: b1 adds to both hidden nets, b2 to both output nets.
BIASED = {"h1": "b1", "h2": "b1", "o1": "b2", "o2": "b2"}


@dataclass
class TablePlan:
    """One table: position, columns [(name, label)], constants' cells, plants."""

    header_row: int  # 1-based
    first_col: int  # 1-based
    columns: list[tuple[str, str]]
    constants: dict[str, str]  # name -> absolute reference of its cell
    eta: float = 0.5
    rows: int = 26  # iteration 0 and 25 updates
    initial: dict[str, str] = field(default_factory=dict)  # weight -> "=$F$4"; else typed
    plants: dict[str, tuple[str, int]] = field(default_factory=dict)  # name -> (template, from)
    data: dict[str, float] = field(default_factory=dict)  # inputs, targets, biases not DATA's
    bias: bool = False  # Mazur's b1 and b2 in the nets

    def letter(self, name: str) -> str:
        index = [n for n, _ in self.columns].index(name)
        return get_column_letter(self.first_col + index)

    def cell(self, name: str, iteration: int) -> str:
        """A1 reference of a column's cell at an iteration, for the tests' expectations."""
        return f"{self.letter(name)}{self.header_row + 1 + iteration}"


def _formula(plan: TablePlan, name: str, iteration: int) -> str:
    row = plan.header_row + 1 + iteration
    first = plan.header_row + 1
    shown = {n for n, _ in plan.columns}

    def expand(template: str) -> str:
        def ref(match):
            other, where = match[1], match[2]
            if other in shown:
                letter = plan.letter(other)
                return {"p": f"{letter}{row - 1}", "0": f"${letter}${first}"}.get(where, f"{letter}{row}")
            if other in plan.constants:
                return plan.constants[other]
            inline = CORRECT[other] + (f"+{{{BIASED[other]}}}" if plan.bias and other in BIASED else "")
            return "(" + expand(inline) + ")"

        return re.sub(r"\{(\w+)(?:@(p|0))?\}", ref, template)

    template, start = plan.plants.get(name, (None, 0))
    if template is None or iteration < start:
        template = CORRECT[name]
        if plan.bias and name in BIASED:
            template += f"+{{{BIASED[name]}}}"
    return "=" + expand(template)


def write_table(ws, plan: TablePlan) -> None:
    for i, (_, label) in enumerate(plan.columns):
        ws.cell(plan.header_row, plan.first_col + i, label)
    for t in range(plan.rows):
        row = plan.header_row + 1 + t
        for i, (name, _) in enumerate(plan.columns):
            if name.startswith("_"):  # a blank spacer column
                continue
            if name == "iteration":
                value = t
            elif name in CONSTANTS:
                value = plan.eta if name == "eta" else plan.data.get(name, DATA[name])
            elif name in WEIGHTS and t == 0:
                value = plan.initial.get(name, INITIAL[name])
            else:
                value = _formula(plan, name, t)
            ws.cell(row, plan.first_col + i, value)


# ---------------------------------------------------------------------------------------------
# Three layouts


def layout_rows(plants=None) -> dict[str, list[TablePlan]]:
    """Header on row 1, inputs and targets repeated on every row, η beside the header, only
    E_total, no δ columns; labels a_h1, E_total, ∂E/∂w1."""
    columns = (
        [("iteration", "iteration"), ("t1", "t1"), ("t2", "t2"), ("i1", "i1"), ("i2", "i2")]
        + [(w, w) for w in WEIGHTS]
        + [(n, n if not n.startswith("a") else f"a_{n[1:]}") for n in FORWARD]
        + [("Et", "E_total")]
        + [(g, f"∂E/∂w{g[1:]}") for g in GRADIENTS]
    )
    plan = TablePlan(1, 1, columns, {"eta": "$AG$1"}, plants=plants or {})
    return {"Sheet1": [plan]}


def layout_block(plants=None) -> dict[str, list[TablePlan]]:
    """A labelled block of η, inputs, targets and initial weights on top, the header on row 30,
    E1, E2 and every δ shown; labels out_h1, E_tot, dE/dw1, δ_o1, ∂E/∂out_h1."""
    names = {
        "h1": "net_h1",
        "ah1": "out_h1",
        "h2": "net_h2",
        "ah2": "out_h2",
        "o1": "net_o1",
        "ao1": "out_o1",
        "o2": "net_o2",
        "ao2": "out_o2",
    }
    columns = (
        [("iteration", "Iter")]
        + [(w, w) for w in WEIGHTS]
        + [(n, names[n]) for n in FORWARD]
        + [
            ("E1", "E1"),
            ("E2", "E2"),
            ("Et", "E_tot"),
            ("do1", "δ_o1"),
            ("do2", "δ_o2"),
            ("dah1", "∂E/∂out_h1"),
            ("dah2", "∂E/∂out_h2"),
            ("dh1", "δ_h1"),
            ("dh2", "δ_h2"),
        ]
        + [(g, f"dE/dw{g[1:]}") for g in GRADIENTS]
    )
    block = ["eta", "i1", "i2", "t1", "t2"] + WEIGHTS
    constants = {name: f"${get_column_letter(1 + i)}$4" for i, name in enumerate(block) if name in CONSTANTS}
    initial = {w: f"=${get_column_letter(1 + block.index(w))}$4" for w in WEIGHTS}
    plan = TablePlan(30, 1, columns, constants, initial=initial, plants=plants or {})
    return {"Backprop": [plan]}


def layout_several(plants_first=None, plants_second=None, plants_third=None):
    """Two sheets, three tables: a vertical block beside each; the second sheet stacks two
    tables with their own η (an "lr = 1" cell, a "learning rate" label); labels ah1, Etotal,
    ∂E_total/∂w1."""
    columns = (
        [(w, w) for w in WEIGHTS]
        + [(n, n) for n in FORWARD]
        + [("E1", "E1"), ("E2", "E2"), ("Et", "Etotal")]
        + [(g, f"∂E_total/∂w{g[1:]}") for g in GRADIENTS]
    )
    first = TablePlan(
        5,
        2,
        columns,
        {"eta": "$B$1", "i1": "$B$2", "i2": "$B$3", "t1": "$E$1", "t2": "$E$2"},
        plants=plants_first or {},
    )
    second = TablePlan(
        4,
        1,
        columns,
        {"eta": "$B$1", "i1": "$B$3", "i2": "$C$3", "t1": "$D$3", "t2": "$E$3"},
        eta=1.0,
        plants=plants_second or {},
    )
    third = TablePlan(
        40,
        1,
        columns,
        {"eta": "$B$36", "i1": "$B$38", "i2": "$C$38", "t1": "$D$38", "t2": "$E$38"},
        eta=2.0,
        plants=plants_third or {},
    )
    return {"eta 0.5": [first], "eta 1 and 2": [second, third]}


def _blocks(layout_name: str, ws_name: str, ws) -> None:
    if layout_name == "rows":
        ws["AF1"], ws["AG1"] = "learning rate", 0.5
    elif layout_name == "block":
        ws["A1"] = "Backpropagation by hand"
        for i, name in enumerate(["eta"] + ["i1", "i2", "t1", "t2"] + WEIGHTS):
            ws.cell(3, 1 + i, name)
            ws.cell(4, 1 + i, 0.5 if name == "eta" else {**DATA, **INITIAL}[name])
    elif ws_name == "eta 0.5":
        for ref, value in {
            "A1": "η",
            "B1": 0.5,
            "A2": "i1",
            "B2": 0.05,
            "A3": "i2",
            "B3": 0.1,
            "D1": "t1",
            "E1": 0.5,
            "D2": "t2",
            "E2": 0.5,
        }.items():
            ws[ref] = value
    else:
        for top, rate, label in ((1, 1.0, "lr"), (36, 2.0, "learning rate")):
            ws[f"A{top}"], ws[f"B{top}"] = label, rate
            for i, name in enumerate(["i1", "i2", "t1", "t2"]):  # labels above values
                ws.cell(top + 1, 2 + i, name)
                ws.cell(top + 2, 2 + i, DATA[name])


def write_workbook(path, layout_name: str, sheets: dict[str, list[TablePlan]]) -> None:
    workbook_of(layout_name, sheets).save(path)


# ---------------------------------------------------------------------------------------------
# The same workbooks with cached values, as Excel or Google Sheets saves them: check reads them
# without LibreOffice. Each formula is evaluated here in float64 (the templates use + − · / ^,
# EXP and cell references only); `digits` rounds what is stored, as Google Sheets' export keeps
# ten significant digits.

_CELL = re.compile(r"\$?([A-Z]{1,3})\$?(\d+)")


def _evaluate(cells: dict[str, object]) -> dict[str, float]:
    """Every formula cell's value, from the typed numbers and each other."""
    done: dict[str, float] = {}

    def value(ref: str) -> float:
        if ref in done:
            return done[ref]
        held = cells.get(ref)
        if isinstance(held, str) and held.startswith("="):
            text = _CELL.sub(lambda m: f'value("{m[1]}{m[2]}")', held[1:])
            text = text.replace("^", "**").replace("EXP(", "math.exp(")
            done[ref] = float(eval(text, {"math": math, "value": value}))
        else:
            done[ref] = float(held) if isinstance(held, (int, float)) else 0.0
        return done[ref]

    return {ref: value(ref) for ref, held in cells.items() if isinstance(held, str) and held.startswith("=")}


def _rounded(value: float, digits: int | None) -> float:
    return value if digits is None or value == 0 else float(f"{value:.{digits}g}")


def write_cached(path, book: openpyxl.Workbook, digits: int | None = None) -> None:
    """An openpyxl workbook written again with XlsxWriter, every formula with its value."""
    import xlsxwriter

    out = xlsxwriter.Workbook(str(path))
    for ws in book.worksheets:
        cells = {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
        values = _evaluate(cells)
        sheet = out.add_worksheet(ws.title)
        for ref, held in cells.items():
            if ref in values:
                sheet.write_formula(ref, held, None, _rounded(values[ref], digits))
            elif isinstance(held, str):
                sheet.write_string(ref, held)
            else:
                sheet.write_number(ref, held)
    out.close()


def workbook_of(layout_name: str, sheets: dict[str, list[TablePlan]]) -> openpyxl.Workbook:
    """write_workbook's workbook, in memory."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for ws_name, plans in sheets.items():
        ws = book.create_sheet(ws_name)
        _blocks(layout_name, ws_name, ws)
        for plan in plans:
            write_table(ws, plan)
    return book


# ---------------------------------------------------------------------------------------------
# One step of Mazur's worked example laid out down a column (labels in A, values in B) or
# across a row (labels in row 1, values in row 2), fixed biases b1 and b2 in the nets, as people
# rebuild the tutorial one step per sheet. A plant replaces one entry's template.

MAZUR = [
    ("i1", 0.05),
    ("i2", 0.10),
    ("t1", 0.01),
    ("t2", 0.99),
    ("b1", 0.35),
    ("b2", 0.60),
    ("η", 0.5),
    *[(w, INITIAL[w]) for w in WEIGHTS],
    ("net_h1", "{w1}*{i1}+{w2}*{i2}+{b1}"),
    ("out_h1", "1/(1+EXP(-{net_h1}))"),
    ("net_h2", "{w3}*{i1}+{w4}*{i2}+{b1}"),
    ("out_h2", "1/(1+EXP(-{net_h2}))"),
    ("net_o1", "{w5}*{out_h1}+{w6}*{out_h2}+{b2}"),
    ("out_o1", "1/(1+EXP(-{net_o1}))"),
    ("net_o2", "{w7}*{out_h1}+{w8}*{out_h2}+{b2}"),
    ("out_o2", "1/(1+EXP(-{net_o2}))"),
    ("E_o1", "0.5*({t1}-{out_o1})^2"),
    ("E_o2", "0.5*({t2}-{out_o2})^2"),
    ("E_total", "{E_o1}+{E_o2}"),
    ("∂E/∂out_o1", "-({t1}-{out_o1})"),
    ("∂out_o1/∂net_o1", "{out_o1}*(1-{out_o1})"),
    ("∂E/∂out_o2", "-({t2}-{out_o2})"),
    ("∂out_o2/∂net_o2", "{out_o2}*(1-{out_o2})"),
    ("∂E/∂w5", "{∂E/∂out_o1}*{∂out_o1/∂net_o1}*{out_h1}"),
    ("∂E/∂w6", "{∂E/∂out_o1}*{∂out_o1/∂net_o1}*{out_h2}"),
    ("∂E/∂w7", "{∂E/∂out_o2}*{∂out_o2/∂net_o2}*{out_h1}"),
    ("∂E/∂w8", "{∂E/∂out_o2}*{∂out_o2/∂net_o2}*{out_h2}"),
    ("∂E/∂out_h1", "{∂E/∂out_o1}*{∂out_o1/∂net_o1}*{w5}+{∂E/∂out_o2}*{∂out_o2/∂net_o2}*{w7}"),
    ("∂E/∂out_h2", "{∂E/∂out_o1}*{∂out_o1/∂net_o1}*{w6}+{∂E/∂out_o2}*{∂out_o2/∂net_o2}*{w8}"),
    ("∂out_h1/∂net_h1", "{out_h1}*(1-{out_h1})"),
    ("∂out_h2/∂net_h2", "{out_h2}*(1-{out_h2})"),
    ("∂E/∂w1", "{∂E/∂out_h1}*{∂out_h1/∂net_h1}*{i1}"),
    ("∂E/∂w2", "{∂E/∂out_h1}*{∂out_h1/∂net_h1}*{i2}"),
    ("∂E/∂w3", "{∂E/∂out_h2}*{∂out_h2/∂net_h2}*{i1}"),
    ("∂E/∂w4", "{∂E/∂out_h2}*{∂out_h2/∂net_h2}*{i2}"),
    *[(f"{w}⁺", f"{{{w}}}-{{η}}*{{∂E/∂{w}}}") for w in WEIGHTS],
]


def one_step(across: bool = False, plants: dict[str, str] | None = None, first: int = 2):
    """Mazur's step on one sheet: (workbook, {name: A1 cell of its value})."""
    plants = plants or {}
    where = {}
    for i, (name, _) in enumerate(MAZUR):
        row, col = (first, first + 1 + i) if across else (first + 1 + i, first)
        where[name] = f"{get_column_letter(col)}{row}"
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Step"
    ws["A1"] = "One step of backpropagation"
    for i, (name, held) in enumerate(MAZUR):
        held = plants.get(name, held)
        if isinstance(held, str):
            held = "=" + re.sub(r"\{([^}]+)\}", lambda m: where[m[1]], held)
        row, col = (first, first + 1 + i) if across else (first + 1 + i, first)
        ws.cell(row - 1, col) if across else None
        label = (row - 1, col) if across else (row, col - 1)
        ws.cell(*label, name)
        ws.cell(row, col, held)
    return book, where
