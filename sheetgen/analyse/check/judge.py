"""Stage 5 of check: each line judged, and where each mistake starts.

Every cell is compared twice (recompute.py). With the *reference*, the engine's value from the
step's own weights: a cell that agrees is right. With the *local* value, from the table's own
values of what the cell is made of: a cell that disagrees with the reference but agrees with
its own parts only carries a mistake made upstream ("follows"); one that disagrees with both is
where a mistake starts ("wrong"), and the catalogue (catalogue.py) tries to say which. Rounded
numbers (typed, or stored with few digits) are judged at their rounding (precision.py). A
line that holds no number where one belongs is not checked, and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from sheetgen.analyse.check import catalogue, circular
from sheetgen.analyse.check.cells import Cells
from sheetgen.analyse.check.locate import ACROSS, ONE_STEP
from sheetgen.analyse.check.precision import ROUNDED_BELOW, half_units, rounding_bound, stored_digits
from sheetgen.analyse.check.recognise import ITERATION, SIGNED, Table, label_names, quantity_label
from sheetgen.analyse.check.recompute import CONSTANT_KINDS, Evaluator, reference_table
from sheetgen.analyse.compare import relative_errors
from sheetgen.workbook.quantities import Key
from sheetgen.workbook.quantities import columns as canonical_columns

# Hand-made formulas may associate differently from the engine (a·(1−a)·(a−t) or
# (a−t)·a·(1−a)); that moves the last bits only. Every mistake in the catalogue is many orders
# larger.
CHECK_TOLERANCE = 1e-9
# Where a quantity sits in a step's order of computation: a mistake earlier in it comes first.
STAGES = {
    "eta": -1,
    "input": -1,
    "target": -1,
    "init_b": -1,
    "net": 0,
    "act": 0,
    "E": 1,
    "E_total": 1,
    "grad_act": 2,
    "slope": 2,
    "grad_act_term": 2,
    "delta": 2,
    "grad_w": 3,
    "w_step": 3,
    "w_next": 4,
    "w": 4,
}


@dataclass
class ColumnFinding:
    """One line of a table (a column, for a table with a step per row): its verdict and, when
    wrong, its first wrong cell explained."""

    key: Key | None  # what it computes; None: not recognised
    label: str  # its name: the table's label, else the quantity's
    column: str  # where it is: the sheet column (a step per row), row (per column), or cell
    status: str  # "right", "wrong", "follows", "not checked", "not recognised"
    cells: int  # cells compared
    largest_error: float  # largest relative error against the reference
    refs: list[str] = field(default_factory=list)  # its cells, step by step (A1, no sheet)
    quantity: str | None = None  # the exercise's name of what it computes
    copy: bool = False  # it repeats a quantity another line holds
    named: bool = True  # its label says what it computes (else the report adds the quantity)
    wrong_cells: int = 0  # cells where the mistake is (status "wrong")
    first_cell: str | None = None  # first wrong cell ("wrong") or first affected ("follows")
    formula: str | None = None
    value: object = None
    expected: float | None = None
    mistake: str | None = None  # what the catalogue recognised, or None
    follows_from: str | None = None  # the line whose mistake this one carries
    reason: str | None = None  # why a line was not checked or not recognised
    unchecked: list[str] = field(default_factory=list)  # cells that could not be recomputed
    feeds_updates: bool = False  # the weight updates depend on it
    order: tuple = field(default=(), repr=False)  # where the mistake sits in dependency order

    @property
    def display(self) -> str:
        """The label, with the quantity where the label does not say it ("col X (∂E/∂w3)")."""
        if self.quantity is None or self.named or self.key == ITERATION or self.quantity == self.label:
            return self.label
        return f"{self.label} ({self.quantity})"


@dataclass
class TableFinding:
    """One table's findings."""

    sheet: str
    header_row: int | None  # 1-based, as the sheet shows it (a step per row)
    first_row: int  # 1-based first and last row (a step per row) or column (per column)
    last_row: int
    shape: str  # "2-2-2"
    constants: dict[str, str]  # label -> "0.5 (Sheet1!B2)", for data held outside the lines
    columns: list[ColumnFinding]
    layout: str = "rows"  # "rows", "across" or "one step"
    where: str = ""  # "rows 3–70", "columns B–Z", "B2:B40"
    notes: list[str] = field(default_factory=list)
    typed: bool = False  # typed numbers, no formulas
    rounded: bool = False  # judged at the rounding of its numbers
    precision: float | None = None  # rounded numbers' typical relative rounding
    digits: int | None = None  # typical significant digits stored

    @property
    def mistakes(self) -> list[ColumnFinding]:
        return sorted((c for c in self.columns if c.status == "wrong"), key=lambda c: c.order)

    @property
    def cause(self) -> ColumnFinding | None:
        mistakes = self.mistakes
        return mistakes[0] if mistakes else None

    @property
    def unchecked(self) -> list[ColumnFinding]:
        """Lines that could not be checked: cells that hold no number, and numeric lines that
        match no quantity (a table is never right with a column left out)."""
        return [c for c in self.columns if c.status in ("not checked", "not recognised")]

    @property
    def unrecognised(self) -> list[ColumnFinding]:
        return [c for c in self.columns if c.status == "not recognised"]

    @property
    def ok(self) -> bool:
        """Right throughout: no mistake, every numeric line checked, and nothing differs from
        what the network computes (a difference whose start check cannot place still fails)."""
        return not self.mistakes and not self.unchecked and not self.unexplained

    @property
    def unexplained(self) -> list[ColumnFinding]:
        """Lines that differ from the reference with no mistake found that they follow from."""
        if self.mistakes or self.unchecked:  # what they follow from is said already
            return []
        return [c for c in self.columns if c.status == "follows"]


