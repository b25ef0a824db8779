"""Finding the training tables of a hand-made workbook, read through their formulas first.

A table is a header row that names the weights (w1, w2, …) and something computed from them
(E_total, ∂E/∂w1, …), followed by one row per iteration for as long as the rows are training
steps: the first weight's column holds a number, no text interrupts the columns, and (where the
table has formulas) the filled-down formulas keep their pattern; a table of typed numbers ends
where the weights stop following from the row above.

The constants a table uses are found the way its own formulas find them:
- η is what the weight updates multiply the gradient by (=E33-$G$31*X33: η is G31), on any
  sheet the formulas point to; a table of typed numbers takes η from a labelled cell above it
  (η =, eta, lr, learning rate, ͷ, n =, …; the value right of the label, a few cells along, or
  below it), else from the numbers (w_next = w − η·g);
- inputs and targets are table columns, or the cells the forward and loss formulas read (chosen
  among those by the numbers they give), or labelled cells above the table.
A constant is never taken from another sheet, or from below the table, unless the table's own
formulas reference it.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from sheetgen.analyse.check.labels import inline_learning_rate, normalise, parse_label
from sheetgen.analyse.check.refs import Reference, literals, references, shape
from sheetgen.analyse.compare import as_number
from sheetgen.analyse.reading import Grid, cell
from sheetgen.workbook.quantities import Key, weight_number
from sheetgen.workbook.spec import NetworkSpec, spec_from_dict

# A header must name at least this many weights: a row of two labels is not a table.
MIN_WEIGHTS = 4
_COMPUTED = {"E_total", "grad_w#", "E", "delta", "net", "act", "grad_act"}
# η, inputs, targets, fixed biases: given, not computed (a column of one repeats its first row)
CONSTANT_KINDS = ("eta", "input", "target", "init_b")
# How far right of a label its value may sit (a merged label cell spans a few columns).
_LABEL_REACH = 4


@dataclass(frozen=True)
class Constant:
    """η, an input or a target: its value and where it comes from."""

    value: float
    cell: str  # "Sheet1!B3", or a description ("typed into the update formulas")
    label: str


@dataclass
class Table:
    """One training table: where it is, what its columns are, and the constants it uses."""

    sheet: str
    header_row: int  # 0-based sheet row of the labels
    rows: list[int]  # 0-based sheet rows of the iterations, in order
    columns: dict[Key, int]  # quantity key -> 0-based sheet column
    labels: dict[Key, str]  # quantity key -> the header's text
    constants: dict[Key, Constant]  # η, inputs, targets not given as columns
    spec: NetworkSpec  # the table's shape (weights are placeholders)
    missing: list[str] = field(default_factory=list)  # what could not be found
    typed: bool = False  # its computed columns hold typed numbers
    eta_reference: Reference | None = None  # the cell the weight updates read η from
    notes: list[str] = field(default_factory=list)  # what a reader should know

    def cell(self, row: int, key: Key) -> str:
        """A1 reference of a column's cell on a 0-based sheet row."""
        return xl_rowcol_to_cell(row, self.columns[key])

    @property
    def shape(self) -> str:
        sizes = [self.spec.n_inputs] + [layer.units for layer in self.spec.layers]
        return "-".join(map(str, sizes))


@dataclass(frozen=True)
class Skipped:
    """A header that looked like a table but could not be read as one."""

    sheet: str
    header_row: int
    reason: str


