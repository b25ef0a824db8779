"""Stage 3 of check, second half: every line of a table named by what it computes.

With the network known (network.py), every quantity of every step is recomputed by the engine
and each line is matched to one, in passes that each lean on the lines already matched:

1. by value: the line equals the quantity (or its negative, for the backward quantities of the
   (t − a) sign convention) on its first steps or nearly all of them;
2. from its own parts: the line equals the quantity computed from the table's own lines of what
   it is made of (a_h2 from a wrong h2 column; ∂E/∂w5 from a wrong δ_o1), so it only carries a
   mistake made upstream;
3. by the shape of its formula: the quantity whose parts are what the formula reads (a net that
   reads w1, w2, i1 and i2 in the wrong order is still h1's net);
4. by its label, when the values and the formula say nothing better.

A line that repeats a quantity another line already holds (∂o1/∂a_h1 = w5) is a copy of it. A
column of step numbers is the step. Anything else is not recognised, and is reported with its
label and cells: the table is not right if the updates depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell

from sheetgen.analyse.check import labels as hints
from sheetgen.analyse.check.cells import Cells
from sheetgen.analyse.check.locate import Constant, Line, Located
from sheetgen.analyse.check.network import Network, _agrees
from sheetgen.analyse.check.recompute import CONSTANT_KINDS, local_value, reference_rows, shift
from sheetgen.workbook.quantities import Key
from sheetgen.workbook.quantities import label as canonical_label
from sheetgen.workbook.spec import NetworkSpec

# Quantities whose sign flips under the (t − a), w + η·g convention.
SIGNED = ("grad_w", "delta", "grad_act", "grad_act_term", "w_step")
ITERATION = ("iteration",)
# A formula is a quantity by its shape when most of what it reads is part of the quantity (a
# sibling's part, the one mistake it would be, counts half) and it reads at least half the
# quantity's own parts: one read in two that has nothing to do with it is not a mistake but
# another computation.
_EXPLAINED = 0.75
_COVERED = 0.5


@dataclass
class Table:
    """A table with each line named: what the judge checks."""

    sheet: str
    layout: str
    lines: list[Line]
    keys: dict[int, Key]  # line -> quantity (every recognised line; copies too)
    primary: dict[Key, int]  # quantity -> the line that holds it (the one others read)
    names: dict[int, str]  # line -> its name in the report: its label, else the quantity's
    constants: dict[Key, Constant]  # data held outside the table's lines
    spec: NetworkSpec
    typed: bool
    steps: int
    eta_reference: object = None
    header: int | None = None
    notes: list[str] = field(default_factory=list)
    unrecognised: list[int] = field(default_factory=list)
    feeds_updates: set[int] = field(default_factory=set)  # lines the weight updates depend on

    def cell(self, step: int, key: Key) -> str:
        """A1 reference of a quantity's cell at a step."""
        return xl_rowcol_to_cell(*self.lines[self.primary[key]].cells[step])

    def refs(self, line: int) -> list[str]:
        return [xl_rowcol_to_cell(*c) for c in self.lines[line].cells]

    @property
    def shape(self) -> str:
        return "-".join(map(str, [self.spec.n_inputs] + [layer.units for layer in self.spec.layers]))


