"""Where a hand-made table goes wrong, and how.

Each row is recomputed twice (recompute.py). *Reference*: the engine from the row's own weights and
inputs (and, for the weights, the row above's weights minus η times the engine's gradients of the
row above). *Local*: each column from the table's own values of what it is made of (a_h1 from
the sheet's h1, ∂E/∂w5 from the sheet's δ_o1 and a_h1, w5 from the sheet's w5 and ∂E/∂w5 of the
row above); a column the sheet does not show is computed inline, as a formula that skips it
must. A cell that disagrees with the reference but agrees with the local value only carries a
mistake made upstream ("follows from"); one that disagrees with both is a mistake itself, and
a small catalogue of known mistakes is tried to say which.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
from xlsxwriter.utility import xl_cell_to_rowcol, xl_col_to_name, xl_rowcol_to_cell

from sheetgen.analyse.check.recompute import local_value, reference_rows, shift
from sheetgen.analyse.check.refs import references
from sheetgen.analyse.check.tables import CONSTANT_KINDS as _CONSTANT_KINDS
from sheetgen.analyse.check.tables import Table, update_formula
from sheetgen.analyse.compare import as_number, relative_errors
from sheetgen.analyse.reading import Grid, cell
from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.quantities import Key
from sheetgen.workbook.quantities import columns as canonical_columns
from sheetgen.workbook.quantities import label as canonical_label

# Hand-made formulas may associate differently from autograd (a·(1−a)·(a−t) or (a−t)·a·(1−a));
# that moves the last bits only. Every mistake in the catalogue is many orders larger.
CHECK_TOLERANCE = 1e-9
_STAGES = {
    "eta": -1,
    "input": -1,
    "target": -1,
    "init_b": -1,
    "net": 0,
    "act": 0,
    "E": 1,
    "E_total": 1,
    "grad_act": 2,
    "delta": 2,
    "grad_w": 3,
    "w": 4,
}


@dataclass
class ColumnFinding:
    """One column of a table: its verdict and, when wrong, the first wrong cell explained."""

    key: Key
    label: str
    column: str  # the sheet's column letter
    status: str  # "right", "wrong", "follows", "not checked"
    cells: int  # cells compared
    largest_error: float  # largest relative error against the reference
    wrong_cells: int = 0  # cells where the mistake is (status "wrong")
    first_cell: str | None = None  # first wrong cell ("wrong") or first affected ("follows")
    formula: str | None = None
    value: object = None
    expected: float | None = None
    mistake: str | None = None  # what the catalogue recognised, or None
    follows_from: str | None = None  # the column whose mistake this one carries
    reason: str | None = None  # why a column was not checked
    unchecked: list[str] = field(default_factory=list)  # cells that could not be recomputed
    order: tuple = field(default=(), repr=False)  # where the mistake sits in dependency order


@dataclass
class TableFinding:
    """One table's findings."""

    sheet: str
    header_row: int  # 1-based, as the sheet shows it
    first_row: int
    last_row: int
    shape: str  # "2-2-2"
    constants: dict[str, str]  # label -> "0.5 (Sheet1!B2)", for constants not in columns
    columns: list[ColumnFinding]
    notes: list[str] = field(default_factory=list)  # what a reader should know
    typed: bool = False  # typed numbers, no formulas: judged at their rounding
    precision: float | None = None  # typed numbers' typical relative rounding
    digits: int | None = None  # typed numbers' typical significant digits

    @property
    def mistakes(self) -> list[ColumnFinding]:
        return sorted((c for c in self.columns if c.status == "wrong"), key=lambda c: c.order)

    @property
    def cause(self) -> ColumnFinding | None:
        mistakes = self.mistakes
        return mistakes[0] if mistakes else None

    @property
    def unchecked(self) -> list[ColumnFinding]:
        return [c for c in self.columns if c.status == "not checked"]

    @property
    def ok(self) -> bool:
        """Right throughout: no mistake, and every column could be checked."""
        return not self.mistakes and not self.unchecked


class _Evaluator:
    """Local values of a table's columns, optionally with one reference changed."""

    def __init__(self, table: Table, source: dict[Key, np.ndarray]):
        self.table = table
        self.source = source
        self.rows = len(table.rows)
        self.negated: set[Key] = set()  # columns read negated (see _negated_gradients)

    def value(self, key: Key, substitute=None, record: list | None = None) -> np.ndarray:
        def get(k, offset=0):
            if substitute is not None:
                k, offset = substitute(k, offset)
            if record is not None:
                record.append((k, offset))
            if k in self.source:
                base = self.source[k]
            else:
                base = local_value(self.table.spec, k, get, self.rows)
            return shift(np.broadcast_to(base, (self.rows,)).astype(np.float64), offset)

        with np.errstate(all="ignore"):
            return np.broadcast_to(local_value(self.table.spec, key, get, self.rows), (self.rows,)).astype(
                np.float64
            )