def judge_table(table: Table, cells: Cells, tolerance: float = CHECK_TOLERANCE) -> TableFinding:
    """Every line of a recognised table judged (see the module's docstring)."""
    n = table.steps
    spec = table.spec
    primary = table.primary
    raw = {key: cells.raw[line] for key, line in primary.items()}
    source = {key: cells.values[line].copy() for key, line in primary.items()}
    for key, constant in table.constants.items():
        source[key] = np.full(n, constant.value)
    computed = [line for key, line in primary.items() if key[0] not in CONSTANT_KINDS and key[0] != "w"]
    precision, digits = stored_digits([cells.raw[line] for line in computed])
    rounded = table.typed or 0 < digits < ROUNDED_BELOW
    halves: dict[Key, np.ndarray] = {}
    if rounded:
        for key in primary:
            if key[0] not in CONSTANT_KINDS:
                halves[key] = half_units(raw[key], precision)
                if key[0] == "w":
                    halves[key][0] = 0.0  # the initial weights are given exactly
    has_eta = ("eta",) in source
    keys = list(primary)

    def reference_of(src):
        return reference_table(spec, src, n, keys)

    with np.errstate(all="ignore"):
        reference = reference_of(source)
    negated = negated_gradients(table, source, reference)
    for key in negated:
        source[key] = -source[key]
    evaluator = Evaluator(spec, source, n)
    evaluator.negated = negated
    notes = list(table.notes)
    if negated:
        notes.append(
            "the gradient columns hold −∂E/∂w (δ from (t − a) where (a − t) is usual) and the "
            "weight updates add η times them, which is the same step: they are checked as such"
        )
    sign = {key: -1.0 if key in negated else 1.0 for key in primary}
    if rounded:
        with np.errstate(all="ignore"):
            reference_bound = rounding_bound(reference_of, source, halves, list(halves))
    rank = _ranks(spec, keys)
    findings: dict[int, ColumnFinding] = {}
    deps: dict[Key, set[Key]] = {}
    affected: dict[Key, int] = {}
    for line in range(len(table.lines)):
        key = table.keys.get(line)
        finding = ColumnFinding(
            key,
            table.names[line],
            _where(table, line),
            "right",
            0,
            0.0,
            refs=table.refs(line),
            quantity=None if key is None else quantity_label(spec, key),
            copy=key is not None and primary.get(key) != line and key != ITERATION,
            named=key is not None and label_names(table.lines[line].label, key, spec),
            feeds_updates=line in table.feeds_updates,
        )
        findings[line] = finding
        if key is None:
            finding.status = "not recognised"
            finding.reason = "matches no quantity of the network, by its values or its formula"
            finding.cells = int(np.isfinite(cells.values[line]).sum())
            continue
        if key == ITERATION:
            finding.cells = n
            continue
        if key[0] in ("w", "w_next", "w_step") and not has_eta:
            finding.status, finding.reason = "not checked", "no η found"
            continue
        checked = np.ones(n, dtype=bool)
        if key[0] == "w":
            checked[0] = False  # the initial weights are given, not computed
        got = cells.values[line] * (sign.get(key, 1.0) if key in negated else 1.0)
        if finding.copy:
            local, record = source[key].copy(), [(key, 0)]
        else:
            record = []
            local = evaluator.value(key, record=record)
        deps[key] = {k for k, _ in record if k in primary and k != key}
        expected = reference[key]
        global_errors = relative_errors(got, expected)
        local_errors = relative_errors(got, local)
        right = global_errors <= tolerance
        wrong_here = local_errors > tolerance
        if rounded:
            own = half_units(cells.raw[line], precision)
            if key[0] == "w":
                own[0] = 0.0
            local_bound = (
                np.zeros(n)
                if finding.copy
                else rounding_bound(
                    lambda src: {key: Evaluator(spec, src, n).value(key)},  # noqa: B023 - called at once
                    source,
                    halves,
                    {k for k, _ in record},
                )[key]
            )
            with np.errstate(invalid="ignore"):
                right |= np.abs(got - expected) <= 2 * (own + reference_bound[key]) + 1e-15
                wrong_here &= np.abs(got - local) > 2 * (own + local_bound) + 1e-15
        unreadable = checked & (np.isnan(got) | np.isnan(local))
        if key[0] == "w" and np.isnan(got[0]):  # the given weights must be numbers too
            unreadable[0] = True
        mistake = checked & wrong_here & ~np.isnan(local) & ~np.isnan(got)
        follows = checked & ~right & ~mistake & ~unreadable
        finding.cells = int((checked & ~unreadable).sum())
        finite = global_errors[checked & ~unreadable]
        finding.largest_error = float(finite.max()) if finite.size else 0.0
        if mistake.any():
            steps = np.flatnonzero(mistake)
            first = int(steps[0])
            finding.status = "wrong"
            finding.wrong_cells = len(steps)
            describe(finding, table, cells, line, first, sign.get(key, 1.0) * float(local[first]))
            explain_tolerance = max(tolerance, 10 * precision) if rounded else tolerance
            finding.mistake = catalogue.explain(
                table, cells, evaluator, line, first, record, steps, got, finding, explain_tolerance
            )
            origin = first - 1 if key[0] == "w" else first
            finding.order = (origin, STAGES[key[0]], rank.get(key, -1.0))
        elif follows.any():
            first = int(np.flatnonzero(follows)[0])
            finding.status = "follows"
            affected.setdefault(key, first)
            describe(finding, table, cells, line, first, sign.get(key, 1.0) * float(expected[first]))
        elif unreadable.any():
            where = [table.refs(line)[i] for i in np.flatnonzero(unreadable)]
            finding.status = "not checked"
            finding.unchecked = where
            bad_here = [c for c, i in zip(where, np.flatnonzero(unreadable)) if np.isnan(got[i])]
            finding.reason = (
                f"{_count_cells(where)} could not be recomputed ("
                + (
                    f"{bad_here[0]} holds {_shown(cells.raw[line][int(np.flatnonzero(unreadable)[0])])}"
                    if bad_here
                    else "what they are made of is not a number"
                )
                + ")"
            )
    shown = {key: sign.get(key, 1.0) * reference[key] for key in primary if key in reference}
    circle = None
    troubled = [
        (f.refs.index(f.first_cell) if f.status == "wrong" else f.refs.index(f.unchecked[0]))
        for f in findings.values()
        if f.status in ("wrong", "not checked") and (f.first_cell or f.unchecked)
    ]
    if troubled:  # a circle explains what goes wrong only at or above the first trouble
        circle = circular.find_circle(table, cells, min(troubled))
    if circle is not None:
        _blame_circular(table, cells, findings, affected, circle, shown, rank)
    mistakes = sorted((f for f in findings.values() if f.status == "wrong"), key=lambda f: f.order)
    for key in affected:
        distance = _distances(key, deps)
        causes = [f for f in mistakes if f.key in distance]
        # the nearest mistake upstream (w4 follows from ∂E/∂w4, not from ∂E/∂w3 that reaches
        # it only a row later), the earliest among equals
        cause = min(causes, key=lambda f: (distance[f.key], f.order), default=None)
        for finding in findings.values():
            if finding.key == key and finding.status == "follows":
                finding.follows_from = cause.label if cause else None
                if circle is not None and key in circle.followers:
                    finding.follows_from = findings[primary[circle.key]].label
    for finding in findings.values():  # a copy follows what it copies
        if finding.copy and finding.status == "follows" and finding.follows_from is None:
            original = findings[primary[finding.key]]
            finding.follows_from = original.label if original.status == "wrong" else original.follows_from
    constants = {
        c.label: f"{c.value:.15g} ({c.cell})"
        for _, c in sorted(table.constants.items(), key=lambda item: _DATA_ORDER.index(item[0][0]))
    }
    first, last, where = _extent(table)
    return TableFinding(
        table.sheet,
        None if table.header is None or table.layout != "rows" else table.header + 1,
        first,
        last,
        table.shape,
        constants,
        list(findings.values()),
        layout=table.layout,
        where=where,
        notes=notes,
        typed=table.typed,
        rounded=rounded,
        precision=precision if rounded else None,
        digits=digits if digits else None,
    )