def recognise_table(located: Located, cells: Cells, network: Network) -> Table:
    """Every line of the table named by what it computes (see the module's docstring)."""
    spec = network.spec
    keys: dict[int, Key] = dict(network.keys)
    for w, g in located.weights.items():
        if g is not None and w in keys:
            keys.setdefault(g, ("grad_w", *keys[w][1:]))
    tolerance = network.tolerance
    vocabulary = _vocabulary(spec)
    matcher = _Matcher(cells, spec, keys, network.constants, tolerance)
    open_lines = [
        i for i in range(len(located.lines)) if i not in keys and np.isfinite(cells.values[i]).any()
    ]
    progress = True
    while progress and open_lines:
        progress = False
        reference = matcher.reference()
        for line in list(open_lines):
            key = matcher.by_value(line, reference, vocabulary, located.lines[line].label)
            if key is not None:
                keys[line] = key
                open_lines.remove(line)
                progress = True
        if progress:
            continue
        for line in list(open_lines):
            key = matcher.by_parts(line, vocabulary, located.lines[line].label)
            if key is not None:
                keys[line] = key
                open_lines.remove(line)
                progress = True
                break
    for line in list(open_lines):
        key = matcher.by_shape(line, vocabulary, located.lines[line].label)
        if key is None:
            key = _by_label(located.lines[line].label, spec, keys)
        if key is None and _is_counter(cells.values[line]):
            key = ITERATION
        if key is not None:
            keys[line] = key
            open_lines.remove(line)
    primary: dict[Key, int] = {key: line for line, key in network.keys.items()}
    for line, key in sorted(keys.items()):
        if key == ITERATION or line in network.keys:
            continue
        if key not in primary or (primary[key] not in network.keys and _reads(cells, line, primary[key])):
            primary[key] = line
    names = {i: _name(located.lines[i].label, keys.get(i), spec) for i in range(len(located.lines))}
    table = Table(
        located.sheet,
        located.layout,
        located.lines,
        keys,
        primary,
        names,
        {k: c for k, c in network.constants.items()},
        spec,
        located.typed,
        located.steps,
        eta_reference=located.eta_reference,
        header=located.header,
        notes=list(located.notes) + network.notes,
        unrecognised=[i for i in open_lines],
    )
    table.feeds_updates = _feeding_updates(cells, located, table)
    return table


def _vocabulary(spec: NetworkSpec) -> list[Key]:
    """Every quantity a line may hold, in the order a table shows them."""
    out: list[Key] = []
    for l, layer in enumerate(spec.layers):
        for j in range(layer.units):
            out += [("net", l, 0, j), ("act", l, 0, j)]
    out += [("E", 0, j) for j in range(spec.layers[-1].units)] + [("E_total",)]
    for l in range(len(spec.layers) - 1, -1, -1):
        for j in range(spec.layers[l].units):
            out += [("grad_act", l, 0, j), ("slope", l, 0, j), ("delta", l, 0, j)]
    for l, layer in enumerate(spec.layers):
        for j in range(layer.units):
            for k in range(len(layer.weights[0])):
                out += [("grad_w", l, j, k), ("w_next", l, j, k), ("w_step", l, j, k)]
                if l:
                    out.append(("grad_act_term", l, j, k))
    return out