def find_tables(
    values: dict[str, Grid], formulas: dict[str, Grid] | None = None
) -> tuple[list[Table], list[Skipped]]:
    """Every training table of a workbook.

    Args:
        values: each sheet's cached values (labels are constants, so they are here too).
        formulas: each sheet's formulas; without them (read_history) constants come from
            labels and numbers only.

    Returns:
        The tables in sheet order, top to bottom, and the header rows that were skipped, with
        why (for the message when nothing is found).
    """
    formulas = formulas or {}
    labels = {name: _labels(grid) for name, grid in values.items()}
    found: list[tuple[str, int, dict[Key, int], dict[Key, str]]] = []
    for name in values:
        by_row: dict[int, list[tuple[int, Key, str]]] = {}
        for (r, c), (key, text) in labels[name].items():
            if inline_learning_rate(text) is None:  # "η = 0.1" is a value, not a column
                by_row.setdefault(r, []).append((c, key, text))
        for r in sorted(by_row):
            for segment in _segments(sorted(by_row[r])):
                kinds = {key[0] for _, key, _ in segment}
                weights = sum(1 for _, key, _ in segment if key[0] == "w#")
                if weights >= MIN_WEIGHTS and kinds & _COMPUTED:
                    found.append(
                        (name, r, {key: c for c, key, _ in segment}, {key: text for _, key, text in segment})
                    )
    tables, skipped = [], []
    for name in values:
        if not any(entry[0] == name for entry in found):
            skipped.extend(_across(name, labels[name]))
    for name, r, cols, texts in found:
        grid, fgrid = values[name], formulas.get(name, [])
        # η or an input labelled in the header row but with nothing below it is a labelled
        # value beside the table, not a column of it
        first = _first_row(grid, r, cols)
        for key in [k for k in cols if k[0] in CONSTANT_KINDS]:
            if cell(grid, first, cols[key]) is None:
                del cols[key]
        rows = _body(grid, fgrid, first, cols)
        if not rows:
            skipped.append(Skipped(name, r, "no rows of numbers below the header"))
            continue
        try:
            table = _table(name, r, rows, cols, texts, labels[name], values, formulas)
        except ValueError as exc:
            skipped.append(Skipped(name, r, str(exc)))
            continue
        tables.append(table)
    return tables, skipped


def _across(name: str, labels: dict) -> list[Skipped]:
    """A sheet whose weights and computed quantities are labelled down a column: a table laid
    out across, one column per step, which check does not read; said so, not passed over."""
    by_col: dict[int, list[tuple[int, Key]]] = {}
    for (r, c), (key, _) in labels.items():
        by_col.setdefault(c, []).append((r, key))
    out = []
    for c, items in sorted(by_col.items()):
        kinds = {key[0] for _, key in items}
        if len({key for _, key in items if key[0] == "w#"}) >= MIN_WEIGHTS and kinds & _COMPUTED:
            first = min(r for r, _ in items)
            out.append(
                Skipped(
                    name,
                    first,
                    f"the labels run down column {xl_col_to_name(c)} (a table laid out across, one "
                    "column per step); check reads one row per step: transpose it (Paste Special "
                    "› Transpose) to check it",
                )
            )
    return out


def _labels(grid: Grid) -> dict[tuple[int, int], tuple[Key, str]]:
    found = {}
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            key = parse_label(value)
            if key is None and inline_learning_rate(value) is not None:
                key = ("eta",)
            if key is not None:
                found[(r, c)] = (key, _clean(value))
    _gradients_under_a_group(grid, found)
    return found


# A group label over gradient columns headed w1, w2, … again: ∂E/∂w, dE_total/dW, Gradients
_GRADIENT_GROUP = re.compile(r"(?:[dδ]?(?:e|etotal|etot|error|loss|totalerror)?/?[dδ]w?|gradients?|gradw?)\Z")
# How far left of a column its group label may start (a merged cell over the group)
_GROUP_REACH = 10


def _gradients_under_a_group(grid: Grid, found: dict) -> None:
    """A weight label that repeats on its row under a group label saying ∂E/∂w ("∂E_total/∂w"
    merged over eight columns headed w1…w8) heads that weight's gradient, not the weight.
    The group label is looked for above the run of repeated weight labels only, so that
    another table's group label to the left does not count."""
    seen: set[tuple[int, Key]] = set()
    repeats: set[tuple[int, int]] = set()
    for (r, c), (key, _) in sorted(found.items()):
        if key[0] == "w#":
            if (r, key) in seen:
                repeats.add((r, c))
            seen.add((r, key))
    for r, c in sorted(repeats):
        key, text = found[(r, c)]
        group = None
        for left in range(c, max(-1, c - _GROUP_REACH), -1):
            if (r, left) not in repeats:
                break
            if cell(grid, r - 1, left):
                group = cell(grid, r - 1, left)
                break
        if r > 0 and isinstance(group, str) and _GRADIENT_GROUP.match(normalise(group)):
            name = _clean(group)
            label = f"{name}{key[1]}" if normalise(group).endswith("w") else f"{name} {text}"
            found[(r, c)] = (("grad_w#", key[1]), label)


def _clean(label: str) -> str:
    """A label as a report names it: "η =" and "learning rate:  η =" say η, "LR=" says LR."""
    text = " ".join(label.split())
    if inline_learning_rate(text) is None:
        text = text.rstrip("=: ").strip()
    return text


