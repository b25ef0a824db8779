"""Finding the training tables of a hand-made workbook by their labels.

A table is a header row that names the weights (w1, w2, …) and something computed from them
(E_total, ∂E/∂w1, …), followed by one row per iteration for as long as the first weight's
column has something in it. The header may sit on any row, several tables may share a sheet,
and a workbook may have several sheets. η, the inputs and the targets are columns of the table
when the sheet repeats them on every row, or else labelled cells elsewhere: the value to the
right of the label, or else below it; the nearest such label above the table wins, then one
anywhere on the sheet, then one on another sheet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from xlsxwriter.utility import xl_rowcol_to_cell

from sheetgen.check.labels import inline_learning_rate, parse_label
from sheetgen.compare import as_number
from sheetgen.quantities import Key, weight_number
from sheetgen.reading import Grid, cell
from sheetgen.spec import NetworkSpec, spec_from_dict

# A header must name at least this many weights: a row of two labels is not a table.
MIN_WEIGHTS = 4
_COMPUTED = {"E_total", "grad_w#", "E", "delta", "net", "act", "grad_act"}
_CONSTANT_KINDS = ("eta", "input", "target")


@dataclass(frozen=True)
class Constant:
    """η, an input or a target read from one labelled cell."""

    value: float
    cell: str    # "Sheet1!B3"
    label: str


@dataclass
class Table:
    """One training table: where it is, what its columns are, and the constants it uses."""

    sheet: str
    header_row: int                      # 0-based sheet row of the labels
    rows: list[int]                      # 0-based sheet rows of the iterations, in order
    columns: dict[Key, int]              # quantity key -> 0-based sheet column
    labels: dict[Key, str]               # quantity key -> the header's text
    constants: dict[Key, Constant]       # η, inputs, targets not given as columns
    spec: NetworkSpec                    # the table's shape (weights are placeholders)
    missing: list[str] = field(default_factory=list)  # what could not be found

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


def find_tables(values: dict[str, Grid]) -> tuple[list[Table], list[Skipped]]:
    """Every training table of a workbook, read from its values (labels are constants).

    Returns:
        The tables in sheet order, top to bottom, and the header rows that were skipped, with
        why (for the message when nothing is found).
    """
    labels = {name: _labels(grid) for name, grid in values.items()}
    found: list[tuple[str, int, dict[Key, int], dict[Key, str]]] = []
    for name, grid in values.items():
        by_row: dict[int, list[tuple[int, Key, str]]] = {}
        for (r, c), (key, text) in labels[name].items():
            by_row.setdefault(r, []).append((c, key, text))
        for r in sorted(by_row):
            for segment in _segments(sorted(by_row[r])):
                kinds = {key[0] for _, key, _ in segment}
                weights = sum(1 for _, key, _ in segment if key[0] == "w#")
                if weights >= MIN_WEIGHTS and kinds & _COMPUTED:
                    found.append((name, r, {key: c for c, key, _ in segment},
                                  {key: text for _, key, text in segment}))
    for name, r, cols, _ in found:
        # η or an input labelled in the header row but with nothing below it is a labelled
        # value beside the table, not a column of it
        for key in [k for k in cols if k[0] in _CONSTANT_KINDS]:
            if cell(values[name], r + 1, cols[key]) is None:
                del cols[key]
    occupied = {(name, r, c) for name, r, cols, _ in found for c in cols.values()}
    tables, skipped = [], []
    for name, r, cols, texts in found:
        rows = _body(values[name], r, cols)
        if not rows:
            skipped.append(Skipped(name, r, "no rows of numbers below the header"))
            continue
        try:
            table = _table(name, r, rows, cols, texts, labels, values, occupied)
        except ValueError as exc:
            skipped.append(Skipped(name, r, str(exc)))
            continue
        tables.append(table)
    return tables, skipped


def _labels(grid: Grid) -> dict[tuple[int, int], tuple[Key, str]]:
    found = {}
    for r, row in enumerate(grid):
        for c, value in enumerate(row):
            key = parse_label(value)
            if key is None and inline_learning_rate(value) is not None:
                key = ("eta",)
            if key is not None:
                found[(r, c)] = (key, value.strip())
    return found


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


def _body(grid: Grid, header: int, cols: dict[Key, int]) -> list[int]:
    """Rows below the header, for as long as the first weight's column holds a value."""
    first_weight = min((k for k in cols if k[0] == "w#"), key=lambda k: k[1])
    col = cols[first_weight]
    rows = []
    r = header + 1
    while r < len(grid):
        value = cell(grid, r, col)
        if value is None or (isinstance(value, str) and not value.startswith("#")
                             and parse_label(value) is not None):
            break
        rows.append(r)
        r += 1
    if not any(not math.isnan(as_number(cell(grid, r, col))) for r in rows):
        return []
    return rows