def _blame_circular(table, cells, findings, affected, circle, reference, rank) -> None:
    """The blamed line is wrong from the circle's first cell; what goes wrong or cannot be
    checked from that step on carries the circle's mistake."""
    key, step, line = circle.key, circle.step, circle.line
    finding = findings[line]
    finding.status, finding.reason, finding.unchecked = "wrong", None, []
    finding.wrong_cells = len(circle.steps)
    describe(finding, table, cells, line, step, float(reference[key][step]))
    route = " → ".join(xl_rowcol_to_cell(*c) for c in circle.path + circle.path[:1])
    finding.mistake = f"is a circular reference ({route}): a spreadsheet cannot compute it"
    gradient = table.primary.get(("grad_w", *key[1:]))
    if key[0] == "w" and gradient is not None:
        reads = cells.sources(line, step)
        if any(s.kind == "line" and s.line == gradient and s.offset == 0 for s in reads):
            own = table.refs(gradient)[step]
            before = table.refs(gradient)[step - 1] if step else "none"
            finding.mistake += (
                f"; the update reads {table.names[gradient]} of its own {_unit(table)} ({own}) "
                f"where the {_unit(table)} before's ({before}) belongs"
                if table.layout != "rows"
                else f"; the update reads {table.names[gradient]} of its own row ({own}) where the "
                f"row above's ({before}) belongs"
            )
    finding.order = (step - 1 if key[0] == "w" else step, STAGES[key[0]], rank.get(key, -1.0))
    for other, found in findings.items():
        if other == line or found.status not in ("wrong", "not checked"):
            continue
        first = found.first_cell if found.status == "wrong" else found.unchecked[0]
        at = found.refs.index(first)
        if at < step:
            continue
        found.status, found.reason, found.unchecked, found.mistake = "follows", None, [], None
        found.wrong_cells, found.order = 0, ()
        describe(found, table, cells, other, at, float(reference[found.key][at]))
        affected[found.key] = at
        circle.followers.add(found.key)