def _half_units(raw: list) -> np.ndarray:
    """Half a unit in the last digit each typed number shows (0.506875 gives 5e-7): how far the
    typed value may be from what it stands for."""
    out = np.zeros(len(raw))
    for i, value in enumerate(raw):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
            out[i] = 0.5 * 10.0**exponent if isinstance(exponent, int) else 0.0
    return out


def typed_rounding(table: Table, values: Grid) -> tuple[float, int]:
    """How a typed table's computed numbers are rounded: the median of half a unit in the last
    digit over the value (1e-6 for six digits), and the median count of significant digits."""
    ratios, digits = [], []
    for key, col in table.columns.items():
        if key[0] in _CONSTANT_KINDS:
            continue
        for r in table.rows[1:]:
            value = as_number(cell(values, r, col))
            if math.isfinite(value) and value != 0:
                decimal = Decimal(repr(value)).normalize().as_tuple()
                ratios.append(0.5 * 10.0**decimal.exponent / abs(value))
                digits.append(len(decimal.digits))
    if not ratios:
        return 0.0, 0
    return float(np.median(ratios)), int(np.median(digits))


def _rounding_bound(
    evaluate: Callable, source: dict[Key, np.ndarray], halves: dict[Key, np.ndarray], keys
) -> dict[Key, np.ndarray]:
    """How far values computed from typed numbers can move when each of them moves within its
    rounding: for each value, the sum over the numbers read of |change| when that one moves by
    its half unit (a first-order bound, one evaluation per number read). `evaluate` maps a
    source to {key: values}."""
    base = evaluate(source)
    bound = {k: np.zeros_like(v) for k, v in base.items()}
    for key in keys:
        if key not in halves or not halves[key].any():
            continue
        moved = dict(source)
        moved[key] = source[key] + halves[key]
        with np.errstate(all="ignore"):
            change = evaluate(moved)
            for k in base:
                bound[k] = bound[k] + np.abs(change[k] - base[k])
    return bound


