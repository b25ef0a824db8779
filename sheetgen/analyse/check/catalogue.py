"""The mistakes check can name: each recomputed as the table would show it, and the one that
reproduces the wrong cells is the explanation.

Some are read from the formula itself (η read from a cell that drifts down the rows, another
column's formula copied, a number typed where formulas are, ROUND, e typed as 2.718); the rest
are the right computation with one thing changed: another unit's slope or weight, the step
before, an absolute reference, two parts swapped, a factor left out, a sign, a ½, the update's
sign or step.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import numpy as np

from sheetgen.analyse.check.cells import Cells
from sheetgen.analyse.check.locate import ACROSS
from sheetgen.analyse.check.recognise import Table, quantity_label
from sheetgen.analyse.check.recompute import CONSTANT_KINDS, Evaluator, shift
from sheetgen.analyse.check.refs import references
from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.quantities import Key

# e typed as a number (2.718, 2.71828) where EXP() belongs: close to e, but not e
_E_LITERAL = re.compile(r"(?<![\d.A-Za-z$])(2\.7[0-2]\d*)(?![\d.])")


def explain(
    table: Table, cells: Cells, evaluator: Evaluator, line, first, record, steps, got, finding, tolerance
):
    """The mistake that starts at a line's cell, in words, or None when none fits."""
    key = table.keys[line]
    return (
        _eta_reference_mistake(table, cells, line, first)
        or _copied_formula(table, cells, line, first)
        or _typed_in_formulas(table, finding)
        or _recomputed(table, cells, evaluator, key, record, steps, got, finding.formula, tolerance)
    )


def _unit(table: Table) -> str:
    return {"rows": "row", ACROSS: "column"}.get(table.layout, "step")


def _step_name(table: Table, step: int) -> str:
    """Where a step is: its sheet row (or column)."""
    cell = table.lines[0].cells[step]
    if table.layout == ACROSS:
        from xlsxwriter.utility import xl_col_to_name

        return f"column {xl_col_to_name(cell[1])}"
    return f"row {cell[0] + 1}"


def name(table: Table, key: Key) -> str:
    """What the table calls a quantity: its line's label, a constant's, else the exercise's."""
    if key in table.primary:
        return table.names[table.primary[key]]
    if key in table.constants:
        return table.constants[key].label
    if key[0] in ("slope", "net_slope"):
        a = name(table, ("act" if key[0] == "slope" else "net", *key[1:]))
        return f"{a}·(1−{a})"
    return quantity_label(table.spec, key)


def _update_cell(cells: Cells, line: int, step: int) -> tuple[int, int]:
    """The (line, step) a weight's update is written in: its own cell, or the cell of another
    line of the step before that it only copies (=AF3 under "new w1" columns)."""
    sources = cells.sources(line, step)
    formula = (cells.formula(line, step) or "").replace(" ", "").replace("$", "").upper()
    if (
        len(sources) == 1
        and sources[0].kind == "line"
        and sources[0].offset == -1
        and sources[0].line != line
    ):
        written = references(cells.formula(line, step))[0].text.replace("$", "").upper()
        if formula == "=" + written:
            return sources[0].line, step - 1
    return line, step


def _eta_reference_mistake(table: Table, cells: Cells, line: int, step: int) -> str | None:
    """A weight update that reads η from another cell than the table's η: most often a
    relative reference (G31) where an absolute one ($G$31) belongs, drifting down the rows."""
    from xlsxwriter.utility import xl_rowcol_to_cell

    key = table.keys[line]
    if key[0] != "w" or table.eta_reference is None or table.primary.get(key) != line or step == 0:
        return None
    eta = table.eta_reference
    gradient = table.primary.get(("grad_w", *key[1:]))
    where, at = _update_cell(cells, line, step)
    written = references(cells.formula(where, at))
    others = []
    for source, ref in zip(cells.sources(where, at), written):
        if source.kind == "line" and source.line in (line, gradient) and at + source.offset == step - 1:
            continue
        others.append((source, ref))
    if len(others) != 1:
        return None
    source, ref = others[0]
    sheet = ref.sheet or table.sheet
    if source.kind == "literal" or (sheet, ref.row, ref.col) == (
        (eta.sheet or table.sheet),
        eta.row,
        eta.col,
    ):
        return None
    label = table.constants[("eta",)].label if ("eta",) in table.constants else "η"
    drift = ""
    fixed = ref.absolute_col if table.layout == ACROSS else ref.absolute_row
    if not fixed:
        drift = (
            f": a relative reference ({ref.text}) that moves down the rows, where the absolute "
            f"{eta.text} belongs"
        )
    read = xl_rowcol_to_cell(ref.row, ref.col)
    return f"multiplies the gradient by {read} where η ({label}, {eta.text}) belongs{drift}"


