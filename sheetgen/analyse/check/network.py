"""Stage 3 of check, first half: the network a located table trains, read from what it computes.

The weights are known (locate.py); what each one feeds is read from the formulas that use it:
a cell whose value is Σ w·x (+ b), or an activation of that, over weights of the same step is a
unit, its x are the layer's inputs (cells or repeated columns, for the first layer; the units
below's activations, above it), its b a fixed bias (Mazur's). Units give the layers' sizes and
number the weights as the exercise does (w1, w2 into h1 from i1, i2; units in the order of their
weights; inputs in sheet order), whatever the labels say. The targets are the cells among those
the table reads whose values make the loss and output columns come out right.

Typed numbers have no formulas: there every network shape that the weights' count allows, with
their numbering unit by unit or input by input, is tried on the numbers, with the inputs,
targets and biases among the constants the table holds or labels, and the one that explains most
columns wins. Labels (w1 … w8 over the weights) decide only between equals.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from xlsxwriter.utility import xl_rowcol_to_cell

from sheetgen.analyse.check import labels as hints
from sheetgen.analyse.check.cells import Cells, Source
from sheetgen.analyse.check.locate import ONE_STEP, Constant, Located
from sheetgen.analyse.check.recompute import reference_rows
from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.engine import weighted_sum
from sheetgen.workbook.quantities import Key
from sheetgen.workbook.spec import NetworkSpec, spec_from_dict

# Activations tried on a unit's values, the exercise's first (it wins ties).
# the activations check reads a unit's values as (softmax, a vector one, is not among them)
READ_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
_ACTIVATIONS = READ_ACTIVATIONS
# Largest layers tried for a table of typed numbers.
_LARGEST = 8
# Shapes and inputs tried on a table's numbers at most, and the constants tried as its inputs
# (nearest first): enough for any table a person types, and a bound on the time a sheet of
# many numbers can take.
_MOST_TRIES = 2000
_MOST_CANDIDATES = 12


class NotANetwork(ValueError):
    """The table's weights do not make a network check can recompute; the message says why."""


@dataclass
class Network:
    """What a table trains: its shape, what each weight is, where the data come from."""

    spec: NetworkSpec
    keys: dict[int, Key]  # line -> quantity, for weights and lines of inputs, targets, biases, η
    constants: dict[Key, Constant]  # inputs, targets, biases, η held outside the table's lines
    tolerance: float  # relative agreement that makes a line a quantity (the table's rounding)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Unit:
    """A cell that computes Σ w·x (+ b) of a step's weights, or an activation of that."""

    line: int
    pairs: list[tuple[int, Source]]  # (weight line, what it multiplies)
    bias: Source | None
    activation: str | None  # None: the net input itself


def read_network(table: Located, cells: Cells) -> Network:
    """The network a table trains.

    Raises:
        NotANetwork: the weights feed nothing check can read, or the data are not found.
    """
    tolerance = _tolerance(cells)
    weights = sorted(table.weights, key=lambda i: table.lines[i].cells[0])
    structure = _from_formulas(table, cells, weights, tolerance)
    if structure is None:
        structure = _from_numbers(table, cells, weights, tolerance)
    if structure is None:
        raise NotANetwork(
            f"the {len(weights)} weights feed nothing check can recompute: no cell is Σ w·x of "
            "them and the table's inputs, with or without an activation (check reads one sample "
            "per step; a table of several samples per row is not read)"
        )
    sizes, numbering, inputs, biases, activations, outputs = structure
    spec = _spec(sizes, activations, {l: len(b) for l, b in biases.items()})
    keys: dict[int, Key] = {line: key for line, key in numbering.items()}
    constants: dict[Key, Constant] = {}
    for k, source in enumerate(inputs):
        _place(table, cells, ("input", 0, k), source, keys, constants, f"i{k + 1}")
    for l, sources in biases.items():
        for u, source in enumerate(sources):
            label = f"b{l + 1}" if len(sources) == 1 else f"b{l + 1}{u + 1}"
            _place(table, cells, ("init_b", l, u), source, keys, constants, label)
    if table.eta_line is not None:
        keys[table.eta_line] = ("eta",)
    elif table.eta is not None:
        constants[("eta",)] = table.eta
    targets = _targets(table, cells, spec, keys, constants, tolerance, outputs)
    if targets is None:
        raise NotANetwork(
            "no cells hold the targets: no constant the table reads makes its loss or output "
            "columns come out right"
        )
    for j, source in enumerate(targets):
        _place(table, cells, ("target", 0, j), source, keys, constants, f"t{j + 1}")
    return Network(spec, keys, constants, tolerance)