def diagnose(table: Table, values: Grid, formulas: Grid, tolerance: float = CHECK_TOLERANCE) -> TableFinding:
    """Check every column of a table that find_tables recognised (with all its constants).

    A cell is wrong when it disagrees with what its own inputs (the sheet's values of what it
    is made of) give; a cell that agrees with its inputs but not with the engine's recomputation
    of the row carries a mistake made upstream and "follows". In a table of typed numbers both
    comparisons allow for the rounding of the numbers typed.
    """
    n = len(table.rows)
    raw = {key: [cell(values, r, col) for r in table.rows] for key, col in table.columns.items()}
    source = {key: np.array([as_number(v) for v in cells]) for key, cells in raw.items()}
    for key, constant in table.constants.items():
        source[key] = np.full(n, constant.value)
    halves: dict[Key, np.ndarray] = {}
    if table.typed:
        for key in table.columns:
            if key[0] not in _CONSTANT_KINDS:
                halves[key] = _half_units(raw[key])
                if key[0] == "w":
                    halves[key][0] = 0.0  # the initial weights are given exactly
    evaluator = _Evaluator(table, source)
    has_eta = ("eta",) in source

    def reference_of(src: dict[Key, np.ndarray]) -> dict[Key, np.ndarray]:
        ref = reference_rows(table.spec, lambda k: src[k], n)
        for key in table.columns:
            if key[0] == "w" and has_eta:
                with np.errstate(all="ignore"):
                    ref[key] = shift(src[key], -1) - src[("eta",)] * shift(ref[("grad_w", *key[1:])], -1)
            elif key[0] in _CONSTANT_KINDS:
                ref[key] = np.full(n, src[key][0])
        return ref

    reference = reference_of(source)
    negated = _negated_gradients(table, source, reference)
    for key in negated:
        source[key] = -source[key]
    evaluator.negated = negated
    notes = list(table.notes)
    if negated:
        notes.append(
            "the gradient columns hold −∂E/∂w (δ from (t − a) where (a − t) is usual) and the "
            "weight updates add η times them, which is the same step: they are checked as such"
        )
    sign = {key: -1.0 if key in negated else 1.0 for key in table.columns}
    precision, digits = typed_rounding(table, values) if table.typed else (None, None)
    if table.typed:
        reference_bound = _rounding_bound(reference_of, source, halves, list(halves))
    rank = _ranks(table)
    findings: dict[Key, ColumnFinding] = {}
    deps: dict[Key, set[Key]] = {}
    affected: dict[Key, int] = {}
    for key, col in sorted(table.columns.items(), key=lambda item: item[1]):
        finding = ColumnFinding(key, table.labels[key], xl_col_to_name(col), "right", 0, 0.0)
        findings[key] = finding
        if key[0] == "w" and not has_eta:
            finding.status, finding.reason = "not checked", "no η found"
            continue
        checked = np.ones(n, dtype=bool)
        if key[0] == "w":
            checked[0] = False  # the initial weights are given, not computed
        record: list = []
        local = evaluator.value(key, record=record)
        deps[key] = {k for k, _ in record if k in table.columns and k != key}
        got = source[key]
        global_errors = relative_errors(got, reference[key])
        local_errors = relative_errors(got, local)
        right = global_errors <= tolerance
        wrong_here = local_errors > tolerance
        if table.typed:
            own = halves.get(key, np.zeros(n))
            local_bound = _rounding_bound(
                lambda src: {key: _Evaluator(table, src).value(key)},  # noqa: B023 - called at once
                source,
                halves,
                {k for k, _ in record},
            )[key]
            with np.errstate(invalid="ignore"):
                right |= np.abs(got - reference[key]) <= 2 * (own + reference_bound[key]) + 1e-15
                wrong_here &= np.abs(got - local) > 2 * (own + local_bound) + 1e-15
        unreadable = checked & (np.isnan(got) | np.isnan(local))
        mistake = checked & wrong_here & ~np.isnan(local) & ~np.isnan(got)
        follows = checked & ~right & ~mistake & ~unreadable
        finding.cells = int((checked & ~unreadable).sum())
        finite = global_errors[checked & ~unreadable]
        finding.largest_error = float(finite.max()) if finite.size else 0.0
        if mistake.any():
            rows = np.flatnonzero(mistake)
            first = int(rows[0])
            finding.status = "wrong"
            finding.wrong_cells = len(rows)
            _describe_cell(finding, table, first, raw[key][first], formulas, sign[key] * float(local[first]))
            # a typed number matches a known mistake at its own rounding
            explain_tolerance = max(tolerance, 10 * precision) if table.typed else tolerance
            finding.mistake = (
                _eta_reference_mistake(table, key, first, formulas)
                or _copied_formula(table, key, first, formulas)
                or _typed_in_formulas(table, finding)
                or _explain(table, evaluator, key, record, rows, got, finding.formula, explain_tolerance)
            )
            origin = first - 1 if key[0] == "w" else first
            finding.order = (origin, _STAGES[key[0]], rank[key])
        elif follows.any():
            first = int(np.flatnonzero(follows)[0])
            finding.status = "follows"
            affected[key] = first
            _describe_cell(
                finding, table, first, raw[key][first], formulas, sign[key] * float(reference[key][first])
            )
        elif unreadable.any():
            cells = [table.cell(table.rows[i], key) for i in np.flatnonzero(unreadable)]
            finding.status = "not checked"
            finding.unchecked = cells
            bad_here = [c for c, i in zip(cells, np.flatnonzero(unreadable)) if np.isnan(got[i])]
            finding.reason = (
                f"{_count_cells(cells)} could not be recomputed ("
                + (
                    f"{bad_here[0]} holds {_shown(raw[key][int(np.flatnonzero(unreadable)[0])])}"
                    if bad_here
                    else "what they are made of is not a number"
                )
                + ")"
            )
    circular = None
    troubled = [
        f.first_cell or f.unchecked[0] for f in findings.values() if f.status in ("wrong", "not checked")
    ]
    if troubled:  # a circle explains what goes wrong only at or above the first trouble
        circular = _circular(
            table, formulas, min(table.rows.index(xl_cell_to_rowcol(c)[0]) for c in troubled)
        )
    if circular is not None:
        shown = {key: sign[key] * reference[key] for key in table.columns}
        _blame_circular(table, findings, affected, circular, raw, shown, formulas, rank)
    mistakes = sorted((f for f in findings.values() if f.status == "wrong"), key=lambda f: f.order)
    for key, _first in affected.items():
        distance = _distances(key, deps)
        causes = [f for f in mistakes if f.key in distance]
        # the nearest mistake upstream (w4 follows from ∂E/∂w4, not from ∂E/∂w3 that reaches
        # it only a row later), the earliest among equals
        cause = min(causes, key=lambda f: (distance[f.key], f.order), default=None)
        findings[key].follows_from = cause.label if cause else None
        if circular is not None and key in circular.followers:
            findings[key].follows_from = findings[circular.key].label
    constants = {c.label: f"{c.value:.15g} ({c.cell})" for c in table.constants.values()}
    return TableFinding(
        table.sheet,
        table.header_row + 1,
        table.rows[0] + 1,
        table.rows[-1] + 1,
        table.shape,
        constants,
        list(findings.values()),
        notes=notes,
        typed=table.typed,
        precision=precision,
        digits=digits,
    )