def _unit(table: Table) -> str:
    return {"rows": "row", ACROSS: "column"}.get(table.layout, "step")


# The order a report lists a table's data in.
_DATA_ORDER = ["eta", "input", "init_b", "target"]


def _where(table: Table, line: int) -> str:
    first = table.lines[line].cells[0]
    if table.layout == "rows":
        return xl_col_to_name(first[1])
    if table.layout == ACROSS:
        return str(first[0] + 1)
    return xl_rowcol_to_cell(*first)


def _extent(table: Table) -> tuple[int, int, str]:
    cells = [c for line in table.lines for c in line.cells]
    if table.layout == "rows":
        first, last = table.lines[0].cells[0][0] + 1, table.lines[0].cells[-1][0] + 1
        return first, last, f"rows {first}–{last}"
    if table.layout == ACROSS:
        first, last = table.lines[0].cells[0][1], table.lines[0].cells[-1][1]
        return first + 1, last + 1, f"columns {xl_col_to_name(first)}–{xl_col_to_name(last)}"
    top = min(r for r, _ in cells), min(c for _, c in cells)
    bottom = max(r for r, _ in cells), max(c for _, c in cells)
    return 1, 1, f"{xl_rowcol_to_cell(*top)}:{xl_rowcol_to_cell(*bottom)}"