def _tolerance(cells: Cells) -> float:
    """How closely a line must agree with a quantity to be it: 1e-7, or looser where the
    table's numbers are rounded (typed, or stored with few digits)."""
    halves = []
    for values in cells.values:
        for value in values[:8]:
            if math.isfinite(value) and value != 0:
                halves.append(_relative_half_unit(float(value)))
    rounding = float(np.median(halves)) if halves else 0.0
    return max(1e-7, 50 * rounding)


def _relative_half_unit(value: float) -> float:
    digits = len(repr(abs(value)).split("e")[0].replace(".", "").lstrip("0")) or 1
    return 0.5 * 10.0 ** (1 - digits)


def _place(table, cells, key, source: Source, keys, constants, label) -> None:
    """A data quantity held by a line (a repeated column), a cell, or a typed number."""
    if source.kind == "line" and source.line in keys:  # two targets of one value, one line
        row, col = table.lines[source.line].cells[0]
        where = f"{table.sheet}!{xl_rowcol_to_cell(row, col)}"
        constants[key] = Constant(float(cells.values[source.line][0]), where, label)
    elif source.kind == "line":
        keys[source.line] = key
    elif source.kind == "cell":
        where = f"{source.sheet}!{xl_rowcol_to_cell(source.row, source.col)}"
        sheet = cells.book.sheets[source.sheet].values
        constants[key] = Constant(
            source.value, where, hints.label_for(sheet, source.row, source.col) or label
        )
    else:
        what = "the net formulas" if key[0] == "init_b" else "the formulas"
        constants[key] = Constant(source.value, f"typed into {what}", label)


def _spec(sizes: list[int], activations: list[str], biases: dict[int, int]) -> NetworkSpec:
    """A network of these layer sizes (inputs first) with placeholder numbers."""
    layers = []
    for l in range(1, len(sizes)):
        layer = {
            "name": "h" if l < len(sizes) - 1 else "o",
            "units": sizes[l],
            "activation": activations[l - 1],
            "weights": [[0.0] * sizes[l - 1]] * sizes[l],
        }
        if len(sizes) > 3 and l < len(sizes) - 1:
            layer["name"] = f"h{l}_"
        if biases.get(l - 1):
            layer["bias"] = 0.0 if biases[l - 1] == 1 else [0.0] * sizes[l]
            layer["train_bias"] = False
        layers.append(layer)
    return spec_from_dict(
        {
            "data": {"inputs": [[0.0] * sizes[0]], "targets": [[0.0] * sizes[-1]]},
            "layers": layers,
            "training": {"learning_rates": [1.0], "iterations": 1},
        }
    )


# ---------------------------------------------------------------------------------------------
# From the formulas: the cells that compute Σ w·x


def _steps_to_read(table: Located, cells: Cells) -> list[int]:
    steps = list(range(min(cells.steps, 4)))
    return steps[1:] + steps[:1] if len(steps) > 1 else steps  # the first row may be special