@dataclass
class _Circle:
    """A circular reference in a table: its first row and the column blamed for it."""

    index: int  # the table row (0-based among the table's rows) where it first appears
    key: Key
    path: list[tuple[int, int]]  # the cells from the blamed one round to it again
    rows: list[int]  # every table row where the blamed cell is on a circle
    followers: set[Key] = field(default_factory=set)


def _cycle_from(start: tuple[int, int], formulas: Grid, limit: int = 5000) -> list[tuple[int, int]] | None:
    """The cells from `start` back to it through the same sheet's formulas on its own row,
    or None. A table's rows read only the rows above, so a circle stays on one row; reading
    no further keeps this to a row's few dozen cells."""
    parents: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    stack = [start]
    while stack and len(parents) < limit:
        here = stack.pop()
        for ref in references(cell(formulas, *here)):
            if ref.sheet is not None or ref.row != start[0]:
                continue
            there = (ref.row, ref.col)
            if there == start:
                path = [here]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return path[::-1]
            if there not in parents:
                parents[there] = here
                stack.append(there)
    return None


def _circular(table: Table, formulas: Grid, until: int) -> _Circle | None:
    """The first circular reference among a table's cells (a weight update that reads this
    row's gradient, which is computed from that weight), blaming a weight on the circle if
    there is one (weights are the columns meant to read another row), else its first column.
    A spreadsheet cannot compute such cells: LibreOffice shows Err:522, Excel warns and shows
    0 or the last value it calculated. Rows are searched down to the table row `until`."""
    order = sorted(table.columns.items(), key=lambda item: (item[0][0] != "w", item[1]))
    for index, row in enumerate(table.rows[: until + 1]):
        for key, col in order:
            if key[0] in _CONSTANT_KINDS:
                continue
            path = _cycle_from((row, col), formulas)
            if path is None:
                continue
            rows = [r for r in table.rows[index:] if _cycle_from((r, col), formulas, 500) is not None]
            return _Circle(index, key, path, rows)
    return None


def _blame_circular(table, findings, affected, circle, raw, reference, formulas, rank) -> None:
    """The blamed column is wrong from the circle's first cell; what goes wrong or cannot be
    checked from that row on carries the circle's mistake."""
    key, index = circle.key, circle.index
    finding = findings[key]
    finding.status, finding.reason, finding.unchecked = "wrong", None, []
    finding.wrong_cells = len(circle.rows)
    _describe_cell(finding, table, index, raw[key][index], formulas, float(reference[key][index]))
    row, col = table.rows[index], table.columns[key]
    route = " → ".join(xl_rowcol_to_cell(r, c) for r, c in circle.path + circle.path[:1])
    finding.mistake = f"is a circular reference ({route}): a spreadsheet cannot compute it"
    grad = table.columns.get(("grad_w", *key[1:]))
    if (
        key[0] == "w"
        and grad is not None
        and any(
            ref.sheet is None and (ref.row, ref.col) == (row, grad)
            for ref in references(cell(formulas, row, col))
        )
    ):
        finding.mistake += (
            f"; the update reads {table.labels[('grad_w', *key[1:])]} of its own row "
            f"({xl_rowcol_to_cell(row, grad)}) where the row above's "
            f"({xl_rowcol_to_cell(table.rows[index - 1], grad) if index else 'none'}) belongs"
        )
    finding.order = (index - 1 if key[0] == "w" else index, _STAGES[key[0]], rank[key])
    for other, found in findings.items():
        if other == key or found.status not in ("wrong", "not checked"):
            continue
        first = found.first_cell if found.status == "wrong" else found.unchecked[0]
        at = table.rows.index(xl_cell_to_rowcol(first)[0])
        if at < index:
            continue
        found.status, found.reason, found.unchecked, found.mistake = "follows", None, [], None
        found.wrong_cells, found.order = 0, ()
        _describe_cell(found, table, at, raw[other][at], formulas, float(reference[other][at]))
        affected[other] = at
        circle.followers.add(other)


