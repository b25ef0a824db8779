"""Stage 2 of check: where the training tables are, found by what their cells compute.

A training table is recognised by its weight updates, whatever its labels say: a cell that
reads the same weight one step earlier and takes η times a gradient from it (=E33-$G$31*X33
under E34 makes column E a weight, X its gradient and G31 η). Steps run down the rows, across
the columns (the same search on the sheet transposed), or a single step is laid out down a
column or across a row, where the updated weights (w1⁺ = w1 − η·∂E/∂w1) read weights typed
elsewhere. Typed numbers without formulas are a table when several columns each follow
w_next = w − η·g from one row to the next for one common η and some other column g.

η is what the updates multiply the gradient by (the cell most of them read, on any sheet, a
column the updates read on their own row, or a number typed into them); a table of typed
numbers takes η from a labelled cell whose value fits its steps, else from the steps. The
table's lines are the weights, their gradients and every column connected to them by the
table's own formulas (plus any numbers between), each with the label written above it (or
beside it, for a step laid out down a column): labels name lines, they do not find them.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from sheetgen.analyse.check import labels as hints
from sheetgen.analyse.check.labels import Constant
from sheetgen.analyse.check.read import Book, Sheet
from sheetgen.analyse.check.refs import Reference, literals, references
from sheetgen.analyse.compare import as_number

ROWS, ACROSS, ONE_STEP = "rows", "across", "one step"
# A table updates at least this many weights: fewer is not a network. Typed numbers, found by
# their values alone, need more: some of a table's columns step alike by chance.
MIN_WEIGHTS = 2
MIN_TYPED_WEIGHTS = 4
# Relative agreement of a cell with w ∓ η·g that makes it an update when locating (the judge
# holds cells to a much tighter tolerance later).
_UPDATE_TOLERANCE = 1e-7
# A step of typed numbers tells η when it is this many times the rounding of the numbers it is
# read from (fewer, and chance agreements between columns of few digits make tables of them).
_CLEAR = 20


@dataclass
class Line:
    """One quantity's cells, one per step: a column of a table with a step per row, a row of
    one with a step per column, a single cell of a step laid out down a column."""

    cells: tuple[tuple[int, int], ...]  # 0-based (row, column) on the sheet
    label: str | None = None


@dataclass(frozen=True)
class Skipped:
    """Something that looked like a table but could not be read as one."""

    sheet: str
    header_row: int  # 0-based
    reason: str


@dataclass
class Located:
    """A table found by its weight updates: its lines and the updates' η."""

    sheet: str
    layout: str  # ROWS, ACROSS or ONE_STEP
    lines: list[Line]
    weights: dict[int, int | None]  # weight line -> its gradient line (None: inside the update)
    eta: Constant | None
    eta_reference: Reference | None = None  # the cell the updates read η from
    eta_line: int | None = None  # a line of η the updates read on their own step
    typed: bool = False  # no formulas: typed numbers
    header: int | None = None  # 0-based row of the labels (ROWS), column (ACROSS)
    notes: list[str] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.lines[0].cells)


def find_tables(book: Book) -> tuple[list[Located], list[Skipped]]:
    """Every training table of a workbook, in sheet order, and what looked like one but is not."""
    tables: list[Located] = []
    skipped: list[Skipped] = []
    for sheet in book.sheets.values():
        found: list[Located] = []
        taken: set[tuple[int, int]] = set()
        for across in (False, True):
            view = _View(sheet, across)
            for table in _formula_tables(view, book):
                found.append(table)
                taken |= {cell for line in table.lines for cell in line.cells}
        for table in _one_step_tables(sheet, book, taken):
            found.append(table)
            taken |= {cell for line in table.lines for cell in line.cells}
        for across in (False, True):
            typed, reasons = _typed_tables(_View(sheet, across), book, taken)
            found.extend(typed)
            skipped.extend(reasons)
            for table in typed:
                taken |= {cell for line in table.lines for cell in line.cells}
        found.sort(key=lambda t: min(t.lines[0].cells[0], *(line.cells[0] for line in t.lines)))
        tables.extend(found)
        if not found:
            skipped.extend(_labelled_but_not_a_table(sheet))
    return tables, skipped


# ---------------------------------------------------------------------------------------------
# A sheet seen with its steps down the rows, as it is or transposed