def update_formula(fgrid: Grid, row: int, col: int):
    """The formula a weight's cell is updated by: its own, or, where it only copies another
    column's cell on the row above (=AF3, under "new w1"), that cell's (=E3-$B$1*X3), which
    reads the same row above."""
    formula = cell(fgrid, row, col)
    refs = references(formula)
    if len(refs) != 1 or refs[0].sheet is not None or refs[0].row != row - 1 or refs[0].col == col:
        return formula
    if formula.replace(" ", "").replace("$", "").upper() != "=" + refs[0].text.replace("$", "").upper():
        return formula
    target = cell(fgrid, refs[0].row, refs[0].col)
    return target if isinstance(target, str) and target.startswith("=") else formula


def _name_only(label: str) -> str:
    """A label's name: "η" of "η = 0.5", which says its value itself (the report adds it)."""
    if inline_learning_rate(label) is None:
        return label
    return re.split(r"\s*[=:]", label, maxsplit=1)[0].strip() or label


def _segments(row: list[tuple[int, Key, str]]) -> list[list[tuple[int, Key, str]]]:
    """Split a header row into tables when a label repeats (tables side by side)."""
    segments, seen = [[]], set()
    for item in row:
        if item[1] in seen:
            segments.append([])
            seen = set()
        segments[-1].append(item)
        seen.add(item[1])
    return segments


def _is_text(value) -> bool:
    """Text that is not an error value (#VALUE!, #DIV/0! belong to a table's body)."""
    return isinstance(value, str) and not value.startswith("#")


def _first_row(grid: Grid, header: int, cols: dict[Key, int]) -> int:
    """The table's first row: the one below the header, unless that row (and the next) holds
    no number in the table's columns (a blank row, a row of units or descriptions) and a row
    within two more has a number under the first weight."""
    first_weight = cols[min((k for k in cols if k[0] == "w#"), key=lambda k: k[1])]
    for r in range(header + 1, header + 4):
        if not math.isnan(as_number(cell(grid, r, first_weight))):
            return r
        if any(not math.isnan(as_number(cell(grid, r, c))) for c in cols.values()):
            break
    return header + 1