def _negated_gradients(table: Table, source: dict, reference: dict) -> set[Key]:
    """The columns of a table that computes −∂E/∂w throughout (δ = (t − a)·a·(1 − a)) and
    adds η times it to the weights: the same training step under another sign convention.

    It is that convention when most gradient columns' first values are nearer −∂E/∂w than
    ∂E/∂w and most weights of the second row whose step shows are nearer w + η·g than w − η·g
    with the sheet's own g (the sheet's sign and its update cancel; no tolerance, so that typed
    numbers of any rounding are read alike). Then each gradient, δ and ∂E/∂a column whose first value is
    nearer the negative of its reference is read negated, so its own mistakes are still found.
    """
    grads = [k for k in table.columns if k[0] == "grad_w"]
    weights = [k for k in table.columns if k[0] == "w"]
    if len(table.rows) < 2 or not grads or not weights or ("eta",) not in source:
        return set()

    def nearer_negative(k) -> bool:
        got, ref = source[k][0], reference[k][0]
        return bool(np.isfinite(got) and np.isfinite(ref) and abs(got + ref) < abs(got - ref))

    def update_sign(k) -> int:  # +1: the second row's weight is nearer w + η·g than w − η·g
        g = ("grad_w", *k[1:])
        if g not in source:
            return 0
        w0, w1, step = source[k][0], source[k][1], source[("eta",)][0] * source[g][0]
        if not (np.isfinite(w1) and np.isfinite(step)):
            return 0
        return int(np.sign(abs(w1 - (w0 - step)) - abs(w1 - (w0 + step))))

    flipped = sum(nearer_negative(k) for k in grads)
    # a step below a typed number's rounding decides nothing
    signs = [sign for sign in map(update_sign, weights) if sign]
    if flipped * 2 <= len(grads) or not signs or signs.count(1) * 2 <= len(signs):
        return set()
    return {k for k in table.columns if k[0] in ("grad_w", "delta", "grad_act") and nearer_negative(k)}


def _count_cells(cells: list[str]) -> str:
    shown = ", ".join(cells[:3]) + (f" and {len(cells) - 3} more" if len(cells) > 3 else "")
    return f"{len(cells)} cell{'s' if len(cells) > 1 else ''} ({shown})"


def _shown(value) -> str:
    return "nothing" if value is None else repr(value) if isinstance(value, str) else str(value)


def _eta_reference_mistake(table: Table, key: Key, index: int, formulas: Grid) -> str | None:
    """A weight update that reads η from another cell than the table's η: most often a
    relative reference (G31) where an absolute one ($G$31) belongs, drifting down the rows."""
    if key[0] != "w" or table.eta_reference is None:
        return None
    eta = table.eta_reference
    row = table.rows[index]
    above = table.rows[index - 1] if index else None
    grad_col = table.columns.get(("grad_w", *key[1:]))
    refs = references(update_formula(formulas, row, table.columns[key]))
    others = [
        r
        for r in refs
        if not (r.sheet in (None, table.sheet) and r.row == above and r.col in (table.columns[key], grad_col))
    ]
    if len(others) != 1:
        return None
    ref = others[0]
    if (ref.sheet, ref.row, ref.col) == (eta.sheet, eta.row, eta.col):
        return None
    name = table.constants[("eta",)].label if ("eta",) in table.constants else "η"
    drift = ""
    if not ref.absolute_row:
        drift = (
            f": a relative reference ({ref.text}) that moves down the rows, where the "
            f"absolute {eta.text} belongs"
        )
    return (
        f"multiplies the gradient by {xl_rowcol_to_cell(ref.row, ref.col)} where η "
        f"({name}, {eta.text}) belongs{drift}"
    )


def _typed_in_formulas(table: Table, finding: ColumnFinding) -> str | None:
    """A number typed where the rest of a table of formulas has a formula: often a value
    worked out by hand and rounded."""
    value = finding.value
    if (
        table.typed
        or finding.formula is not None
        or not isinstance(value, (int, float))
        or isinstance(value, bool)
    ):
        return None
    text = f"is a number typed into a table of formulas, {value!r}, where a formula belongs"
    expected = finding.expected
    decimals = -Decimal(repr(float(value))).normalize().as_tuple().exponent
    if expected is not None and 0 < decimals < 16 and round(expected, decimals) == value:
        text += f": it is {expected:.10g} rounded to {decimals} decimal{'s' if decimals > 1 else ''}"
    return text