def describe(
    finding: ColumnFinding, table: Table, cells: Cells, line: int, step: int, expected: float
) -> None:
    """The finding's first cell: where, its formula, what it holds and what it should."""
    finding.first_cell = table.refs(line)[step]
    finding.formula = cells.formula(line, step)
    finding.value = cells.raw[line][step]
    finding.expected = expected if math.isfinite(expected) else None


def negated_gradients(table: Table, source: dict, reference: dict) -> set[Key]:
    """The quantities of a table that computes −∂E/∂w throughout (δ = (t − a)·a·(1 − a)) and
    adds η times it to the weights: the same training step under another sign convention.

    It is that convention when most gradient lines' first values are nearer −∂E/∂w than
    ∂E/∂w and most weights of the second step whose step shows are nearer w + η·g than w − η·g
    with the sheet's own g (the sheet's sign and its update cancel; no tolerance, so that typed
    numbers of any rounding are read alike). Then each backward quantity whose first value is
    nearer the negative of its reference is read negated, so its own mistakes are still found.
    """
    grads = [k for k in table.primary if k[0] == "grad_w"]
    weights = [k for k in table.primary if k[0] == "w"]
    if table.steps < 2 or not grads or not weights or ("eta",) not in source:
        return set()

    def nearer_negative(k) -> bool:
        got, ref = source[k][0], reference[k][0]
        return bool(np.isfinite(got) and np.isfinite(ref) and abs(got + ref) < abs(got - ref))

    def update_sign(k) -> int:  # +1: the second step's weight is nearer w + η·g than w − η·g
        g = ("grad_w", *k[1:])
        if g not in source:
            return 0
        w0, w1, step = source[k][0], source[k][1], source[("eta",)][0] * source[g][0]
        if not (np.isfinite(w0) and np.isfinite(w1) and np.isfinite(step)):
            return 0
        return int(np.sign(abs(w1 - (w0 - step)) - abs(w1 - (w0 + step))))

    flipped = sum(nearer_negative(k) for k in grads)
    signs = [s for s in map(update_sign, weights) if s]  # a step below the rounding decides nothing
    if flipped * 2 <= len(grads) or not signs or signs.count(1) * 2 <= len(signs):
        return set()
    return {k for k in table.primary if k[0] in SIGNED and k in reference and nearer_negative(k)}


def _ranks(spec, keys) -> dict[Key, float]:
    """Order within a stage: the order sheetgen's own table has its columns in."""
    order = {q.key: i for i, q in enumerate(canonical_columns(spec))}
    last = len(spec.layers) - 1
    ranks = {}
    for key in keys:
        if key in order:
            ranks[key] = float(order[key])
        elif key[0] == "grad_act":  # ∂E/∂a of an output comes just before its δ
            ranks[key] = order[("delta", last, 0, 0)] - 0.5
        elif (
            key[0] in ("slope", "grad_act_term")
            and ("delta", key[1], 0, key[2] if key[0] == "grad_act_term" else key[3]) in order
        ):
            unit = key[2] if key[0] == "grad_act_term" else key[3]
            ranks[key] = order[("delta", key[1], 0, unit)] - 0.25
        elif key[0] in ("w_step", "w_next"):
            ranks[key] = order[("grad_w", *key[1:])] + 0.5
        else:
            ranks[key] = -1.0
    return ranks


def _distances(key: Key, deps: dict[Key, set[Key]]) -> dict[Key, int]:
    """Every quantity `key` is computed from, directly or not, with how many steps away."""
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


def _count_cells(where: list[str]) -> str:
    shown = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
    return f"{len(where)} cell{'s' if len(where) > 1 else ''} ({shown})"


def _shown(value) -> str:
    return "nothing" if value is None else repr(value) if isinstance(value, str) else str(value)


__all__ = ["CHECK_TOLERANCE", "ONE_STEP", "ColumnFinding", "TableFinding", "judge_table"]