def _from_formulas(table: Located, cells: Cells, weights: list[int], tolerance: float):
    weight_set = set(weights)
    gradients = {g for g in table.weights.values() if g is not None}
    units: list[_Unit] = []
    for line in range(len(table.lines)):
        if line in weight_set or line in gradients or not cells.has_formulas(line):
            continue
        unit = _unit(cells, line, weight_set, tolerance)
        if unit is not None:
            units.append(unit)
    if not units:
        return None
    # the layers, from the inputs up: a unit reads constants (layer 0) or the activations of
    # the units of the layer below
    layers: list[list[_Unit]] = []
    acts: dict[int, int] = {}  # line of an activation -> the unit (index into units) it is
    placed: set[int] = set()
    while True:
        below = set(acts) if layers else None
        layer = []
        for index, unit in enumerate(units):
            if index in placed:
                continue
            if below is None:
                fits = all(_constant_source(cells, x) for _, x in unit.pairs)
            else:
                fits = all(x.kind == "line" and x.offset == 0 and x.line in below for _, x in unit.pairs)
            if fits:
                layer.append(index)
        if not layer:
            break
        placed |= set(layer)
        merged = _merge(units, layer)
        layers.append(merged)
        acts = {line: 0 for unit in merged for line, _ in _activations_of(cells, units, unit)}
    owned = [w for layer in layers for unit in layer for w, _ in unit.pairs]
    if sorted(owned) != sorted(weights) or len(owned) != len(set(owned)):
        return None
    return _assemble(cells, layers, weights, units)


def _constant_source(cells: Cells, source: Source) -> bool:
    """Data: a cell outside the table, a number typed into the formula, or a line that holds
    one number throughout and computes it from no other line (in a single step every line
    holds one number: only what is typed or copied from outside is data)."""
    if source.kind == "line":
        return source.offset == 0 and cells.constant(source.line) and not _computed(cells, source.line)
    return True


def _computed(cells: Cells, line: int) -> bool:
    """Whether a line's formulas read another line of the table."""
    return any(
        x.kind == "line" and x.line != line
        for step in range(min(cells.steps, 2))
        for x in cells.sources(line, step)
    )


def _unit(cells: Cells, line: int, weights: set[int], tolerance: float) -> _Unit | None:
    """The line as Σ w·x (+ b) of its step's weights, or an activation of it, if it is one on
    the steps read."""
    for step in _steps_to_read(cells.table, cells):
        sources = cells.sources(line, step)
        if not sources:
            continue
        own = [i for i, x in enumerate(sources) if x.kind == "line" and x.offset == 0 and x.line in weights]
        if not own or len(own) > 3 * _LARGEST:
            return None
        others = [i for i, x in enumerate(sources) if i not in own]
        pairings = _pairings(cells, line, step, sources, own, others)
        for pairing, bias in pairings:
            pairs = [(sources[w].line, sources[x]) for w, x in pairing]
            bias_source = (
                sources[bias] if bias is not None else _literal_bias(cells, line, step, len(sources))
            )
            for activation in (None, *_ACTIVATIONS):
                if _unit_fits(cells, line, pairs, bias_source, activation, tolerance):
                    return _Unit(line, pairs, bias_source, activation)
                if (
                    bias_source is not None
                    and bias is None
                    and _unit_fits(cells, line, pairs, None, activation, tolerance)
                ):
                    return _Unit(line, pairs, None, activation)
        return None
    return None


def _pairings(cells, line, step, sources, own, others):
    """Ways to pair the weights a formula reads with the other references: the products it
    writes (E4*C4 + F4*D4) first, then every pairing of a few."""
    out = []
    products = cells.products(line, step)
    paired = {}
    for a, b in products:
        if a in own and b in others:
            paired[a] = b
        elif b in own and a in others:
            paired[b] = a
    if set(paired) == set(own) and len(set(paired.values())) == len(own):
        rest = [i for i in others if i not in paired.values()]
        out.append((sorted(paired.items()), rest[0] if len(rest) == 1 else None))
    if len(own) <= 4 and len(own) <= len(others) <= len(own) + 1:
        for chosen in itertools.permutations(others, len(own)):
            rest = [i for i in others if i not in chosen]
            out.append((list(zip(own, chosen)), rest[0] if rest else None))
    return out


def _literal_bias(cells, line, step, references) -> Source | None:
    """A bias typed into a net's formula (=E3*C3+F3*D3+0.35)."""
    from sheetgen.analyse.check.refs import literals

    numbers = [n for n in literals(cells.formula(line, step)) if n not in (0.0, 1.0, 2.0, 0.5)]
    return Source("literal", value=numbers[0]) if len(numbers) == 1 else None