def _table(name, header, rows, cols, texts, labels, values, occupied) -> Table:
    sheet_keys = {key for key, _ in labels[name].values()}
    spec = _shape(cols, sheet_keys)
    numbers = {weight_number(spec, l, j, k): (l, j, k)
               for l, layer in enumerate(spec.layers)
               for j in range(layer.units) for k in range(len(layer.weights[0]))}
    columns, names = {}, {}
    for key, col in cols.items():
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
    table = Table(name, header, rows, columns, names, {}, spec)
    needed = ([("eta",)] + [("input", 0, k) for k in range(spec.n_inputs)]
              + [("target", 0, j) for j in range(spec.layers[-1].units)])
    first_col = min(cols.values())
    for key in needed:
        if key in columns:
            continue
        constant = _nearest_constant(key, name, header, first_col, labels, values, occupied)
        if constant is None:
            table.missing.append("η" if key[0] == "eta" else f"{key[0][0]}{key[2] + 1}")
        else:
            table.constants[key] = constant
    return table


def _shape(cols: dict[Key, int], sheet_keys: set[Key]) -> NetworkSpec:
    """The network a header describes: inputs, hidden units and outputs from its labels."""
    keys = set(cols) | {k for k in sheet_keys if k[0] in _CONSTANT_KINDS}

    def largest(select) -> int:
        return max((select(k) + 1 for k in keys if select(k) is not None), default=0)

    n_in = largest(lambda k: k[2] if k[0] == "input" else None)
    hidden = largest(lambda k: k[3] if k[0] in ("net", "act", "delta", "grad_act")
                     and k[1] == 0 else None)
    outputs = largest(lambda k: (k[3] if k[0] in ("net", "act", "delta", "grad_act")
                                 and k[1] == 1 else k[2] if k[0] in ("E", "target")
                                 else None))
    n_weights = largest(lambda k: k[1] - 1 if k[0] == "w#" else None)
    n_in, outputs = n_in or 2, outputs or 2
    if not hidden and n_weights % (n_in + outputs) == 0:
        hidden = n_weights // (n_in + outputs)
    if n_in * hidden + hidden * outputs != n_weights:
        raise ValueError(f"w1…w{n_weights} do not fit a network of {n_in} inputs, "
                         f"{hidden} hidden units and {outputs} outputs")
    return spec_from_dict({
        "data": {"inputs": [[0.0] * n_in], "targets": [[0.0] * outputs]},
        "layers": [{"name": "h", "units": hidden, "weights": [[0.0] * n_in] * hidden},
                   {"name": "o", "units": outputs, "weights": [[0.0] * hidden] * outputs}],
        "training": {"learning_rates": [1.0], "iterations": 1},
    })


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


def _nearest_constant(key, sheet, header, first_col, labels, values, occupied):
    """The labelled cell for a constant: nearest above the table, then the sheet, then others."""
    best = None
    for name, found in labels.items():
        for (r, c), (label_key, text) in found.items():
            if label_key != key or (name, r, c) in occupied:
                continue
            value = _labelled_value(values[name], r, c, text)
            if value is None:
                continue
            distance = abs(header - r) + abs(c - first_col)
            if r > header:
                distance += 1_000_000   # below the table: another table's, most likely
            if name != sheet:
                distance += 1_000_000_000
            if best is None or distance < best[0]:
                best = (distance, Constant(value[0], f"{name}!{value[1]}", text))
    return None if best is None else best[1]


def _labelled_value(grid: Grid, r: int, c: int, text: str):
    inline = inline_learning_rate(text)
    if inline is not None:
        return inline, xl_rowcol_to_cell(r, c)
    for rr, cc in ((r, c + 1), (r + 1, c)):
        value = as_number(cell(grid, rr, cc))
        if not math.isnan(value):
            return value, xl_rowcol_to_cell(rr, cc)
    return None