def _copied_formula(table: Table, key: Key, index: int, formulas: Grid) -> str | None:
    """A cell holding, character for character, the formula another column has on the same
    row: a formula copied (or typed again) into the wrong column, e.g. w3 = F34 − η·Y34
    where w2's cell holds the same."""
    row = table.rows[index]
    own = cell(formulas, row, table.columns[key])
    if not isinstance(own, str) or not own.startswith("="):
        return None
    text = own.replace(" ", "").upper()
    for other, col in sorted(table.columns.items(), key=lambda item: item[1]):
        theirs = cell(formulas, row, col)
        if other != key and isinstance(theirs, str) and theirs.replace(" ", "").upper() == text:
            return (
                f"holds the same formula as {table.labels[other]} ({xl_rowcol_to_cell(row, col)}): "
                f"{table.labels[other]}'s formula where {table.labels[key]}'s belongs"
            )
    return None


def _describe_cell(finding, table, index, raw, formulas, expected):
    row = table.rows[index]
    finding.first_cell = table.cell(row, finding.key)
    text = cell(formulas, row, table.columns[finding.key])
    finding.formula = text if isinstance(text, str) and text.startswith("=") else None
    finding.value = raw
    finding.expected = expected if math.isfinite(expected) else None


def _ranks(table: Table) -> dict[Key, float]:
    """Dependency order within a stage: the order sheetgen's own table has its columns in."""
    order = {q.key: i for i, q in enumerate(canonical_columns(table.spec))}
    ranks = {}
    last = len(table.spec.layers) - 1
    for key in table.columns:
        if key in order:
            ranks[key] = float(order[key])
        elif key[0] == "grad_act":  # ∂E/∂a of an output comes just before its δ
            ranks[key] = order[("delta", last, 0, 0)] - 0.5
        else:
            ranks[key] = -1.0
    return ranks


def _distances(key: Key, deps: dict[Key, set[Key]]) -> dict[Key, int]:
    """Every column `key` is computed from, directly or not, with how many steps away."""
    distance: dict[Key, int] = {}
    frontier, step = sorted(deps.get(key, ()), key=str), 1
    while frontier:
        following = []
        for k in frontier:
            if k not in distance:
                distance[k] = step
                following.extend(deps.get(k, ()))
        frontier, step = sorted(set(following), key=str), step + 1
    return distance


# ---------------------------------------------------------------------------------------------
# The catalogue of known mistakes


def _name(table: Table, key: Key) -> str:
    if key in table.labels:
        return table.labels[key]
    if key in table.constants:
        return table.constants[key].label
    if key[0] in ("slope", "net_slope"):
        a = _name(table, ("act" if key[0] == "slope" else "net", *key[1:]))
        return f"{a}·(1−{a})"
    return canonical_label(table.spec, key)


def _siblings(table: Table, key: Key) -> list[Key]:
    spec = table.spec
    kind = key[0]
    if kind in ("net", "act", "delta", "grad_act", "slope"):
        l = key[1]
        return [(kind, l, 0, j) for j in range(spec.layers[l].units) if j != key[3]]
    if kind == "input":
        return [(kind, 0, k) for k in range(spec.n_inputs) if k != key[2]]
    if kind in ("target", "E"):
        return [(kind, 0, j) for j in range(spec.layers[-1].units) if j != key[2]]
    if kind in ("w", "grad_w"):
        l = key[1]
        return [
            (kind, l, j, k)
            for j in range(spec.layers[l].units)
            for k in range(len(spec.layers[l].weights[0]))
            if (j, k) != key[2:]
        ]
    return []


_ABSOLUTE_ROW = re.compile(r"(?<![A-Za-z_!])(\$?[A-Z]{1,3}\$\d+)")