def _unit_fits(cells: Cells, line: int, pairs, bias: Source | None, activation, tolerance) -> bool:
    got = cells.values[line]
    total = 0.0
    for w, x in pairs:
        total = total + cells.values[w] * _shifted(cells, x)
    if bias is not None:
        total = total + _shifted(cells, bias)
    with np.errstate(all="ignore"):
        expected = total if activation is None else ACTIVATIONS[activation].forward(np.asarray(total, float))
    return _agrees(got, expected, tolerance, first=True) or _agrees(got, expected, tolerance)


def _shifted(cells: Cells, source: Source):
    if source.kind == "line":
        values = cells.values[source.line]
        if source.offset == 0:
            return values
        out = np.full(values.shape, np.nan)
        if source.offset < 0:
            out[-source.offset :] = values[: source.offset]
        return out
    return source.value


def _agrees(got, expected, tolerance: float, first: bool = False) -> bool:
    """Whether a line agrees with a quantity: on its first few steps (first=True), or on
    nearly all."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.broadcast_to(np.asarray(expected, dtype=np.float64), got.shape)
    if first:  # the first steps on their own scale
        got, expected = got[:4], expected[:4]
    with np.errstate(all="ignore"):
        # a floor of a hundredth of the typical finite value (an infinity, or one huge number
        # typed in, is no scale for the rest)
        finite = np.abs(expected[np.isfinite(expected)])
        scale = np.maximum(np.abs(expected), 1e-2 * float(np.median(finite)) if finite.size else 0.0)
        scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
        close = np.abs(got - expected) <= tolerance * scale
    usable = np.isfinite(got) & np.isfinite(expected)
    if not usable.any():
        return False
    if first:
        return bool(close[usable].all())
    return bool(close[usable].sum() >= max(1, 0.8 * usable.sum()))


def _merge(units: list[_Unit], layer: list[int]) -> list[_Unit]:
    """A layer's units, one per set of weights (a net and an activation that writes the same
    sum out again are one unit), ordered by their first weight."""
    by_weights: dict[frozenset, _Unit] = {}
    for index in layer:
        unit = units[index]
        weights = frozenset(w for w, _ in unit.pairs)
        kept = by_weights.get(weights)
        if kept is None or (kept.activation is not None and unit.activation is None):
            by_weights[weights] = unit
    return sorted(by_weights.values(), key=lambda u: min(w for w, _ in u.pairs))


def _activations_of(cells: Cells, units: list[_Unit], unit: _Unit) -> list[tuple[int, str]]:
    """The lines that are this unit's activation, with the function each applies: a line of
    f(its net line), or a unit with the same weights that computes the activation inline."""
    weights = frozenset(w for w, _ in unit.pairs)
    found = [
        (u.line, u.activation)
        for u in units
        if u.activation is not None and frozenset(w for w, _ in u.pairs) == weights
    ]
    if unit.activation is None:
        step = min(1, cells.steps - 1)
        for line in range(len(cells.table.lines)):
            sources = [x for x in cells.sources(line, step) if x.kind == "line"]
            if not any(x.line == unit.line and x.offset == 0 for x in sources):
                continue
            match = _activation_of(cells.values[line], cells.values[unit.line])
            if match is not None:
                found.append((line, match))
    return found


# How closely a line must follow f(net) to be read as the unit's activation: exactly, or
# near enough that it is the activation with a mistake in it (2.718^x for e^x, ROUND(…, 4)),
# which the judge then names.
_ACTIVATION_CLOSE = (1e-7, 1e-3)


def _activation_of(values: np.ndarray, nets: np.ndarray) -> str | None:
    """The activation a line applies to a net line, if it applies one."""
    with np.errstate(all="ignore"):
        expected = {name: ACTIVATIONS[name].forward(nets.copy()) for name in _ACTIVATIONS}
    # the first step says which function it is (a sheet of zeros further down, as Excel leaves
    # a circle, fits tanh and ReLU as well); then most steps, for a first step gone wrong
    for tolerance in _ACTIVATION_CLOSE:
        for name in _ACTIVATIONS:
            if _agrees(values[:1], expected[name][:1], tolerance, first=True):
                return name
    for tolerance in _ACTIVATION_CLOSE:
        for name in _ACTIVATIONS:
            if _agrees(values, expected[name], tolerance):
                return name
    return None


def _assemble(cells: Cells, layers: list[list[_Unit]], weights: list[int], units: list[_Unit]):
    """Sizes, weight numbering, inputs, biases and activations from the units found."""
    inputs: list[Source] = []
    seen: set[tuple] = set()
    for unit in layers[0]:
        for _, x in unit.pairs:
            if x.identity not in seen:
                seen.add(x.identity)
                inputs.append(x)
    inputs.sort(key=lambda x: _position(cells, x))
    input_index = {x.identity: k for k, x in enumerate(inputs)}
    sizes = [len(inputs)] + [len(layer) for layer in layers]
    numbering: dict[int, Key] = {}
    activations: list[str] = []
    below: dict[int, int] = {}  # activation line of the layer below -> its unit
    for l, layer in enumerate(layers):
        if l == 0:
            k_of = lambda x: input_index.get(x.identity, -1)  # noqa: E731
        else:
            k_of = lambda x, below=below: below.get(x.line, -1)  # noqa: E731
        by_rank = _rank_order_agrees(layer, k_of)
        for j, unit in enumerate(layer):
            if len(unit.pairs) != sizes[l]:
                return None
            ranked = sorted(w for w, _ in unit.pairs)
            for w, x in unit.pairs:
                k = ranked.index(w) if by_rank else k_of(x)
                if k < 0:
                    return None
                numbering[w] = ("w", l, j, k)
        below, names = {}, []
        for j, unit in enumerate(layer):
            for line, name in _activations_of(cells, units, unit):
                below[line] = j
                names.append(name)
        activations.append(max(_ACTIVATIONS, key=lambda n: (names.count(n), n == "sigmoid")))
    if len(set(numbering.values())) != len(numbering):
        return None
    biases: dict[int, list[Source]] = {}
    for l, layer in enumerate(layers):
        sources = [unit.bias for unit in layer]
        if all(s is None for s in sources):
            continue
        given = [s for s in sources if s is not None]
        if len({s.identity for s in given}) == 1 or len({_value(cells, s) for s in given}) == 1:
            biases[l] = [given[0]]  # one bias for the layer (a net that leaves it out is wrong)
        elif len(given) == len(sources):
            biases[l] = sources
        else:
            return None
    outputs = [next((line for line, j in below.items() if j == u), None) for u in range(sizes[-1])]
    return sizes, numbering, inputs, biases, activations, outputs


def _value(cells: Cells, source: Source) -> float:
    return float(cells.values[source.line][0]) if source.kind == "line" else source.value


def _position(cells: Cells, source: Source) -> tuple:
    if source.kind == "line":
        return (0, *cells.table.lines[source.line].cells[0])
    if source.kind == "cell":
        return (0 if source.sheet == cells.table.sheet else 1, source.row, source.col)
    return (2, 0, 0)


def _rank_order_agrees(layer: list[_Unit], k_of) -> bool:
    """Whether a layer's units mostly pair their weights, in sheet order, with the inputs in
    sheet order: then that order numbers them (a unit that pairs otherwise holds a mistake,
    two inputs swapped); else what the formulas pair does."""
    agree = 0
    for unit in layer:
        ranked = sorted(w for w, _ in unit.pairs)
        if all(ranked.index(w) == k_of(x) for w, x in unit.pairs):
            agree += 1
    return agree * 2 >= len(layer)


# ---------------------------------------------------------------------------------------------
# From the numbers: shapes tried


def _from_numbers(table: Located, cells: Cells, weights: list[int], tolerance: float):
    """The shape, numbering and inputs that explain most of a table's lines (typed numbers, or
    formulas too odd to read); None when nothing explains any."""
    labelled = _label_numbering(table, weights)
    orders = [labelled] if labelled else []
    orders.append(weights)
    candidates = _constant_candidates(table, cells, weights)[:_MOST_CANDIDATES]
    best, best_score = None, 0
    n = len(weights)
    tried = 0
    for n_in in range(1, _LARGEST + 1):
        for hidden in range(1, _LARGEST + 1):
            if (n - n_in * hidden) % hidden or n - n_in * hidden <= 0:
                continue
            n_out = (n - n_in * hidden) // hidden
            if n_out > _LARGEST or len(candidates) < n_in:
                continue
            for order in orders:
                for by_unit in (True, False):
                    numbering = _numbering(order, [n_in, hidden, n_out], by_unit)
                    for inputs in itertools.combinations(candidates, n_in):
                        tried += 1
                        if tried > (_MOST_TRIES if table.typed else _MOST_TRIES // 10):
                            break
                        score = _forward_score(
                            cells, numbering, [n_in, hidden, n_out], list(inputs), tolerance
                        )
                        rank = (score, order is labelled, by_unit)
                        if score > 0 and (best is None or rank > best_score):
                            best, best_score = (numbering, [n_in, hidden, n_out], list(inputs)), rank
    if best is None:
        return None
    numbering, sizes, inputs = best
    activations = ["sigmoid"] * (len(sizes) - 1)
    return sizes, numbering, inputs, {}, activations, [None] * sizes[-1]


def _label_numbering(table: Located, weights: list[int]) -> list[int] | None:
    numbers = {}
    for w in weights:
        key = hints.parse_label(table.lines[w].label)
        if key is None or key[0] != "w#":
            return None
        numbers[w] = key[1]
    if sorted(numbers.values()) != list(range(1, len(weights) + 1)):
        return None
    return sorted(weights, key=numbers.get)


def _numbering(order: list[int], sizes: list[int], by_unit: bool) -> dict[int, Key]:
    out = {}
    position = 0
    for l in range(len(sizes) - 1):
        units, fan_in = sizes[l + 1], sizes[l]
        for i in range(units * fan_in):
            j, k = divmod(i, fan_in) if by_unit else (i % units, i // units)
            out[order[position]] = ("w", l, j, k)
            position += 1
    return out


def _constant_candidates(table: Located, cells: Cells, weights: list[int]) -> list[Source]:
    """Inputs a table may use: lines that repeat one number, the cells its formulas read
    outside it, and labelled inputs above it."""
    found: dict[tuple, Source] = {}
    for line in range(len(table.lines)):
        if line in weights or line in table.weights.values() or line == table.eta_line:
            continue
        if cells.constant(line) and (table.layout != ONE_STEP or not cells.has_formulas(line)):
            source = Source("line", line=line)
            found.setdefault(source.identity, source)
    for line in range(len(table.lines)):
        for step in range(min(2, cells.steps)):
            for source in cells.sources(line, step):
                if source.kind == "cell" and math.isfinite(source.value):
                    found.setdefault(source.identity, source)
    sheet = cells.sheet
    top = min(cell[0] for line in table.lines for cell in line.cells[:1])
    for k in range(_LARGEST):
        constant = hints.labelled_constant(sheet.values, ("input", 0, k), top, table.sheet)
        if constant is None:
            break
        ref = constant.cell.split("!", 1)[1]
        from xlsxwriter.utility import xl_cell_to_rowcol

        row, col = xl_cell_to_rowcol(ref)
        source = Source("cell", sheet=table.sheet, row=row, col=col, value=constant.value)
        found.setdefault(source.identity, source)
    eta = table.eta
    return sorted(
        (
            s
            for s in found.values()
            if not (
                eta is not None
                and s.kind == "cell"
                and eta.cell.endswith(f"!{xl_rowcol_to_cell(s.row, s.col)}")
                and eta.cell.startswith(f"{s.sheet}!")
            )
        ),
        key=lambda s: _position(cells, s),
    )


def _forward_score(cells: Cells, numbering, sizes, inputs: list[Source], tolerance: float) -> int:
    """How many lines are the first layer's nets or activations with these inputs."""
    w_of = {key: line for line, key in numbering.items()}
    x = np.stack([np.broadcast_to(_shifted(cells, s), (cells.steps,)) for s in inputs], axis=-1)
    weights = np.stack(
        [
            np.stack([cells.values[w_of[("w", 0, j, k)]] for k in range(sizes[0])], -1)
            for j in range(sizes[1])
        ],
        axis=1,
    )
    with np.errstate(all="ignore"):
        nets = weighted_sum(weights, x[:, None, :])[:, 0, :]
        acts = ACTIVATIONS["sigmoid"].forward(nets)
    score = 0
    for line, values in enumerate(cells.values):
        if line in numbering:
            continue
        for j in range(sizes[1]):
            if _agrees(values, nets[:, j], tolerance) or _agrees(values, acts[:, j], tolerance):
                score += 1
                break
    return score