class _View:
    """A sheet with rows as steps (as it is) or columns as steps (transposed); the search
    for tables runs on either unchanged."""

    def __init__(self, sheet: Sheet, across: bool):
        self.sheet = sheet
        self.across = across
        self._refs: dict[tuple[int, int], tuple[Reference, ...]] = {}
        self.rows = max((len(r) for r in sheet.values), default=0) if across else len(sheet.values)
        self.cols = len(sheet.values) if across else max((len(r) for r in sheet.values), default=0)

    def real(self, r: int, c: int) -> tuple[int, int]:
        return (c, r) if self.across else (r, c)

    def value(self, r: int, c: int):
        return _at(self.sheet.values, c, r) if self.across else _at(self.sheet.values, r, c)

    def formula(self, r: int, c: int):
        return _at(self.sheet.formulas, c, r) if self.across else _at(self.sheet.formulas, r, c)

    def number(self, r: int, c: int) -> float:
        return as_number(self.value(r, c))

    def refs(self, r: int, c: int) -> tuple[Reference, ...]:
        """The references of a cell's formula, in this view's coordinates."""
        key = (r, c)
        if key not in self._refs:
            found = references(self.formula(r, c))
            if self.across:
                found = tuple(
                    Reference(x.sheet, x.col, x.row, x.text, x.absolute_col, x.absolute_row) for x in found
                )
            self._refs[key] = found
        return self._refs[key]

    def formula_cells(self):
        for real_row, row in enumerate(self.sheet.formulas):
            for real_col, text in enumerate(row):
                if isinstance(text, str) and text.startswith("="):
                    yield (real_col, real_row) if self.across else (real_row, real_col)

    def may_read_before(self, r: int, c: int) -> bool:
        """Whether a cell's formula may read its own line one step before, or copy a single
        cell (=AF3): a cheap test of the text, before its references are parsed."""
        text = self.formula(r, c)
        if r < 1 or not isinstance(text, str):
            return False
        if len(text) < 16 and _BARE_REFERENCE.match(text):
            return True
        row, col = self.real(r - 1, c)
        letters = _LETTERS[col] if col < len(_LETTERS) else xl_col_to_name(col)
        if str(row + 1) not in text or letters not in text.upper():
            return False
        return f"{letters}{row + 1}" in text.replace("$", "").upper()

    def local(self, ref: Reference) -> bool:
        return ref.sheet is None or ref.sheet == self.sheet.name


_LETTERS = [xl_col_to_name(c) for c in range(1024)]
_BARE_REFERENCE = re.compile(r"=\s*(?:[^!]+!)?\$?[A-Za-z]{1,3}\$?\d+\s*\Z")


def _at(grid, row: int, col: int):
    if 0 <= row < len(grid):
        line = grid[row]
        if 0 <= col < len(line):
            return line[col]
    return None


def _value_at(book: Book, sheet: str, ref: Reference) -> float:
    target = book.sheets.get(ref.sheet or sheet)
    return math.nan if target is None else as_number(target.value(ref.row, ref.col))


def _where(sheet: str, ref: Reference) -> str:
    return f"{ref.sheet or sheet}!{xl_rowcol_to_cell(ref.row, ref.col)}"


# ---------------------------------------------------------------------------------------------
# Tables of formulas, a step per row (or per column)


@dataclass
class _Update:
    """A cell that reads its own line one step earlier: a weight's update, if it also takes a
    gradient of that step times η."""

    row: int
    col: int
    gradient: int | None  # the column of the step before it reads (None: none, or several)
    eta: tuple | None  # ("cell", Reference) | ("column", col) | ("literal", value) | None
    refs: tuple[Reference, ...]
    sign: int = 0  # +1: w − η·g, -1: w + η·g, 0: neither within tolerance


def _update_refs(view: _View, r: int, c: int) -> tuple[Reference, ...]:
    """What a weight's cell is updated from: its own formula, or, where it only copies another
    line's cell of the step before (=AF3 under "new w1"), that cell's formula (=E3-$B$1*X3)."""
    refs = view.refs(r, c)
    formula = view.formula(r, c)
    if len(refs) == 1 and view.local(refs[0]) and refs[0].row == r - 1 and refs[0].col != c:
        text = formula.replace(" ", "").replace("$", "").upper()
        if text == "=" + refs[0].text.replace("$", "").upper().split("!")[-1]:
            return view.refs(refs[0].row, refs[0].col)
    return refs