def _candidates(table: Table, evaluator: _Evaluator, key: Key, record: list, formula):
    """(description, values) for each known mistake, most specific first."""
    name = lambda k: _name(table, k)  # noqa: E731
    local = evaluator.value(key)
    kind = key[0]
    out = []
    if kind == "w":
        get = lambda k, off=0: shift(evaluator.source[k], off)  # noqa: E731
        w, g, eta = key, ("grad_w", *key[1:]), ("eta",)
        if g in evaluator.source and g in evaluator.negated:  # the sheet's g is −∂E/∂w
            out.append(
                (
                    f"subtracts η·{name(g)} where the table's other updates add it ({name(g)} "
                    f"holds −∂E/∂w here): {name(w)} − η·{name(g)} where {name(w)} + η·{name(g)} "
                    "belongs",
                    get(w, -1) + get(eta) * get(g, -1),
                )
            )
        elif g in evaluator.source:
            out.append(
                (
                    f"adds η·{name(g)} instead of subtracting it: {name(w)} + η·{name(g)} "
                    f"where {name(w)} − η·{name(g)} belongs",
                    get(w, -1) + get(eta) * get(g, -1),
                )
            )
            eta_cell = table.eta_reference
            reads_eta = eta_cell is not None and any(
                (r.sheet or table.sheet, r.row, r.col)
                == (eta_cell.sheet or table.sheet, eta_cell.row, eta_cell.col)
                for r in references(formula)
            )
            if not reads_eta:  # η = 0.5 makes 2·η·g and g alike: the formula tells which
                out.append(
                    (
                        f"leaves out η: {name(w)} − {name(g)} where {name(w)} − η·{name(g)} belongs",
                        get(w, -1) - get(g, -1),
                    )
                )
            out.append(
                (
                    f"takes twice the step: {name(w)} − 2·η·{name(g)} where {name(w)} − η·{name(g)} belongs",
                    get(w, -1) - 2 * get(eta) * get(g, -1),
                )
            )
        out.append(("is not updated: it repeats the row above", get(w, -1)))
    if kind == "act":
        used = table.spec.layers[key[1]].activation
        net = evaluator.value(("net", *key[1:]))
        for other in ("tanh", "relu", "identity"):
            if other != used:
                with np.errstate(all="ignore"):
                    out.append((f"applies {other} where {used} belongs", ACTIVATIONS[other].forward(net)))
    for digits in _round_digits(formula):
        out.append(
            (f"rounds to {digits} decimals (ROUND) where the exact value belongs", np.round(local, digits))
        )
    for base in _e_literals(formula):
        if kind == "act" and table.spec.layers[key[1]].activation == "sigmoid":
            with np.errstate(all="ignore"):  # σ written with base b is σ(x·ln b)
                net = np.log(local / (1 - local))
                out.append((_e_mistake(base), 1 / (1 + np.exp(-net * math.log(base)))))
    if kind == "E":
        t, a = name(("target", 0, key[2])), name(("act", len(table.spec.layers) - 1, 0, key[2]))
        out.append((f"misses the ½: ({t} − {a})² where ½·({t} − {a})² belongs", 2 * local))
    elif kind == "E_total":
        out.append(("misses the ½ of ½·(t − a)²: it is twice what it should be", 2 * local))
    else:
        out.append(("is twice what it should be", 2 * local))
    out.append(("has its sign flipped", -local))
    out.append(("is half what it should be", local / 2))

    absolute = {}
    for ref in _ABSOLUTE_ROW.findall(formula or ""):
        row, col = xl_cell_to_rowcol(ref.replace("$", ""))
        if row in table.rows:
            for k, c in table.columns.items():
                if c == col:
                    absolute[k] = (table.rows.index(row), ref)
    seen = set()
    shiftable = []
    for k, off in record:
        if (k, off) in seen or k == key and off == 0:
            continue
        seen.add((k, off))

        def replace(new_key, new_offset, k=k, off=off):
            return lambda k2, o2: (new_key, new_offset) if (k2, o2) == (k, off) else (k2, o2)

        for sibling in _siblings(table, k):
            if k[0] == "slope":
                text = (
                    f"uses {name(('act', *sibling[1:]))}'s slope {name(sibling)} where "
                    f"{name(('act', *k[1:]))}'s belongs"
                )
            else:
                text = f"uses {name(sibling)} where {name(k)} belongs"
            out.append((text, evaluator.value(key, replace(sibling, off))))
        if k[0] == "grad_act" and k[1] == len(table.spec.layers) - 1 and k not in table.columns:
            a, t = name(("act", *k[1:])), name(("target", 0, k[3]))
            out.append(
                (
                    f"multiplies {a} by {t}: ({a}·{t}) where ({a} − {t}) belongs",
                    evaluator.value(key, replace(("error_product", *k[1:]), off)),
                )
            )
        if k[0] == "slope":
            net_slope = ("net_slope", *k[1:])
            out.append(
                (
                    f"takes the slope from the net input, {name(net_slope)}, where {name(k)} belongs",
                    evaluator.value(key, replace(net_slope, off)),
                )
            )
        if k not in table.columns or k[0] in _CONSTANT_KINDS or not isinstance(off, int):
            continue
        shiftable.append((k, off))
        if k in absolute:
            index, ref = absolute[k]
            out.append(
                (
                    f"uses {name(k)} of row {table.rows[index] + 1} in every row: an "
                    f"absolute reference ({ref}) where a relative one belongs",
                    evaluator.value(key, replace(k, ("row", index))),
                )
            )
        for new in (off - 1, off + 1):
            where = {
                -2: "from two rows above",
                -1: "of the row above",
                0: "of this row",
                1: "of the row below",
            }.get(new, f"{new:+d} rows away")
            was = {-1: "the row above's", 0: "this row's"}.get(off, "another row's")
            out.append((f"uses {name(k)} {where} where {was} belongs", evaluator.value(key, replace(k, new))))
        out.append(
            (
                f"uses {name(k)} of row {table.rows[0] + 1} in every row: an absolute "
                "reference where a relative one belongs",
                evaluator.value(key, replace(k, ("row", 0))),
            )
        )
    for k, off in sorted(seen, key=str):
        if k[0] in ("slope", "act", "input", "delta") and k != key:
            what = f"{name(('act', *k[1:]))}'s slope {name(k)}" if k[0] == "slope" else name(k)
            out.append(
                (
                    f"leaves out the factor {what}",
                    evaluator.value(
                        key,
                        lambda k2, o2, k=k, off=off: (("one",), off) if (k2, o2) == (k, off) else (k2, o2),
                    ),
                )
            )
        for sibling in _siblings(table, k):
            if (sibling, off) in seen and str(k) < str(sibling):
                swap = {(k, off): (sibling, off), (sibling, off): (k, off)}
                out.append(
                    (
                        f"swaps {name(k)} and {name(sibling)}",
                        evaluator.value(key, lambda k2, o2, swap=swap: swap.get((k2, o2), (k2, o2))),
                    )
                )
    if len(shiftable) > 1:
        moved = {item for item in shiftable if item[1] == 0}
        names = ", ".join(name(k) for k, _ in sorted(moved, key=str))
        out.append(
            (
                f"uses the row above's {names} where this row's belong",
                evaluator.value(key, lambda k2, o2: (k2, -1) if (k2, o2) in moved else (k2, o2)),
            )
        )
    return out