# ---------------------------------------------------------------------------------------------
# The targets


def _targets(
    table: Located, cells: Cells, spec: NetworkSpec, keys, constants, tolerance, output_lines=None
) -> list[Source] | None:
    """The targets: among the constants the table reads (not its inputs, biases or η), the
    ones that make most lines its losses, output errors or gradients; distinct ones first,
    in sheet order among equals."""
    outputs = spec.layers[-1].units
    used = {("line", line) for line in keys} | {("cell", *_cell_of(c)) for c in constants.values()}
    weights = [line for line, key in keys.items() if key[0] == "w"]
    candidates = [s for s in _constant_candidates(table, cells, weights) if s.identity not in used]
    top = min(line.cells[0][0] for line in table.lines)
    for j in range(outputs):
        labelled = hints.labelled_constant(cells.sheet.values, ("target", 0, j), top, table.sheet)
        if labelled is not None:
            source = Source(
                "cell",
                sheet=table.sheet,
                row=_cell_of(labelled)[1],
                col=_cell_of(labelled)[2],
                value=labelled.value,
            )
            if source.identity not in used and source.identity not in {c.identity for c in candidates}:
                candidates.append(source)
    candidates += [Source("literal", value=v) for v in _literals_read(cells) if v not in (0.0, 1.0, 0.5, 2.0)]
    best, best_score = None, 0
    for choices in (
        itertools.permutations(candidates, outputs),
        itertools.product(candidates, repeat=outputs),
    ):
        for count, choice in enumerate(choices):
            if count > 5000:
                break
            score = _target_score(
                cells, spec, keys, constants, list(choice), tolerance
            ) + _local_target_score(cells, keys, output_lines, list(choice), tolerance)
            if score > best_score:
                best, best_score = list(choice), score
        if best is not None:
            return best
    labelled = [
        hints.labelled_constant(cells.sheet.values, ("target", 0, j), top, table.sheet)
        for j in range(outputs)
    ]
    if all(c is not None for c in labelled):  # a mistake everywhere: the labels say which cells
        return [
            Source("cell", sheet=table.sheet, row=_cell_of(c)[1], col=_cell_of(c)[2], value=c.value)
            for c in labelled
        ]
    return None