def _body(grid: Grid, fgrid: Grid, first: int, cols: dict[Key, int]) -> list[int]:
    """The rows from `first` on that are training steps.

    A row belongs while the first weight's column holds a number (or an error value), no table
    column holds text, and, where the previous row's computed columns were formulas, at least
    half of them still are and keep their filled-down shape (chart data or a note below the
    table in the same columns ends it).
    """
    first_weight = min((k for k in cols if k[0] == "w#"), key=lambda k: k[1])
    weight_col = cols[first_weight]
    computed = [c for k, c in cols.items() if k[0] not in CONSTANT_KINDS]
    # the fill-down pattern is judged on a dozen columns spread over the table: as telling,
    # and a long table is read in a fraction of the time
    computed = computed[:: max(1, len(computed) // 12)]
    rows: list[int] = []
    r = first
    previous_shapes: dict[int, str] = {}
    while r < len(grid):
        value = cell(grid, r, weight_col)
        if value is None or _is_text(value):
            break
        texts = sum(1 for c in cols.values() if _is_text(cell(grid, r, c)))
        if texts * 2 > len(cols):  # a row of labels: what follows is something else
            break
        shapes = {c: shape(cell(fgrid, r, c), r) for c in computed}
        shapes = {c: s for c, s in shapes.items() if s is not None}
        if len(rows) >= 2 and len(previous_shapes) >= 2:
            kept = sum(1 for c, s in previous_shapes.items() if shapes.get(c) == s)
            # formulas typed row by row may differ in shape; a weight that still reads its
            # own column on the row above is still a training step
            steps = any(
                ref.row == r - 1 and ref.col == c and ref.sheet is None
                for k, c in cols.items()
                if k[0] == "w#"
                for ref in references(cell(fgrid, r, c))
            )
            if kept * 2 < len(previous_shapes) and not steps:
                break
        if len(rows) >= 1:
            previous_shapes = shapes
        rows.append(r)
        r += 1
    # the last rows may stop short (the final weights, with no gradients after them): a row
    # with empty cells at the end of the table is not a training step; an empty cell in the
    # middle is, and is reported as a cell that could not be checked
    while rows and any(cell(grid, rows[-1], c) is None for c in cols.values()):
        rows.pop()
    if not any(not math.isnan(as_number(cell(grid, r, weight_col))) for r in rows):
        return []
    return rows


def _table(name, header, rows, cols, texts, sheet_labels, values, formulas) -> Table:
    spec = _shape(cols, {key for key, _ in sheet_labels.values()})
    numbers = {
        weight_number(spec, l, j, k): (l, j, k)
        for l, layer in enumerate(spec.layers)
        for j in range(layer.units)
        for k in range(len(layer.weights[0]))
    }
    columns, names = {}, {}
    for key, col in cols.items():
        if key[0] == "bias#":
            if not 1 <= key[1] <= len(spec.layers):
                raise ValueError(f"{texts[key]} does not fit a {_sizes(spec)} network")
            columns[("init_b", key[1] - 1, 0)] = col
            names[("init_b", key[1] - 1, 0)] = texts[key]
            continue
        if key[0] in ("w#", "grad_w#"):
            if key[1] not in numbers:
                raise ValueError(f"{texts[key]} does not fit a {_sizes(spec)} network")
            key2 = ("w" if key[0] == "w#" else "grad_w", *numbers[key[1]])
        else:
            key2 = key
            if not _fits(spec, key2):
                raise ValueError(f"{texts[key]} does not fit a {_sizes(spec)} network")
        columns[key2] = col
        names[key2] = texts[key]
    absent = [f"w{n}" for n in sorted(numbers) if ("w", *numbers[n]) not in columns]
    if absent:
        raise ValueError(f"the header names no column for {', '.join(absent)}")
    fgrid = formulas.get(name, [])
    computed = [c for k, c in columns.items() if k[0] not in CONSTANT_KINDS and not (k[0] == "w")]
    typed = bool(rows) and not any(
        isinstance(cell(fgrid, r, c), str) and cell(fgrid, r, c).startswith("=")
        for r in rows
        for c in computed
    )
    table = Table(name, header, rows, columns, names, {}, spec, typed=typed)
    context = _Context(table, values, formulas, sheet_labels)
    context.resolve_eta()
    context.resolve_data()
    biased = {key[1] for key in list(columns) + list(table.constants) if key[0] == "init_b"}
    if biased:
        table.spec = _with_biases(spec, biased)
    if typed:
        _trim_typed(table, values[name])
    return table


class _Context:
    """What resolving a table's constants needs: the table, every sheet's values and formulas,
    and the labels of the table's own sheet."""

    def __init__(self, table: Table, values, formulas, sheet_labels):
        self.table = table
        self.values = values
        self.formulas = formulas
        self.grid = values[table.sheet]
        self.fgrid = formulas.get(table.sheet, [])
        self.sheet_labels = sheet_labels

    def value_at(self, ref: Reference) -> float:
        grid = self.values.get(ref.sheet or self.table.sheet)
        return math.nan if grid is None else as_number(cell(grid, ref.row, ref.col))

    def where(self, ref: Reference) -> str:
        return f"{ref.sheet or self.table.sheet}!{xl_rowcol_to_cell(ref.row, ref.col)}"

    def column_values(self, key: Key, count: int | None = None) -> np.ndarray:
        rows = self.table.rows[:count] if count else self.table.rows
        return np.array([as_number(cell(self.grid, r, self.table.columns[key])) for r in rows])

    def is_table_cell(self, ref: Reference) -> bool:
        return (
            ref.sheet in (None, self.table.sheet)
            and ref.row in self.table.rows
            and ref.col in self.table.columns.values()
        )

    # -- η ---------------------------------------------------------------------------------

    def resolve_eta(self) -> None:
        table = self.table
        if ("eta",) in table.columns and not table.typed:
            # a column of η counts only if the weight updates read it on their own row
            refs = self._eta_votes()
            col = table.columns[("eta",)]
            if not any(isinstance(k, tuple) and k[0] == "column" and k[1] == col for k in refs):
                del table.columns[("eta",)]
                del table.labels[("eta",)]
        if ("eta",) in table.columns:
            return
        votes = self._eta_votes()
        if votes:
            choice, _ = votes.most_common(1)[0]
            if choice[0] == "cell":
                ref = choice[1]
                value = self.value_at(ref)
                if not math.isnan(value):
                    table.eta_reference = ref
                    table.constants[("eta",)] = Constant(value, self.where(ref), self._label_for(ref) or "η")
                    labelled = self._labelled(("eta",))
                    if labelled is not None and labelled.cell != self.where(ref) and labelled.value != value:
                        table.notes.append(
                            f"the weight updates read η from {self.where(ref)} ({value:.15g}), "
                            f"not from the cell labelled {labelled.label} ({labelled.cell}, "
                            f"{labelled.value:.15g})"
                        )
                    return
            elif choice[0] == "literal":
                table.constants[("eta",)] = Constant(choice[1], "typed into the weight updates", "η")
                return
        labelled = self._labelled(("eta",))
        if labelled is not None:
            table.constants[("eta",)] = labelled
            return
        inferred = self._eta_from_numbers()
        if inferred is not None:
            table.constants[("eta",)] = Constant(inferred, "the weight updates' numbers", "η")
            return
        table.missing.append("η")

    def _eta_votes(self) -> Counter:
        """What each weight update of the first rows multiplies its gradient by."""
        table = self.table
        votes: Counter = Counter()
        for key, col in table.columns.items():
            grad = ("grad_w", *key[1:])
            if key[0] != "w":
                continue
            grad_col = table.columns.get(grad)
            for i in range(1, min(len(table.rows), 4)):
                row, above = table.rows[i], table.rows[i - 1]
                formula = update_formula(self.fgrid, row, col)
                refs = references(formula)
                if not refs:
                    continue
                others = [
                    ref
                    for ref in refs
                    if not (
                        ref.sheet in (None, table.sheet) and ref.row == above and ref.col in (col, grad_col)
                    )
                ]
                if len(others) == 1:
                    ref = others[0]
                    if ref.sheet in (None, table.sheet) and ref.row == row:
                        votes[("column", ref.col)] += 1
                    else:
                        votes[("cell", Reference(ref.sheet, ref.row, ref.col, ref.text, True, True))] += 1
                elif not others:
                    numbers = [n for n in literals(formula) if n not in (0.0, 1.0)]
                    if len(numbers) == 1:
                        votes[("literal", numbers[0])] += 1
        # the same cell written $G$31 or G31 is one vote
        merged: Counter = Counter()
        for choice, count in votes.items():
            if choice[0] == "cell":
                ref = choice[1]
                choice = (
                    "cell",
                    Reference(
                        ref.sheet,
                        ref.row,
                        ref.col,
                        xl_rowcol_to_cell(ref.row, ref.col, True, True),
                        True,
                        True,
                    ),
                )
            merged[choice] += count
        return merged

    def _eta_from_numbers(self) -> float | None:
        """η from w_next = w − η·g, where every weight and its gradient agree on one value."""
        table = self.table
        ratios = []
        for key in table.columns:
            grad = ("grad_w", *key[1:])
            if key[0] != "w" or grad not in table.columns:
                continue
            w, g = self.column_values(key, 12), self.column_values(grad, 12)
            with np.errstate(all="ignore"):
                r = (w[:-1] - w[1:]) / g[:-1]
            ratios.extend(x for x in r if math.isfinite(x) and abs(g[0]) > 0)
        if len(ratios) < 3:
            return None
        median = float(np.median(ratios))
        close = sum(1 for x in ratios if abs(x - median) <= 1e-3 * abs(median))
        if median <= 0 or close * 2 < len(ratios):
            return None
        return float(f"{median:.6g}")

    # -- inputs and targets ----------------------------------------------------------------

    def resolve_data(self) -> None:
        table, spec = self.table, self.table.spec
        inputs = [("input", 0, k) for k in range(spec.n_inputs)]
        targets = [("target", 0, j) for j in range(spec.layers[-1].units)]
        groups = [
            (inputs + ([("init_b", 0, 0)] if self._has_bias(0) else []), self._input_error),
            (targets, self._target_error),
        ]
        groups += [
            ([("init_b", l, 0)], self._input_error) for l in range(1, len(spec.layers)) if self._has_bias(l)
        ]
        for group, fit in groups:
            needed = [key for key in group if key not in table.columns]
            if not needed:
                continue
            candidates = self._candidates(group)
            best = None
            if candidates and len(candidates) >= len(needed) and len(candidates) <= 8:
                for choice in itertools.permutations(candidates, len(needed)):
                    assignment = dict(zip(needed, choice))
                    error = fit(assignment)
                    if error is not None and (best is None or error < best[0]):
                        best = (error, assignment)
            if best is not None and best[0] <= 1e-6:
                for key, constant in best[1].items():
                    table.constants[key] = constant
                continue
            for key in needed:
                constant = self._labelled(key)
                if constant is None:
                    table.missing.append(
                        f"b{key[1] + 1}" if key[0] == "init_b" else f"{key[0][0]}{key[2] + 1}"
                    )
                else:
                    table.constants[key] = constant

    def _candidates(self, group: list[Key]) -> list[Constant]:
        """Cells the formulas that use `group` read, outside the table, and labelled cells of
        the group's kind above the table."""
        table = self.table
        kind = group[0][0]
        last = len(table.spec.layers) - 1
        if kind == "init_b":
            users = [k for k in table.columns if k[0] == "net" and k[1] == group[0][1]]
        elif kind == "input":
            users = [k for k in table.columns if k[0] == "net" and k[1] == 0]
            users += [k for k in table.columns if k[0] == "grad_w" and k[1] == 0]
        else:
            users = [
                k
                for k in table.columns
                if k[0] in ("E", "delta", "grad_act") and (k[0] == "E" or k[1] == last)
            ]
            users += [k for k in table.columns if k[0] == "grad_w" and k[1] == last]
        found: dict[str, Constant] = {}
        weights = {c for k, c in table.columns.items() if k[0] == "w"}
        for key in users:
            for row in table.rows[:2]:
                for ref in references(cell(self.fgrid, row, table.columns[key])):
                    if self.is_table_cell(ref) or (ref.sheet in (None, table.sheet) and ref.col in weights):
                        continue
                    value = self.value_at(ref)
                    if not math.isnan(value):
                        where = self.where(ref)
                        found.setdefault(where, Constant(value, where, self._label_for(ref) or where))
        for key in group:
            labelled = self._labelled(key)
            if labelled is not None:
                found.setdefault(labelled.cell, labelled)
            if key[0] == "init_b":  # a bias typed into the net formulas: =E3*C3+F3*D3+0.35
                for number in self._net_literals(key[1]):
                    found.setdefault(
                        f"{number!r}", Constant(number, "typed into the net formulas", f"b{key[1] + 1}")
                    )
        return list(found.values())

    def _net_formulas(self, l: int) -> list[str]:
        table = self.table
        return [
            f
            for k, c in table.columns.items()
            if k[0] == "net" and k[1] == l
            for f in [cell(self.fgrid, table.rows[0], c)]
            if isinstance(f, str) and f.startswith("=")
        ]

    def _net_literals(self, l: int) -> list[float]:
        return sorted({n for f in self._net_formulas(l) for n in literals(f) if n not in (0.0, 1.0)})

    def _has_bias(self, l: int) -> bool:
        """Whether layer l adds a bias: a b1/b2 column or label, or net formulas that read
        more than a weight and an input per term (or add a typed number)."""
        table = self.table
        if ("init_b", l, 0) in table.columns:
            return True
        if any(key == ("bias#", l + 1) for key, _ in self.sheet_labels.values()):
            return True
        fan_in = len(table.spec.layers[l].weights[0])
        for formula in self._net_formulas(l):
            if len(references(formula)) > 2 * fan_in or self._net_literals(l):
                return True
        return False

    def _input_error(self, assignment: dict[Key, Constant]) -> float | None:
        """How far the nets of the first rows are from Σ w·x (+ b) with these inputs (and
        bias), for the layer the assignment is about."""
        table = self.table
        layer = max((k[1] for k in assignment if k[0] == "init_b"), default=0)
        nets = [k for k in table.columns if k[0] == "net" and k[1] == layer]
        if not nets:
            return None

        def given(key):
            if key in assignment:
                return assignment[key].value
            if key in table.columns:
                return self.column_values(key, 3)
            return None

        worst = 0.0
        for key in nets:
            j = key[3]
            total = 0.0
            for k in range(len(table.spec.layers[layer].weights[0])):
                x = given(("input", 0, k) if layer == 0 else ("act", layer - 1, 0, k))
                if x is None:
                    return None
                total = total + self.column_values(("w", layer, j, k), 3) * x
            bias = given(("init_b", layer, 0))
            if bias is not None:
                total = total + bias
            got = self.column_values(key, 3)
            worst = max(worst, _relative(got, total))
        return worst

    def _target_error(self, assignment: dict[Key, Constant]) -> float | None:
        """How far the losses (or the output errors) of the first rows are with these
        targets."""
        table = self.table
        last = len(table.spec.layers) - 1
        outputs = table.spec.layers[-1].units

        def target(j):
            key = ("target", 0, j)
            return assignment[key].value if key in assignment else self.column_values(key, 3)

        def act(j):
            key = ("act", last, 0, j)
            return self.column_values(key, 3) if key in table.columns else None

        worst, used = 0.0, False
        for j in range(outputs):
            a = act(j)
            if a is None:
                continue
            # each computed only if its column exists, in this iteration (hence noqa: B023)
            for key, expected in (
                (("E", 0, j), lambda: 0.5 * (target(j) - a) ** 2),  # noqa: B023
                (("grad_act", last, 0, j), lambda: a - target(j)),  # noqa: B023
                (("delta", last, 0, j), lambda: (a - target(j)) * a * (1 - a)),  # noqa: B023
            ):
                if key in table.columns:
                    worst = max(worst, _relative(self.column_values(key, 3), expected()))
                    used = True
        if not used and ("E_total",) in table.columns and all(act(j) is not None for j in range(outputs)):
            total = sum(0.5 * (target(j) - act(j)) ** 2 for j in range(outputs))
            worst = _relative(self.column_values(("E_total",), 3), total)
            used = True
        return worst if used else None

    # -- labels ----------------------------------------------------------------------------

    def _labelled(self, key: Key) -> Constant | None:
        """The labelled cell for a constant on the table's own sheet, nearest above the table
        (or beside its header); never below it."""
        table = self.table
        first_col = min(table.columns.values())
        best = None
        for (r, c), (label_key, text) in self.sheet_labels.items():
            if label_key[0] == "bias#":
                label_key = ("init_b", label_key[1] - 1, 0)
            if label_key != key or r > table.header_row:
                continue
            if r == table.header_row and c in table.columns.values():
                continue
            value = _labelled_value(self.grid, r, c, text, table.header_row)
            if value is None:
                continue
            distance = (table.header_row - r) + abs(c - first_col) / 100
            if best is None or distance < best[0]:
                best = (distance, Constant(value[0], f"{table.sheet}!{value[1]}", _name_only(text)))
        return None if best is None else best[1]

    def _label_for(self, ref: Reference) -> str | None:
        """The label written just left of or above a cell, if it is one of ours."""
        grid = self.values.get(ref.sheet or self.table.sheet, [])
        for r, c in ((ref.row, ref.col - d) for d in range(1, _LABEL_REACH + 1)):
            text = cell(grid, r, c)
            if isinstance(text, str) and text.strip():
                return _name_only(_clean(text)) if parse_label(text) or inline_learning_rate(text) else None
            if text is not None:
                break
        above = cell(grid, ref.row - 1, ref.col)
        if isinstance(above, str) and parse_label(above):
            return _clean(above)
        return None


def _relative(got: np.ndarray, expected) -> float:
    expected = np.broadcast_to(np.asarray(expected, dtype=np.float64), got.shape)
    with np.errstate(all="ignore"):
        errors = np.abs(got - expected) / np.maximum(np.abs(expected), 1e-12)
    errors = errors[np.isfinite(errors)]
    return float(errors.max()) if errors.size else math.inf


def _trim_typed(table: Table, grid: Grid) -> None:
    """End a table of typed numbers where its weights stop following from the row above
    (w_next = w − η·g, at the table's rounding, or w + η·g where the gradient columns hold
    −∂E/∂w): a repeated row or a block of other numbers below the steps is not part of the
    training."""
    eta = table.constants.get(("eta",))
    if eta is None:
        return
    pairs = [
        (table.columns[k], table.columns[("grad_w", *k[1:])])
        for k in table.columns
        if k[0] == "w" and ("grad_w", *k[1:]) in table.columns
    ]
    if not pairs:
        return
    keep = len(table.rows)
    for i in range(1, len(table.rows)):
        above, row = table.rows[i - 1], table.rows[i]
        following = {-1: 0, 1: 0}
        for w_col, g_col in pairs:
            w0, w1 = as_number(cell(grid, above, w_col)), as_number(cell(grid, row, w_col))
            g = as_number(cell(grid, above, g_col))
            step = eta.value * g
            for sign in following:
                if (
                    math.isfinite(w1)
                    and abs(step) > 0
                    and abs(w1 - (w0 + sign * step)) <= 0.5 * abs(step) + 1e-12
                ):
                    following[sign] += 1
        if max(following.values()) * 2 < len(pairs):
            keep = i
            break
    del table.rows[keep:]


def _shape(cols: dict[Key, int], sheet_keys: set[Key]) -> NetworkSpec:
    """The network a header describes: inputs, hidden units and outputs from its labels."""
    keys = set(cols) | {k for k in sheet_keys if k[0] in CONSTANT_KINDS}

    def largest(select) -> int:
        return max((select(k) + 1 for k in keys if select(k) is not None), default=0)

    n_in = largest(lambda k: k[2] if k[0] == "input" else None)
    hidden = largest(lambda k: k[3] if k[0] in ("net", "act", "delta", "grad_act") and k[1] == 0 else None)
    outputs = largest(
        lambda k: (
            k[3]
            if k[0] in ("net", "act", "delta", "grad_act") and k[1] == 1
            else k[2]
            if k[0] in ("E", "target")
            else None
        )
    )
    n_weights = largest(lambda k: k[1] - 1 if k[0] == "w#" else None)
    if not outputs and not hidden and n_weights != 8:  # 8 weights: the exercise's 2-2-2
        raise ValueError(
            f"the header names w1…w{n_weights} but no unit check can read (h1, "
            "a_h1, o1, a_o1, E1, t1), so the network's shape is unknown; check "
            "reads tables of one sample per row"
        )
    n_in, outputs = n_in or 2, outputs or 2
    if not hidden and n_weights % (n_in + outputs) == 0:
        hidden = n_weights // (n_in + outputs)
    if n_in * hidden + hidden * outputs != n_weights:
        raise ValueError(
            f"w1…w{n_weights} do not fit a network of {n_in} inputs, "
            + (f"{hidden} hidden units" if hidden else "one hidden layer")
            + f" and {outputs} outputs"
        )
    return spec_from_dict(
        {
            "data": {"inputs": [[0.0] * n_in], "targets": [[0.0] * outputs]},
            "layers": [
                {"name": "h", "units": hidden, "weights": [[0.0] * n_in] * hidden},
                {"name": "o", "units": outputs, "weights": [[0.0] * hidden] * outputs},
            ],
            "training": {"learning_rates": [1.0], "iterations": 1},
        }
    )


def _with_biases(spec: NetworkSpec, layers: set[int]) -> NetworkSpec:
    """The table's shape with a fixed bias shared by each of these layers' units."""
    return spec_from_dict(
        {
            "data": {"inputs": [[0.0] * spec.n_inputs], "targets": [[0.0] * spec.layers[-1].units]},
            "layers": [
                {
                    "name": layer.name,
                    "units": layer.units,
                    "weights": [list(row) for row in layer.weights],
                    **({"bias": 0.0, "train_bias": False} if l in layers else {}),
                }
                for l, layer in enumerate(spec.layers)
            ],
            "training": {"learning_rates": [1.0], "iterations": 1},
        }
    )


def _fits(spec: NetworkSpec, key: Key) -> bool:
    kind = key[0]
    if kind in ("eta", "E_total"):
        return True
    if kind == "input":
        return key[2] < spec.n_inputs
    if kind in ("target", "E"):
        return key[2] < spec.layers[-1].units
    return key[3] < spec.layers[key[1]].units


def _sizes(spec: NetworkSpec) -> str:
    return "-".join(map(str, [spec.n_inputs] + [layer.units for layer in spec.layers]))


def _labelled_value(grid: Grid, r: int, c: int, text: str, header: int):
    """The number a label points at: in the label itself ("η = 0.5"), the first filled cell
    to its right within a few columns (a merged label spans some), else the cell below it
    (unless that is the table's header row or below it)."""
    inline = inline_learning_rate(text)
    if inline is not None:
        return inline, xl_rowcol_to_cell(r, c)
    for cc in range(c + 1, c + 1 + _LABEL_REACH):
        value = cell(grid, r, cc)
        if value is None:
            continue
        number = as_number(value)
        if not math.isnan(number):
            return number, xl_rowcol_to_cell(r, cc)
        break
    if r + 1 < header:
        number = as_number(cell(grid, r + 1, c))
        if not math.isnan(number):
            return number, xl_rowcol_to_cell(r + 1, c)
    return None