# e typed as a number (2.718, 2.71828) where EXP() belongs: close to e, but not e
_E_LITERAL = re.compile(r"(?<![\d.A-Za-z$])(2\.7[0-2]\d*)(?![\d.])")


def _e_literals(formula) -> list[float]:
    """The numbers in a formula that stand for e but are not e to double precision."""
    if not isinstance(formula, str) or not formula.startswith("="):
        return []
    found = {float(m[1]) for m in _E_LITERAL.finditer(formula)}
    return sorted(b for b in found if abs(b - math.e) > 1e-15 * math.e)


def _round_digits(formula) -> list[int]:
    """The decimals of each ROUND(x, n) in a formula (n a number written in it)."""
    if not isinstance(formula, str):
        return []
    found = set()
    for match in re.finditer(r"ROUND\(", formula.upper()):
        depth, comma = 1, None
        for i in range(match.end(), len(formula)):
            if formula[i] == "(":
                depth += 1
            elif formula[i] == ")":
                depth -= 1
                if depth == 0:
                    if comma is not None and re.fullmatch(r"\s*\d{1,2}\s*", formula[comma + 1 : i]):
                        found.add(int(formula[comma + 1 : i]))
                    break
            elif formula[i] == "," and depth == 1:
                comma = i
    return sorted(found)


def _e_mistake(base: float) -> str:
    return f"writes e as {base:g}: {base:g}^x where EXP(x) belongs (e = 2.718281828…)"


def _explain(table, evaluator, key, record, rows, got, formula, tolerance) -> str | None:
    """The catalogue's mistake that reproduces the wrong cells best (the first one at least)."""
    finite = got[np.isfinite(got)]
    floor = 1e-3 * np.max(np.abs(finite)) if finite.size else 0.0
    best, best_score = None, 0
    for text, candidate in _candidates(table, evaluator, key, record, formula):
        with np.errstate(invalid="ignore"):
            close = np.abs(candidate[rows] - got[rows]) <= tolerance * np.maximum(np.abs(got[rows]), floor)
        if close[0] and close.sum() > best_score:
            best, best_score = text, int(close.sum())
    if best is None and _e_literals(formula):  # e typed in a formula the catalogue cannot redo
        best = _e_mistake(_e_literals(formula)[0])
    return best