def _cell_of(constant: Constant) -> tuple:
    """(sheet, row, column) of a constant held by a cell ((None, -1, -1) for a typed one)."""
    from xlsxwriter.utility import xl_cell_to_rowcol

    if "!" not in constant.cell:
        return (None, -1, -1)
    sheet, ref = constant.cell.rsplit("!", 1)
    try:
        return (sheet, *xl_cell_to_rowcol(ref))
    except (ValueError, AttributeError):
        return (None, -1, -1)


def _literals_read(cells: Cells) -> list[float]:
    from sheetgen.analyse.check.refs import literals

    found = set()
    for line in range(len(cells.table.lines)):
        formula = cells.formula(line, min(1, cells.steps - 1))
        found |= set(literals(formula))
    return sorted(found)


def _target_score(cells: Cells, spec, keys, constants, targets: list[Source], tolerance) -> int:
    source: dict[Key, np.ndarray] = {}
    for line, key in keys.items():
        source[key] = cells.values[line]
    for key, constant in constants.items():
        source[key] = np.full(cells.steps, constant.value)
    for j, target in enumerate(targets):
        source[("target", 0, j)] = np.broadcast_to(_shifted(cells, target), (cells.steps,)).astype(float)
    try:
        reference = reference_rows(spec, lambda k: source[k], cells.steps)
    except KeyError:
        return 0
    last = len(spec.layers) - 1
    wanted = [
        k
        for k in reference
        if k[0] in ("E", "E_total") or (k[0] in ("delta", "grad_act") and k[1] == last) or k[0] == "grad_w"
    ]
    quantities = [np.broadcast_to(np.asarray(reference[k], dtype=np.float64), (cells.steps,)) for k in wanted]
    return _lines_agreeing(
        cells, [line for line in range(len(cells.values)) if line not in keys], quantities, tolerance
    )