class _Matcher:
    """The engine's values of every quantity, and the table's own lines, to match against."""

    def __init__(self, cells: Cells, spec: NetworkSpec, keys: dict, constants: dict, tolerance: float):
        self.cells = cells
        self.spec = spec
        self.keys = keys
        self.constants = constants
        self.tolerance = tolerance

    def source(self) -> dict[Key, np.ndarray]:
        out: dict[Key, np.ndarray] = {}
        for line, key in self.keys.items():
            if key != ITERATION:
                out.setdefault(key, self.cells.values[line])
        for key, constant in self.constants.items():
            out[key] = np.full(self.cells.steps, constant.value)
        return out

    def reference(self) -> dict[Key, np.ndarray]:
        source = self.source()
        rows = self.cells.steps
        reference = reference_rows(self.spec, lambda k: source[k], rows)
        eta = source.get(("eta",), np.full(rows, np.nan))
        for key in list(reference):
            if key[0] == "grad_w":
                w = source.get(("w", *key[1:]))
                if w is not None:
                    reference[("w_next", *key[1:])] = w - eta * reference[key]
                    reference[("w_step", *key[1:])] = eta * reference[key]
        return reference

    def claimed(self) -> set[Key]:
        return set(self.keys.values())

    def _best(self, line: int, candidates: dict[Key, np.ndarray], label) -> Key | None:
        got = self.cells.values[line]
        found = []
        for key, expected in candidates.items():
            for sign in (1, -1) if key[0] in SIGNED else (1,):
                if _agrees(got, sign * expected, self.tolerance, first=True) or _agrees(
                    got, sign * expected, self.tolerance
                ):
                    found.append(key)
                    break
        if not found:
            return None
        labelled = hints.parse_label(label) if label else None
        claimed = self.claimed()
        # a label that names one of the matches decides; then a quantity not yet held by
        # another line; then the first in table order
        found.sort(key=lambda k: (not _label_names(labelled, k, self.spec), k in claimed))
        return found[0]

    def by_value(self, line: int, reference: dict, vocabulary: list[Key], label) -> Key | None:
        candidates = {k: reference[k] for k in vocabulary if k in reference}
        for key, values in self.source().items():  # copies of what other lines hold
            candidates.setdefault(key, values)
        return self._best(line, candidates, label)

    def by_parts(self, line: int, vocabulary: list[Key], label) -> Key | None:
        source = self.source()
        rows = self.cells.steps

        def get(k, offset=0):
            base = source[k] if k in source else local_value(self.spec, k, get, rows)
            return shift(np.broadcast_to(base, (rows,)).astype(np.float64), offset)

        candidates = {}
        for key in vocabulary:
            if key in source:
                continue
            try:
                with np.errstate(all="ignore"):
                    candidates[key] = np.broadcast_to(local_value(self.spec, key, get, rows), (rows,))
            except KeyError:
                continue
        return self._best(line, candidates, label)

    def by_shape(self, line: int, vocabulary: list[Key], label) -> Key | None:
        """The quantity whose parts are what the line's formula reads: every part read (or
        written out inline), nothing else read; a sibling's part (a_h1 where a_h2's belongs)
        counts half, as the one mistake it would be. The reads explained weigh first."""
        reads = self._reads(line)
        if not reads:
            return None
        claimed = self.claimed()
        labelled = hints.parse_label(label) if label else None
        best, best_score = None, (0.5, 0.0, False)
        for key in vocabulary:
            if key in claimed:
                continue
            direct, closure = _parts(self.spec, key)
            if not direct:
                continue
            explained = sum(_credit(r, closure) for r in reads) / len(reads)
            covered = sum(max(_credit(p, reads), _inline_credit(self.spec, p, reads)) for p in direct) / len(
                direct
            )
            if explained < _EXPLAINED or covered < _COVERED:
                continue
            score = (explained, covered, _label_names(labelled, key, self.spec))
            if score > best_score:
                best, best_score = key, score
        return best

    def _reads(self, line: int) -> set[Key]:
        """The quantities a line's formula reads directly (lines at its own step, data cells)."""
        by_cell = {}
        for key, constant in self.constants.items():
            by_cell[constant.cell] = key
        out = set()
        for step in range(min(self.cells.steps, 3)):
            for source in self.cells.sources(line, step):
                if source.kind == "line" and source.line in self.keys:
                    out.add(self.keys[source.line])
                elif source.kind == "cell":
                    where = f"{source.sheet}!{xl_rowcol_to_cell(source.row, source.col)}"
                    if where in by_cell:
                        out.add(by_cell[where])
        return out


def _parts(spec: NetworkSpec, key: Key) -> tuple[set[Key], set[Key]]:
    """What a quantity is computed from directly, and everything it is computed from (the
    parts a formula may write out inline: a δ that writes out a_o1 − t1 reads a_o1 and t1)."""
    direct = _direct(spec, key)
    closure, frontier = set(direct), list(direct)
    forward = key[0] in ("net", "act")
    while frontier:
        part = frontier.pop()
        # data and weights are leaves; the forward pass is a leaf of everything after it
        if part[0] in CONSTANT_KINDS or part[0] == "w" or (not forward and part[0] in ("net", "act")):
            continue
        for sub in _direct(spec, part):
            if sub not in closure:
                closure.add(sub)
                frontier.append(sub)
    return direct, closure


def _direct(spec: NetworkSpec, key: Key) -> set[Key]:
    found: set[Key] = set()

    def get(k, offset=0):
        found.add(k)
        return np.zeros(1)

    try:
        local_value(spec, key, get, 1)
    except (KeyError, IndexError):
        return set()
    return found