def _copied_formula(table: Table, cells: Cells, line: int, step: int) -> str | None:
    """A cell holding, character for character, the formula another line has at the same
    step: a formula copied (or typed again) into the wrong place, e.g. w3 = F34 − η·Y34 where
    w2's cell holds the same."""
    own = cells.formula(line, step)
    if own is None:
        return None
    text = own.replace(" ", "").upper()
    for other in range(len(table.lines)):
        theirs = cells.formula(other, step) if other != line else None
        if theirs is not None and theirs.replace(" ", "").upper() == text:
            from xlsxwriter.utility import xl_rowcol_to_cell

            where = xl_rowcol_to_cell(*table.lines[other].cells[step])
            mine = table.names[line]
            theirs = table.names[other]
            return f"holds the same formula as {theirs} ({where}): {theirs}'s formula where {mine}'s belongs"
    return None


def _typed_in_formulas(table: Table, finding) -> str | None:
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
    if not math.isfinite(value):  # 1e999 typed: infinity, no digits to compare
        return text
    decimals = -Decimal(repr(float(value))).normalize().as_tuple().exponent
    if expected is not None and 0 < decimals < 16 and round(expected, decimals) == value:
        text += f": it is {expected:.10g} rounded to {decimals} decimal{'s' if decimals > 1 else ''}"
    return text


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


def _absolute(table: Table, cells: Cells, formula) -> dict[Key, tuple[int, str]]:
    """The quantities a formula reads at a fixed step (an absolute reference into the table,
    $W$2): {key: (step, as written)}."""
    out = {}
    for ref in references(formula):
        fixed = ref.absolute_col if table.layout == ACROSS else ref.absolute_row
        if not fixed or (ref.sheet or table.sheet) != table.sheet:
            continue
        found = cells.where.get((ref.row, ref.col))
        if found is not None and found[0] in table.keys:
            out[table.keys[found[0]]] = (found[1], ref.text)
    return out


def _candidates(table: Table, cells: Cells, evaluator: Evaluator, key: Key, record: list, formula):
    """(description, values) for each known mistake, most specific first."""
    label = lambda k: name(table, k)  # noqa: E731
    local = evaluator.value(key)
    kind = key[0]
    unit = _unit(table)
    out = []
    if kind in ("w", "w_next"):
        before = -1 if kind == "w" else 0
        get = lambda k, off=0: shift(evaluator.source[k], off)  # noqa: E731
        w, g, eta = ("w", *key[1:]), ("grad_w", *key[1:]), ("eta",)
        shown = label(key)
        if g in evaluator.source and g in evaluator.negated:  # the sheet's g is −∂E/∂w
            out.append(
                (
                    f"subtracts η·{label(g)} where the table's other updates add it ({label(g)} "
                    f"holds −∂E/∂w here): {shown} − η·{label(g)} where {shown} + η·{label(g)} belongs",
                    get(w, before) + get(eta) * get(g, before),
                )
            )
        elif g in evaluator.source:
            out.append(
                (
                    f"adds η·{label(g)} instead of subtracting it: {shown} + η·{label(g)} "
                    f"where {shown} − η·{label(g)} belongs",
                    get(w, before) + get(eta) * get(g, before),
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
                        f"leaves out η: {shown} − {label(g)} where {shown} − η·{label(g)} belongs",
                        get(w, before) - get(g, before),
                    )
                )
            out.append(
                (
                    f"takes twice the step: {shown} − 2·η·{label(g)} where {shown} − η·{label(g)} belongs",
                    get(w, before) - 2 * get(eta) * get(g, before),
                )
            )
        if kind == "w":
            out.append(
                (
                    f"is not updated: it repeats the {unit} before"
                    if unit != "row"
                    else "is not updated: it repeats the row above",
                    get(w, -1),
                )
            )
    if kind == "act":
        used = table.spec.layers[key[1]].activation
        net = evaluator.value(("net", *key[1:]))
        for other in ("tanh", "relu", "identity", "sigmoid"):
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
        t, a = label(("target", 0, key[2])), label(("act", len(table.spec.layers) - 1, 0, key[2]))
        out.append((f"misses the ½: ({t} − {a})² where ½·({t} − {a})² belongs", 2 * local))
    elif kind == "E_total":
        out.append(("misses the ½ of ½·(t − a)²: it is twice what it should be", 2 * local))
    else:
        out.append(("is twice what it should be", 2 * local))
    out.append(("has its sign flipped", -local))
    out.append(("is half what it should be", local / 2))
    out += _part_changes(table, cells, evaluator, key, record, formula)
    return out