def _lines_agreeing(cells: Cells, lines: list[int], quantities: list, tolerance: float) -> int:
    """How many of the lines agree with one of the quantities, either sign (_agrees_somewhere)."""
    if not lines or not quantities:
        return 0
    expected = np.stack([sign * np.asarray(q, dtype=np.float64) for q in quantities for sign in (1, -1)])
    got = np.stack([np.asarray(cells.values[line], dtype=np.float64) for line in lines])
    return int(_agreement(got, expected, tolerance).any(axis=1).sum())


def _agreement(got, expected, tolerance: float) -> np.ndarray:
    """_agrees_somewhere for every pair at once: lines `got` (n, steps) against quantities
    `expected` (m, steps); True at (i, k) where line i agrees with quantity k on nearly all
    steps, on the first few, or on the first alone, judged exactly as _agrees judges one pair.
    The targets' search scores every choice of target cells this way: one pass of array
    arithmetic instead of a Python loop over thousands of pairs (measured: 4.6 s of a
    40-row workbook's check went to that loop)."""
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)

    def agree(g: np.ndarray, e: np.ndarray, nearly_all: bool) -> np.ndarray:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a quantity with no finite value
            typical = np.nanmedian(np.where(np.isfinite(e), np.abs(e), np.nan), axis=1, keepdims=True)
            floor = np.where(np.isfinite(typical), 1e-2 * typical, 0.0)
            scale = np.maximum(np.abs(e), floor)
            scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
            close = np.abs(g[:, None, :] - e[None, :, :]) <= tolerance * scale[None, :, :]
        usable = np.isfinite(g)[:, None, :] & np.isfinite(e)[None, :, :]
        count = usable.sum(axis=2)
        if nearly_all:
            return (count > 0) & ((close & usable).sum(axis=2) >= np.maximum(1, 0.8 * count))
        return (count > 0) & ~(usable & ~close).any(axis=2)

    return (
        agree(got, expected, nearly_all=True)
        | agree(got[:, :4], expected[:, :4], nearly_all=False)
        | agree(got[:, :1], expected[:, :1], nearly_all=False)
    )