def _credit(part: Key, keys: set[Key]) -> float:
    """1 if the part is among the keys, ½ if a sibling of it is (another unit's), else 0."""
    if part in keys:
        return 1.0
    if part[0] in ("net", "act", "slope", "delta", "grad_act", "input", "target", "E") and any(
        k[0] == part[0] and k[:2] == part[:2] for k in keys
    ):
        return 0.5
    return 0.0


def _inline_credit(spec: NetworkSpec, part: Key, reads: set[Key]) -> float:
    """A part written out inline: its own parts are read instead of it."""
    if part[0] in CONSTANT_KINDS or part[0] == "w":
        return 0.0
    direct = _direct(spec, part)
    if not direct:
        return 0.0
    return sum(_credit(p, reads) for p in direct) / len(direct)


def label_names(label: str | None, key: Key, spec: NetworkSpec) -> bool:
    """Whether a line's label says the quantity it computes (a_h1, out_h1 and σ(h1) all do)."""
    return _label_names(hints.parse_label(label) if label else None, key, spec)


def _label_names(labelled, key: Key, spec: NetworkSpec) -> bool:
    """Whether a parsed label names this quantity."""
    if labelled is None:
        return False
    if labelled[0] in ("w#", "grad_w#") and key[0] in ("w", "grad_w"):
        from sheetgen.workbook.quantities import weight_number

        kind = "w" if labelled[0] == "w#" else "grad_w"
        return key[0] == kind and weight_number(spec, *key[1:]) == labelled[1]
    return labelled == key


def _by_label(label, spec: NetworkSpec, keys: dict) -> Key | None:
    labelled = hints.parse_label(label) if label else None
    if labelled is None or labelled[0] in ("w#", "grad_w#", "bias#", "eta", "input", "target"):
        return None
    claimed = set(keys.values())
    for key in _vocabulary(spec):
        if key not in claimed and _label_names(labelled, key, spec):
            return key
    return None


def _is_counter(values: np.ndarray) -> bool:
    return len(values) > 1 and bool(np.all(np.diff(values) == 1))


def _reads(cells: Cells, line: int, other: int) -> bool:
    """Whether `other` reads `line` (then `line` is the quantity's own line, `other` a copy)."""
    return any(s.kind == "line" and s.line == line for s in cells.sources(other, min(1, cells.steps - 1)))


def _name(label: str | None, key: Key | None, spec: NetworkSpec) -> str:
    if label:
        return label
    if key is None:
        return "(no label)"
    if key == ITERATION:
        return "step"
    return quantity_label(spec, key)


def quantity_label(spec: NetworkSpec, key: Key) -> str:
    """The exercise's name of a quantity, with the few keys only hand-made tables show."""
    kind = key[0]
    if kind == "slope":
        return f"∂a/∂{canonical_label(spec, ('net', *key[1:]))}"
    if kind == "w_next":
        return f"new {canonical_label(spec, ('w', *key[1:]))}"
    if kind == "w_step":
        return f"η·{canonical_label(spec, ('grad_w', *key[1:]))}"
    if kind == "grad_act_term":
        l, j, k = key[1:]
        return f"δ_{spec.layers[l].name}{j + 1}·{canonical_label(spec, ('w', l, j, k))}"
    if kind == "iteration":
        return "step"
    return canonical_label(spec, key)


def _feeding_updates(cells: Cells, located: Located, table: Table) -> set[int]:
    """The lines the weight updates read, directly or through other lines."""
    start = set(located.weights) | {g for g in located.weights.values() if g is not None}
    found, frontier = set(start), list(start)
    while frontier:
        line = frontier.pop()
        for step in range(min(cells.steps, 3)):
            for source in cells.sources(line, step):
                if source.kind == "line" and source.line not in found:
                    found.add(source.line)
                    frontier.append(source.line)
    return found


__all__ = [
    "CONSTANT_KINDS",
    "ITERATION",
    "SIGNED",
    "Table",
    "label_names",
    "quantity_label",
    "recognise_table",
]