def _as_update(view: _View, r: int, c: int) -> _Update | None:
    refs = _update_refs(view, r, c)
    if not any(view.local(x) and x.row == r - 1 and x.col == c for x in refs):
        return None
    others = [x for x in refs if not (view.local(x) and x.row == r - 1 and x.col == c)]
    before = [x for x in others if view.local(x) and x.row == r - 1 and not x.absolute_row]
    rest = [x for x in others if x not in before]
    gradient = before[0].col if len(before) == 1 else None
    eta = None
    if len(rest) == 1:
        x = rest[0]
        if view.local(x) and x.row == r and not x.absolute_row:
            eta = ("column", x.col)
        else:
            eta = ("cell", Reference(x.sheet, *view.real(x.row, x.col), "", True, True))
    elif not rest:
        numbers = [n for n in literals(view.formula(r, c)) if n not in (0.0, 1.0)]
        if len(numbers) == 1:
            eta = ("literal", numbers[0])
    return _Update(r, c, gradient, eta, refs)


def _update_cells(view: _View) -> dict[int, list[_Update]]:
    """Every cell that reads its own line one step before, by column. A column's formulas
    are filled down, so a column none of whose first and every 25th formulas does so is
    passed over without reading the rest."""
    by_col: dict[int, list[int]] = {}
    for r, c in view.formula_cells():
        by_col.setdefault(c, []).append(r)
    updates: dict[int, list[_Update]] = {}
    for c, rows in by_col.items():
        sample = rows[:40] + rows[40::25]
        if not any(view.may_read_before(r, c) and _as_update(view, r, c) for r in sample):
            continue
        found = [_as_update(view, r, c) for r in rows if view.may_read_before(r, c)]
        updates[c] = [u for u in found if u is not None]
    return updates


def _formula_tables(view: _View, book: Book) -> list[Located]:
    updates = _update_cells(view)
    # a weight column takes a gradient and η (its own vote); a column that only repeats its
    # cell above joins a table it sits inside ("is not updated", a mistake to report)
    votes = {c: Counter(u.eta for u in ups if u.eta is not None) for c, ups in updates.items()}
    weighted = {c: v.most_common(1)[0][0] for c, v in votes.items() if v and _has_gradient(updates[c])}
    groups: dict[tuple, list[int]] = {}
    for c, eta in weighted.items():
        groups.setdefault(_eta_identity(view, eta), []).append(c)
    tables = []
    for identity, columns in groups.items():
        # a column whose updates read the table's η but no gradient of the row before (an
        # absolute $W$2 where W3 belongs): a weight whose update holds a mistake to report
        columns = columns + [
            c for c in updates if c not in weighted and _reads_eta(view, updates[c], identity)
        ]
        for run in _row_runs(columns, updates):
            if len(run[0]) < MIN_WEIGHTS:
                continue
            table = _formula_table(view, book, run[0], run[1], updates)
            if table is not None:
                tables.append(table)
    return tables


def _reads_eta(view: _View, ups: list[_Update], identity: tuple) -> bool:
    """Whether most of a column's updates read η from the cell a table's updates read it from."""
    if identity[0] != "cell" or not ups:
        return False
    _, sheet, row, col = identity

    def reads(u: _Update) -> bool:
        return any(
            (x.sheet or view.sheet.name) == sheet and view.real(x.row, x.col) == (row, col) for x in u.refs
        )

    return sum(1 for u in ups if len(u.refs) >= 3 and reads(u)) * 2 >= len(ups)


def _stray_gradient(view: _View, ups: list[_Update], eta: tuple | None) -> int | None:
    """The column a weight's odd update takes its gradient from: the one local reference
    that is neither the weight above nor η."""
    counted: Counter = Counter()
    for u in ups:
        others = [
            x
            for x in u.refs
            if view.local(x)
            and not (x.row == u.row - 1 and x.col == u.col)
            and not (eta is not None and eta[0] == "cell" and view.real(x.row, x.col) == (eta[2], eta[3]))
        ]
        if len(others) == 1:
            counted[others[0].col] += 1
    return counted.most_common(1)[0][0] if counted else None


def _has_gradient(ups: list[_Update]) -> bool:
    return sum(1 for u in ups if u.gradient is not None or len(u.refs) > 2) * 2 >= len(ups)


def _eta_identity(view: _View, eta: tuple) -> tuple:
    if eta[0] == "cell":
        ref = eta[1]
        return ("cell", ref.sheet or view.sheet.name, ref.row, ref.col)
    return eta


def _row_runs(columns: list[int], updates: dict[int, list[_Update]]) -> list[tuple[list[int], list[int]]]:
    """The weight columns split into tables stacked down the sheet: runs of rows with updates,
    apart where no column updates for two rows or more."""
    rows_of = {c: {u.row for u in updates[c]} for c in columns}
    every = sorted(set().union(*rows_of.values()))
    runs, current = [], [every[0]]
    for row in every[1:]:
        if row - current[-1] > 2:
            runs.append(current)
            current = []
        current.append(row)
    runs.append(current)
    out = []
    for rows in runs:
        span = set(range(rows[0], rows[-1] + 1))
        out.append((sorted(c for c in columns if rows_of[c] & span), list(range(rows[0], rows[-1] + 1))))
    return out