def _agrees_somewhere(got, expected, tolerance: float) -> bool:
    """Agreement on nearly all steps, on the first few, or on the first alone: a mistake made
    later in the table (a net reading the row above's weight from the second step) leaves the
    first step to say what the targets are."""
    return (
        _agrees(got, expected, tolerance)
        or _agrees(got, expected, tolerance, first=True)
        or _agrees(got[:1], np.asarray(expected)[:1], tolerance, first=True)
    )


def _local_target_score(cells: Cells, keys, outputs: list, targets: list[Source], tolerance) -> int:
    """How many lines are a loss, ∂E/∂a or δ of the table's own output columns with these
    targets: what says the targets where the forward pass itself holds a mistake (tanh for σ
    everywhere), so that nothing computed from the weights agrees."""
    if not outputs or any(line is None for line in outputs):
        return 0
    wanted = []
    total = 0.0
    for line, target in zip(outputs, targets):
        a = cells.values[line]
        t = np.broadcast_to(_shifted(cells, target), a.shape).astype(float)
        with np.errstate(all="ignore"):
            d = a - t
            wanted += [0.5 * d * d, d, d * a * (1 - a)]
            total = total + 0.5 * d * d
    wanted.append(total)
    lines = [line for line in range(len(cells.values)) if line not in keys and line not in outputs]
    return _lines_agreeing(cells, lines, wanted, tolerance)