def _part_changes(table: Table, cells: Cells, evaluator: Evaluator, key: Key, record: list, formula):
    """The right computation with one of its parts changed (another unit's, another step's, a
    fixed step's, left out, swapped)."""
    label = lambda k: name(table, k)  # noqa: E731
    out = []
    absolute = _absolute(table, cells, formula)
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
                    f"uses {label(('act', *sibling[1:]))}'s slope {label(sibling)} where "
                    f"{label(('act', *k[1:]))}'s belongs"
                )
            else:
                text = f"uses {label(sibling)} where {label(k)} belongs"
            out.append((text, evaluator.value(key, replace(sibling, off))))
        if k[0] == "grad_act" and k[1] == len(table.spec.layers) - 1 and k not in table.primary:
            a, t = label(("act", *k[1:])), label(("target", 0, k[3]))
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
                    f"takes the slope from the net input, {label(net_slope)}, where {label(k)} belongs",
                    evaluator.value(key, replace(net_slope, off)),
                )
            )
        if k not in table.primary or k[0] in CONSTANT_KINDS or not isinstance(off, int):
            continue
        shiftable.append((k, off))
        if k in absolute:
            step, ref = absolute[k]
            out.append(
                (
                    f"uses {label(k)} of {_step_name(table, step)} in every {_unit(table)}: an "
                    f"absolute reference ({ref}) where a relative one belongs",
                    evaluator.value(key, replace(k, ("row", step))),
                )
            )
        if table.steps > 1:
            for new in (off - 1, off + 1):
                out.append((_offset_text(table, k, off, new), evaluator.value(key, replace(k, new))))
            out.append(
                (
                    f"uses {label(k)} of {_step_name(table, 0)} in every {_unit(table)}: an absolute "
                    "reference where a relative one belongs",
                    evaluator.value(key, replace(k, ("row", 0))),
                )
            )
    for k, off in sorted(seen, key=str):
        if k[0] in ("slope", "act", "input", "delta") and k != key:
            what = f"{label(('act', *k[1:]))}'s slope {label(k)}" if k[0] == "slope" else label(k)
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
                        f"swaps {label(k)} and {label(sibling)}",
                        evaluator.value(key, lambda k2, o2, swap=swap: swap.get((k2, o2), (k2, o2))),
                    )
                )
    if len(shiftable) > 1 and table.steps > 1:
        moved = {item for item in shiftable if item[1] == 0}
        names = ", ".join(label(k) for k, _ in sorted(moved, key=str))
        before = "the row above's" if table.layout == "rows" else f"the {_unit(table)} before's"
        here = "this row's" if table.layout == "rows" else f"this {_unit(table)}'s"
        out.append(
            (
                f"uses {before} {names} where {here} belong",
                evaluator.value(key, lambda k2, o2: (k2, -1) if (k2, o2) in moved else (k2, o2)),
            )
        )
    return out


def _offset_text(table: Table, k: Key, off: int, new: int) -> str:
    label = name(table, k)
    if table.layout == "rows":
        where = {
            -2: "from two rows above",
            -1: "of the row above",
            0: "of this row",
            1: "of the row below",
        }.get(new, f"{new:+d} rows away")
        was = {-1: "the row above's", 0: "this row's"}.get(off, "another row's")
    else:
        unit = _unit(table)
        where = {-1: f"of the {unit} before", 0: f"of this {unit}", 1: f"of the {unit} after"}.get(
            new, f"{new:+d} {unit}s away"
        )
        was = {-1: f"the {unit} before's", 0: f"this {unit}'s"}.get(off, f"another {unit}'s")
    return f"uses {label} {where} where {was} belongs"


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


def _recomputed(table, cells, evaluator, key, record, steps, got, formula, tolerance) -> str | None:
    """The catalogue's mistake that reproduces the wrong cells best (the first one at least)."""
    finite = got[np.isfinite(got)]
    floor = 1e-3 * np.max(np.abs(finite)) if finite.size else 0.0
    best, best_score = None, 0
    for text, candidate in _candidates(table, cells, evaluator, key, record, formula):
        with np.errstate(invalid="ignore"):
            close = np.abs(candidate[steps] - got[steps]) <= tolerance * np.maximum(np.abs(got[steps]), floor)
        if close[0] and close.sum() > best_score:
            best, best_score = text, int(close.sum())
    if best is None and _e_literals(formula):  # e typed in a formula the catalogue cannot redo
        best = _e_mistake(_e_literals(formula)[0])
    return best