def _formula_table(view: _View, book: Book, weight_cols, update_rows, updates) -> Located | None:
    in_rows = set(update_rows)
    ups = {c: [u for u in updates[c] if u.row in in_rows] for c in weight_cols}
    # columns inside the weights' span that only repeat their cell above: weights not updated
    for c, candidates in updates.items():
        if c in ups or not min(weight_cols) < c < max(weight_cols):
            continue
        mine = [u for u in candidates if u.row in in_rows]
        if mine and all(len(u.refs) == 1 for u in mine) and len(mine) * 2 >= len(update_rows):
            ups[c] = mine
    # the given weights on the row above the first update (one that holds no number, #NUM!,
    # is still the table's: it is reported, not left out)
    first = update_rows[0] - 1
    if first < 0 or sum(_is_number(view.value(first, c)) for c in ups) * 2 < len(ups):
        first = update_rows[0]
    rows = list(range(first, update_rows[-1] + 1))
    eta_votes = Counter(
        _eta_identity(view, u.eta) for mine in ups.values() for u in mine if u.eta is not None
    )
    gradients = {}
    for c, mine in ups.items():
        counted = Counter(u.gradient for u in mine if u.gradient is not None)
        gradients[c] = counted.most_common(1)[0][0] if counted else None
        if gradients[c] is None and eta_votes:
            gradients[c] = _stray_gradient(view, mine, eta_votes.most_common(1)[0][0])
    columns = _connected_columns(view, rows, set(ups) | {g for g in gradients.values() if g is not None})
    eta, eta_reference, eta_column, notes = _formula_eta(view, book, ups, eta_votes, rows)
    if eta_column is not None:
        columns.add(eta_column)
    rows = _trim(view, rows, columns)
    if len(rows) < 2:
        return None
    lines, index = _lines(view, rows, sorted(columns))
    header = _header_row(view, rows[0], sorted(columns))
    for line, c in zip(lines, sorted(columns)):
        line.label = _label_above(view, rows[0], c)
    weights = {index[c]: (index[g] if g is not None and g in index else None) for c, g in gradients.items()}
    typed = not any(
        isinstance(view.formula(r, c), str) and view.formula(r, c).startswith("=")
        for c in columns
        if c not in ups
        for r in rows
    )
    return Located(
        view.sheet.name,
        ACROSS if view.across else ROWS,
        lines,
        weights,
        eta,
        eta_reference,
        index.get(eta_column) if eta_column is not None else None,
        typed=typed,
        header=header,
        notes=notes,
    )


def _formula_eta(view: _View, book: Book, ups, votes: Counter, rows):
    """η as the updates read it: the cell most of them read, a column read on their own row,
    or a number typed into them; with a note when a labelled η says otherwise."""
    sheet = view.sheet.name
    notes: list[str] = []
    if not votes:
        return None, None, None, notes
    choice, _ = votes.most_common(1)[0]
    if choice[0] == "column":
        c = choice[1]
        return None, None, c, notes
    if choice[0] == "literal":
        return Constant(choice[1], "typed into the weight updates", "η"), None, None, notes
    _, ref_sheet, row, col = choice
    ref = Reference(
        None if ref_sheet == sheet else ref_sheet,
        row,
        col,
        xl_rowcol_to_cell(row, col, True, True),
        True,
        True,
    )
    value = _value_at(book, sheet, ref)
    if math.isnan(value):
        return None, None, None, notes
    where = _where(sheet, ref)
    grid = book.sheets[ref_sheet].values
    # what the sheet calls it: a label of η, else a short text just left of it ("L.R")
    left = hints.label_beside(grid, row, col) if col and isinstance(_at(grid, row, col - 1), str) else None
    label = hints.label_for(grid, row, col) or (left if left and len(left) <= 12 else "η")
    top = min(view.real(rows[0], c)[0] for c in ups)
    labelled = hints.labelled_constant(view.sheet.values, ("eta",), top, sheet)
    if labelled is not None and labelled.cell != where and labelled.value != value:
        notes.append(
            f"the weight updates read η from {where} ({value:.15g}), "
            f"not from the cell labelled {labelled.label} ({labelled.cell}, {labelled.value:.15g})"
        )
    return Constant(value, where, label), ref, None, notes


def _connected_columns(view: _View, rows: list[int], start: set[int]) -> set[int]:
    """The columns joined to the weights and gradients by the table's own formulas on its rows
    (a formula of one reading a cell of another, on the same row or the row before), and the
    columns of numbers between them."""
    in_rows = set(rows)
    reads: dict[int, set[int]] = {}
    # filled-down formulas join the same columns on every row: a dozen rows spread over the
    # table are as telling as all of them
    sample = sorted(set(rows[:3] + rows[-2:] + rows[:: max(1, len(rows) // 8)]))
    for r in sample:
        for c in range(view.cols):
            if not _is_formula(view.formula(r, c)):
                continue
            for x in view.refs(r, c):
                if view.local(x) and x.row in in_rows and not x.absolute_row and x.col != c:
                    reads.setdefault(c, set()).add(x.col)
                    reads.setdefault(x.col, set()).add(c)
    found, frontier = set(start), list(start)
    while frontier:
        c = frontier.pop()
        for other in reads.get(c, ()):
            if other not in found and _holds_numbers(view, rows, other):
                found.add(other)
                frontier.append(other)
    for c in range(min(found), max(found) + 1):
        if c not in found and _holds_numbers(view, rows, c):
            found.add(c)
    # a column of step numbers just outside (a leading "Step" column) belongs too
    for step in (-1, 1):
        c = (min(found) if step < 0 else max(found)) + step
        while c >= 0 and _is_counter(view, rows, c):
            found.add(c)
            c += step
    return found


def _holds_numbers(view: _View, rows: list[int], c: int) -> bool:
    return any(_is_number(view.value(r, c)) or _is_formula(view.formula(r, c)) for r in rows)


def _is_counter(view: _View, rows: list[int], c: int) -> bool:
    numbers = [view.number(r, c) for r in rows]
    return len(numbers) > 1 and all(
        math.isfinite(b) and math.isfinite(a) and b - a == 1 for a, b in zip(numbers, numbers[1:])
    )


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_formula(value) -> bool:
    return isinstance(value, str) and value.startswith("=")


def _trim(view: _View, rows: list[int], columns: set[int]) -> list[int]:
    """The last rows may stop short (the final weights, with no gradients after them): a row
    with empty cells at the end of the table is not a step."""
    rows = list(rows)
    while rows and any(
        view.value(rows[-1], c) is None and view.formula(rows[-1], c) is None for c in columns
    ):
        rows.pop()
    return rows


def _lines(view: _View, rows: list[int], columns: list[int]) -> tuple[list[Line], dict[int, int]]:
    lines = [Line(tuple(view.real(r, c) for r in rows)) for c in columns]
    return lines, {c: i for i, c in enumerate(columns)}


def _header_row(view: _View, first: int, columns: list[int]) -> int:
    """The row of labels above the first step: the one of the few rows above it that labels
    most of the table's columns."""
    best, count = first - 1, -1
    for r in range(first - 1, max(-1, first - 4), -1):
        labelled = sum(1 for c in columns if _is_text(view.value(r, c)))
        if labelled > count:
            best, count = r, labelled
    return view.real(best, 0)[1] if view.across else best


def _label_above(view: _View, first: int, c: int) -> str | None:
    """A line's label: the text nearest above its first step, within three rows (a blank row
    or a row of units may sit between), read with a group label over it where that says
    what it is ("∂E/∂w" over gradients headed w1, w2, …)."""
    for r in range(first - 1, max(-1, first - 4), -1):
        value = view.value(r, c)
        if _is_text(value) and value.strip() and value.strip() not in ("-", "—"):
            group = hints.group_label(view, r, c)
            return hints.clean(value) if group is None else group
    return None


def _is_text(value) -> bool:
    return isinstance(value, str) and not value.startswith("#")


# ---------------------------------------------------------------------------------------------
# One step laid out down a column or across a row


def _one_step_tables(sheet: Sheet, book: Book, taken: set) -> list[Located]:
    """Updated weights that read weights typed elsewhere (w1⁺ = w1 − η·∂E/∂w1): a single step,
    each quantity in a cell of its own."""
    view = _View(sheet, False)
    found: list[tuple[tuple[int, int], tuple[int, int], tuple[int, int] | None, tuple, int]] = []
    for r, c in view.formula_cells():
        text = view.formula(r, c)
        # an update is short and multiplies: w − η·g
        if (r, c) in taken or len(text) > 80 or ("*" not in text and not _BARE_REFERENCE.match(text)):
            continue
        refs = [x for x in _update_refs(view, r, c) if view.local(x)]
        if not 2 <= len(refs) <= 3 or len({(x.row, x.col) for x in refs}) != len(refs):
            continue
        target = view.number(r, c)
        if not math.isfinite(target):
            continue
        numbers = [n for n in literals(view.formula(r, c)) if n not in (0.0, 1.0)]
        for base in refs:
            for step in refs:
                if step is base:
                    continue
                rest = [x for x in refs if x is not base and x is not step]
                if rest:
                    etas = [(("cell", rest[0].row, rest[0].col), view.number(rest[0].row, rest[0].col))]
                elif len(numbers) == 1:
                    etas = [(("literal", numbers[0]), numbers[0])]
                else:
                    continue
                for eta, e in etas:
                    w, g = view.number(base.row, base.col), view.number(step.row, step.col)
                    for sign in (1, -1):
                        if _close(target, w - sign * e * g, abs(w) + abs(e * g)):
                            found.append(((r, c), (base.row, base.col), (step.row, step.col), eta, sign))
    by_eta: dict[tuple, list] = {}
    for item in found:
        by_eta.setdefault(item[3], []).append(item)
    tables = []
    for eta, items in sorted(by_eta.items(), key=lambda kv: -len(kv[1])):
        updated = {item[0] for item in items}
        weights = {}
        for cell_, base, step, _, _ in items:
            if base in updated or cell_ in weights.values():
                continue
            weights.setdefault(base, step)
        if len(weights) < MIN_WEIGHTS or any(w in taken for w in weights):
            continue
        table = _one_step_table(view, book, eta, weights, updated, taken)
        if table is not None:
            tables.append(table)
            taken |= {cell_ for line in table.lines for cell_ in line.cells}
    return tables


def _close(got: float, expected: float, magnitude: float) -> bool:
    return math.isfinite(expected) and abs(got - expected) <= _UPDATE_TOLERANCE * max(magnitude, 1e-300)


def _one_step_table(view: _View, book: Book, eta, weights: dict, updated: set, taken: set) -> Located | None:
    sheet = view.sheet
    cells = set(weights) | set(weights.values()) | updated
    if eta[0] == "cell":
        cells.add((eta[1], eta[2]))
    # every cell the calculation reads or is read by, on this sheet
    readers: dict[tuple[int, int], set] = {}
    for r, c in view.formula_cells():
        for x in view.refs(r, c):
            if view.local(x):
                readers.setdefault((x.row, x.col), set()).add((r, c))
                readers.setdefault((r, c), set()).add((x.row, x.col))
    frontier = list(cells)
    while frontier:
        here = frontier.pop()
        for other in readers.get(here, ()):
            if other not in cells and other not in taken and _is_number(sheet.value(*other)):
                cells.add(other)
                frontier.append(other)
    rows = [r for r, _ in cells]
    cols = [c for _, c in cells]
    for r in range(min(rows), max(rows) + 1):  # numbers inside the calculation's area
        for c in range(min(cols), max(cols) + 1):
            if (r, c) not in taken and _is_number(sheet.value(r, c)):
                cells.add((r, c))
    ordered = sorted(cells)
    index = {cell_: i for i, cell_ in enumerate(ordered)}
    lines = [Line((cell_,), hints.label_beside(sheet.values, *cell_)) for cell_ in ordered]
    if eta[0] == "cell":
        ref = Reference(None, eta[1], eta[2], xl_rowcol_to_cell(eta[1], eta[2], True, True), True, True)
        constant = Constant(
            view.number(eta[1], eta[2]),
            _where(sheet.name, ref),
            hints.label_for(sheet.values, eta[1], eta[2]) or "η",
        )
        eta_line = index[(eta[1], eta[2])]
    else:
        ref, constant, eta_line = None, Constant(eta[1], "typed into the weight updates", "η"), None
    return Located(
        sheet.name,
        ONE_STEP,
        lines,
        {index[w]: index[g] for w, g in weights.items()},
        constant,
        ref,
        eta_line,
    )


# ---------------------------------------------------------------------------------------------
# Tables of typed numbers


def _typed_tables(view: _View, book: Book, taken: set) -> tuple[list[Located], list[Skipped]]:
    """Blocks of typed numbers in which several columns each step as w − η·g (or w + η·g) for
    one η and another column g of the row before."""
    runs = _numeric_runs(view, taken)
    if len(runs) < 2:
        return [], []
    pairs = []
    for c1, (top1, values1) in runs.items():
        for c2, (top2, values2) in runs.items():
            if c1 == c2:
                continue
            pair = _step_pair(c1, top1, values1, c2, top2, values2)
            if pair is not None:
                pairs.append(pair)
    tables: list[Located] = []
    while pairs:
        clusters = Counter(_eta_bucket(p[2]) for p in pairs)
        bucket, _ = clusters.most_common(1)[0]
        best: dict[int, tuple] = {}
        for p in pairs:  # one gradient per weight: the longest run of steps
            if _eta_bucket(p[2]) == bucket and (p[0] not in best or p[4] > best[p[0]][4]):
                best[p[0]] = p
        if len(best) < MIN_TYPED_WEIGHTS:
            pairs = [p for p in pairs if _eta_bucket(p[2]) != bucket]
            continue
        _add_small_steps(best, runs)
        table = _typed_table(view, book, best, runs)
        if table is None:
            pairs = [p for p in pairs if _eta_bucket(p[2]) != bucket]
            continue
        tables.append(table)
        cells = {cell for line in table.lines for cell in line.cells}
        taken |= cells
        # a column of the table (over its rows) is no other table's weight or gradient
        pairs = [
            p for p in pairs if not any(view.real(r, c) in cells for c in p[:2] for r in range(p[5], p[6]))
        ]
    return tables, []


def _numeric_runs(view: _View, taken: set) -> dict[int, tuple[int, np.ndarray]]:
    """Each column's longest run of typed numbers (3 rows or more): {column: (top row, values)}."""
    typed: dict[int, dict[int, float]] = {}  # view column -> {view row: value}
    for real_row, (values, formulas) in enumerate(zip(view.sheet.values, view.sheet.formulas)):
        for real_col, value in enumerate(values):
            if type(value) in (int, float) and not _is_formula(
                formulas[real_col] if real_col < len(formulas) else None
            ):
                if (real_row, real_col) in taken:
                    continue
                r, c = (real_col, real_row) if view.across else (real_row, real_col)
                typed.setdefault(c, {})[r] = float(value)
    runs = {}
    for c, cells in typed.items():
        if len(cells) < 3:
            continue
        best, start, previous = (0, 0), None, None
        for r in sorted(cells):
            if previous is None or r != previous + 1:
                start = r
            previous = r
            if r - start + 1 > best[0]:
                best = (r - start + 1, start)
        if best[0] >= 3:
            runs[c] = (best[1], np.array([cells[r] for r in range(best[1], best[1] + best[0])]))
    return runs


def _step_pair(c1, top1, w, c2, top2, g):
    """(weight column, gradient column, η, sign, steps, first row, end row) when column c1
    steps as w − sign·η·g of column c2 on the row before, for one η, at the rounding of the
    numbers typed, on a run of rows."""
    start, stop = max(top1, top2), min(top1 + len(w), top2 + len(g))
    if stop - start < 3:
        return None
    w = w[start - top1 : stop - top1]
    g = g[start - top2 : stop - top2]
    change = w[:-1] - w[1:]
    grad = g[:-1]
    halves_w = np.array([_half_unit(x) for x in w])
    halves_g = np.array([_half_unit(x) for x in grad])
    rounding = halves_w[:-1] + halves_w[1:]
    # η from the rows where the step is well above the rounding
    clear = (grad != 0) & (np.abs(change) > _CLEAR * rounding)
    if clear.sum() < 2:
        return None
    eta = float(np.median(change[clear] / grad[clear]))
    if not 1e-4 <= abs(eta) <= 1e3:
        return None
    slack = 3 * (rounding + abs(eta) * halves_g) + 1e-9 * (np.abs(w[:-1]) + np.abs(eta * grad))
    consistent = np.abs(change - eta * grad) <= slack
    # the steps: the longest run of rows that follow, a single odd row inside it allowed (a
    # mistake to report); a repeated row or other numbers below end it
    best, run_start, last, misses = (0, 0), None, 0, 0
    for i, ok in enumerate([*consistent, False, False]):
        if ok:
            if run_start is None:
                run_start = i
            last, misses = i, 0
        elif run_start is not None:
            misses += 1
            if misses == 2:
                if last + 1 - run_start > best[1] - best[0]:
                    best = (run_start, last + 1)
                run_start = None
    first, end = best
    if end - first < 2 or clear[first:end].sum() < 2:
        return None
    return (c1, c2, abs(eta), 1 if eta > 0 else -1, end - first, start + first, start + end + 1)


def _add_small_steps(best: dict[int, tuple], runs) -> None:
    """Weights whose steps are too small to show η on their own (w1 of an input of 0.05) but
    that step as w − sign·η·g for the table's η, at the rounding, with another column g."""
    eta = float(np.median([p[2] for p in best.values()]))
    sign = 1 if sum(p[3] for p in best.values()) >= 0 else -1
    start = min(p[5] for p in best.values())
    stop = max(p[6] for p in best.values())
    taken = set(best) | {p[1] for p in best.values()}
    # the table's rounding, relative, from its weights: no number is rounded more than that
    # (a counter 1, 2, 3 or a one-digit 0.1 shows few digits but is not rounded)
    known = np.concatenate([runs[c][1] for c in best])
    known = known[known != 0]
    relative = float(np.median([_half_unit(x) / abs(x) for x in known])) if known.size else 0.0
    for c1, (top1, values1) in runs.items():
        if c1 in taken or top1 > start or top1 + len(values1) < stop:
            continue
        w = values1[start - top1 : stop - 1 - top1]
        change = w[:-1] - w[1:]
        halves = np.minimum([_half_unit(x) for x in w], 10 * relative * np.abs(w))
        rounding = halves[:-1] + halves[1:]
        if len(w) < 3 or not np.any(np.abs(change) > rounding):
            continue  # a column that does not move is no weight
        fits = []
        for c2, (top2, values2) in runs.items():
            if c2 in taken or c2 == c1 or top2 > start or top2 + len(values2) < stop:
                continue
            g = values2[start - top2 : stop - 1 - top2][:-1]
            g_halves = np.minimum([_half_unit(x) for x in g], 10 * relative * np.abs(g))
            slack = 3 * (rounding + eta * g_halves) + 1e-9 * np.abs(w[:-1])
            residual = np.abs(change - sign * eta * g)
            if np.mean(residual <= slack) >= 0.8:
                fits.append((float(np.median(residual)), c2))
        if fits:
            c2 = min(fits)[1]
            best[c1] = (c1, c2, eta, sign, len(w) - 1, start, stop)
            taken |= {c1, c2}


def _half_unit(value: float) -> float:
    """Half a unit in the last digit a typed number shows (0.506875 gives 5e-7)."""
    if not math.isfinite(value) or value == 0:
        return 0.0
    text = repr(float(value))
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if mantissa.endswith(".0"):
        decimals = 0
    return 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def _eta_bucket(eta: float) -> float:
    """Steps of one table give one η to within their rounding."""
    return float(f"{eta:.3g}")


def _typed_table(view: _View, book: Book, pairs: dict[int, tuple], runs) -> Located | None:
    start = min(p[5] for p in pairs.values())
    stop = max(p[6] for p in pairs.values())
    rows = list(range(start, stop))
    weights = set(pairs)
    columns = {c for c, (top, values) in runs.items() if top <= start and top + len(values) >= stop}
    columns |= weights | {p[1] for p in pairs.values()}
    # the block: the columns of numbers on these rows side by side with the weights
    lo, hi = min(weights), max(weights)
    while lo - 1 in columns:
        lo -= 1
    while hi + 1 in columns:
        hi += 1
    block = {c for c in columns if lo <= c <= hi} | weights | {p[1] for p in pairs.values()}
    rows = _trim(view, rows, block)
    if len(rows) < 2:
        return None
    lines, index = _lines(view, rows, sorted(block))
    for line, c in zip(lines, sorted(block)):
        line.label = _label_above(view, rows[0], c)
    ratios = [p[2] for p in pairs.values()]
    eta_value = float(np.median(ratios))
    top = view.real(rows[0], min(block))[0]
    labelled = hints.labelled_constant(view.sheet.values, ("eta",), top, view.sheet.name)
    if labelled is not None and abs(labelled.value - eta_value) <= 2e-2 * eta_value:
        eta = labelled
    else:
        eta = Constant(float(f"{eta_value:.6g}"), "the weight updates' numbers", "η")
    return Located(
        view.sheet.name,
        ACROSS if view.across else ROWS,
        lines,
        {index[c]: index[p[1]] for c, p in pairs.items()},
        eta,
        typed=True,
        header=_header_row(view, rows[0], sorted(block)),
    )


def _labelled_but_not_a_table(sheet: Sheet) -> list[Skipped]:
    """Why a sheet whose labels name weights holds no table: said, not passed over."""
    out = []
    for index, across in hints.weight_headers(sheet.values):
        if across:
            rows = [
                r for r, row in enumerate(sheet.values) if index < len(row) and hints.parse_label(row[index])
            ]
            row, where = (rows[0] if rows else 0), f"the labels down column {xl_col_to_name(index)}"
        else:
            row, where = index, f"the labels along row {index + 1}"
        out.append(
            Skipped(
                sheet.name,
                row,
                f"{where} name the weights, but no weight is updated from a gradient "
                "(no cell computes w − η·∂E/∂w from another weight's cell), so no training step "
                "could be read",
            )
        )
    return out
