"""The formula emitter: the only module that writes spreadsheet syntax into a sheet.

Each table column gets a formula template in which the rows are placeholders ("{this}",
"{prev}"), so a column's formula is built once and formatted per row. Every template mirrors
the reference engine's arithmetic term for term and in the same order.

An activation's own formula text (a and δ) is one of the facts activations.py keeps for it,
beside the engine arithmetic it mirrors, so that adding an activation touches one place;
this module is the one that calls it and puts it into cells.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import numpy as np

from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.layout import PREV, THIS, SheetLayout
from sheetgen.workbook.quantities import Key, bias_index
from sheetgen.workbook.spec import NetworkSpec


def activation_formula(activation: str, nets: list[str], j: int) -> str:
    """a_j = f(net), as the engine's forward: unit j's formula from the layer's net cells."""
    return ACTIVATIONS[activation].formula(nets, j)


def delta_formula(activation: str, grad: str, net: str, act: str) -> str:
    """δ = ∂E/∂a · f'(net), as the engine's backward (same factors, same order)."""
    return ACTIVATIONS[activation].slope_formula.format(grad=grad, net=net, act=act)


class FormulaEmitter:
    """Formula templates for one spec's table, given where its cells are."""

    def __init__(self, spec: NetworkSpec, layout: SheetLayout):
        self.spec = spec
        self.layout = layout

    def _cell(self, key: Key, which: str = THIS) -> str:
        return self.layout.row_template(key, which)

    def _below(self, l: int, s: int, k: int) -> str:
        """Activation k of the layer under layer l (an input cell for the first layer)."""
        if l == 0:
            return self.layout.input_ref(("input", s, k))
        return self._cell(("act", l - 1, s, k))

    def _bias(self, l: int, j: int) -> str:
        """The bias unit j of layer l adds: its column if trained, else its input cell."""
        u = bias_index(self.spec, l, j)
        if self.spec.layers[l].trained_bias:
            return self._cell(("b", l, u))
        return self.layout.input_ref(("init_b", l, u))

    def _over_samples(self, terms: list[str]) -> str:
        """A sum over the samples, averaged when E_total is a mean."""
        total = "+".join(terms)
        if self.spec.reduction == "mean" and self.spec.n_samples > 1:
            return f"=({total})/{self.spec.n_samples}"
        return "=" + total

    def template(self, key: Key, first_row: bool) -> str | None:
        """The formula template of a column, or None for a column of constants."""
        kind = key[0]
        spec = self.spec
        samples = range(spec.n_samples)
        if kind == "iteration":
            return None
        if kind in ("w", "b"):
            if first_row:
                return "=" + self.layout.input_ref((f"init_{kind}", *key[1:]))
            eta = self.layout.input_ref(("eta",))
            grad = (f"grad_{kind}", *key[1:])
            return f"={self._cell(key, PREV)}-{eta}*{self._cell(grad, PREV)}"
        if kind == "grad_w":
            l, j, k = key[1:]
            return self._over_samples(
                [f"{self._cell(('delta', l, s, j))}*{self._below(l, s, k)}" for s in samples]
            )
        if kind == "grad_b":
            l, u = key[1:]
            units = range(spec.layers[l].units) if spec.layers[l].shared_bias else [u]
            return self._over_samples([self._cell(("delta", l, s, j)) for s in samples for j in units])
        if kind == "E_total":
            return self._over_samples(
                [self._cell(("E", s, j)) for s in samples for j in range(spec.layers[-1].units)]
            )
        if kind == "E":
            s, j = key[1:]
            target = self.layout.input_ref(("target", s, j))
            act = self._cell(("act", len(spec.layers) - 1, s, j))
            if spec.loss == "cross_entropy":
                return f"=-{target}*LN({act})"
            return f"=0.5*({target}-{act})^2"
        l, s, j = key[1:]
        layer = spec.layers[l]
        if kind == "net":
            terms = [f"{self._cell(('w', l, j, k))}*{self._below(l, s, k)}" for k in range(layer.fan_in)]
            if layer.bias is not None:
                terms.append(self._bias(l, j))
            return "=" + "+".join(terms)
        if kind == "act":
            nets = [self._cell(("net", l, s, m)) for m in range(layer.units)]
            return "=" + activation_formula(layer.activation, nets, j)
        if kind == "grad_act":
            above = spec.layers[l + 1]
            return "=" + "+".join(
                f"{self._cell(('delta', l + 1, s, m))}*{self._cell(('w', l + 1, m, j))}"
                for m in range(above.units)
            )
        if kind == "delta":
            act = self._cell(("act", l, s, j))
            if ACTIVATIONS[layer.activation].vector:  # softmax with cross-entropy: δ = a - t
                return f"={act}-{self.layout.input_ref(('target', s, j))}"
            if l == len(spec.layers) - 1:
                grad = f"({act}-{self.layout.input_ref(('target', s, j))})"
            else:
                grad = self._cell(("grad_act", l, s, j))
            return "=" + delta_formula(layer.activation, grad, self._cell(("net", l, s, j)), act)
        raise KeyError(key)

    def formula(self, key: Key, iteration: int) -> str | None:
        """The formula of one cell (for tests and messages; the writer uses templates)."""
        template = self.template(key, first_row=iteration == 0)
        if template is None:
            return None
        return template.format_map(self.layout.template_rows(iteration))


def final_value(cell: str) -> str:
    """A reference to another sheet's cell."""
    return f"={cell}"


def updates_until_below(column_range: str, threshold_cell: str, never: str) -> str:
    """Array formula: the first iteration whose value is below the threshold, else `never`."""
    return f'{{=IFERROR(MATCH(TRUE,{column_range}<{threshold_cell},0)-1,"{never}")}}'


def text_literal(text: str) -> str:
    """Text as a formula's string literal: quotes doubled, so that text from a template stays
    text; longer text as several literals joined with &, since a spreadsheet takes at most 255
    characters in one."""
    pieces = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return "&".join('"' + piece.replace('"', '""') + '"' for piece in pieces)


def text_with_value(before: str, cell: str, after: str) -> str:
    """A title that names an input's value and follows it: before & cell & after."""
    return f"={text_literal(before)}&{cell}&{text_literal(after)}"


def number_text(value: float) -> str:
    """What a spreadsheet's & makes of a number, as LibreOffice writes it: up to 15
    significant digits, without an exponent below 1e16 (0.00001, not 1e-05): the cached value
    of a text_with_value."""
    text = f"{value:.15g}"
    if abs(value) >= 1e16:
        mantissa, exponent = text.split("e")
        return f"{mantissa}E{int(exponent):+04d}"
    return np.format_float_positional(float(text), trim="-")


# The MNIST sheets' summary cells (sheetgen.runs.mnist_sheets).


def sum_of(cells: str) -> str:
    """The total of a range (the model's parameters over its layers)."""
    return f"=SUM({cells})"


def percent_of_sum(part: str, cells: str) -> str:
    """`part` as a percentage of the sum of `cells`, or 0 where they sum to 0 (the recall of a
    digit the test set does not hold)."""
    return f"=IF(SUM({cells})=0,0,100*{part}/SUM({cells}))"


# The live CNN sheet ('MNIST live'). Each builder mirrors a step of sheetgen.runs.cnn.forward; cell
# references come from sheetgen.runs.live_layout.


def gallery_index(
    chooser: str, gallery: str, block: tuple[int, int], per_row: int, place: tuple[int, int]
) -> str:
    """INDEX into a gallery of equal blocks, per_row to a row, numbered from 1 left to right:
    the cell at `place` (1-based row and column within its block) of block number `chooser`."""
    rows, cols = block
    return (
        f"INDEX({gallery},{rows}*INT(({chooser}-1)/{per_row})+{place[0]},"
        f"{cols}*MOD({chooser}-1,{per_row})+{place[1]})"
    )


def stored_pixel(chooser: str, canvas: str, stored: str) -> str:
    """A pixel of the input grid, in [0, 1]: the canvas cell when the chooser is 0, else the
    chosen stored digit's grey level (`stored`, a gallery_index, 0-255) over 255. The grid
    stays formulas: drawing happens on the canvas, so no stored digit is ever typed over."""
    return f"=IF({chooser}=0,{canvas},{stored}/255)"


def stored_label(chooser: str, stored: str, drawn: str) -> str:
    """The true label of the chosen stored digit (`stored`, a gallery_index), or the text
    `drawn` for the canvas."""
    return f'=IF({chooser}=0,"{drawn}",{stored})'


def blank_note(grid: str, threshold: float, note: str) -> str:
    """`note` while the grid holds less ink than `threshold` (its pixels' sum), else nothing:
    the network never saw a blank image, so its answer to one means nothing."""
    return f'=IF(SUM({grid})<{threshold:g},{text_literal(note)},"")'


def normalize(pixel: str, mean: str, std: str) -> str:
    """(x - mean) / std, the model's first layer."""
    return f"=({pixel}-{mean})/{std}"


def conv_relu(windows: list[tuple[str, str]], shift: str) -> str:
    """ReLU of a 3x3 convolution with BatchNorm folded in: one SUMPRODUCT of the input window
    and the kernel per input channel, plus the channel's shift."""
    terms = "+".join(f"SUMPRODUCT({window},{kernel})" for window, kernel in windows)
    return "=" + activation_formula("relu", [f"{terms}+{shift}"], 0)


def max_of(cells: str) -> str:
    """The 2x2 max-pool of one window."""
    return f"=MAX({cells})"


def average_of(cells: str) -> str:
    """Global average pooling of one feature map."""
    return f"=AVERAGE({cells})"


def linear(inputs: str, weights: str, bias: str) -> str:
    """One logit: the averages against one digit's column of weights, plus its bias."""
    return f"=SUMPRODUCT({inputs},{weights})+{bias}"


def softmax(logits: list[str], j: int) -> str:
    """Probability j of the shifted softmax, as the backprop sheets' softmax layer."""
    return "=" + activation_formula("softmax", logits, j)


def predicted_digit(probabilities: str) -> str:
    """The digit with the largest probability (the first one on a tie, as argmax)."""
    return f"=MATCH(MAX({probabilities}),{probabilities},0)-1"


def largest(probabilities: str) -> str:
    return f"=MAX({probabilities})"


def is_largest(probability: str, probabilities: str) -> str:
    """A conditional format's test: this row's probability is the winning one."""
    return f"={probability}=MAX({probabilities})"


# A formula's terms, for judging how far a recalculated value may fairly be from the engine's.
_RELATIVE_REF = re.compile(r"\$?([A-Z]{1,3})\{(this|prev)\}")
_ABSOLUTE_REF = re.compile(r"\$([A-Z]{1,3})\$([0-9]+)")
_MAGNITUDE_FUNCTIONS = {
    "EXP": np.exp,
    "LN": np.log,
    "TANH": np.tanh,
    "MAX": lambda *args: functools.reduce(np.maximum, args),
    "IF": lambda condition, then, otherwise: np.where(condition, then, otherwise),
}


def term_magnitude(
    template: str, column: Callable[[str, str], np.ndarray], constant: Callable[[str, int], float]
) -> np.ndarray:
    """How large the terms of a formula are, cell by cell: the template evaluated with every
    reference replaced by its absolute value and every minus by a plus.

    A difference of two nearly equal numbers (δ = (a - t)·a·(1 - a) as a approaches t) keeps
    the rounding of its terms, not of its result: LibreOffice may give 0 where the engine has
    4e-16. Measured against this magnitude, such a cell agrees, while a wrong formula, off by
    an amount comparable to its terms, still does not.

    Args:
        template: a FormulaEmitter template ("=(O{this}-$E$5)*O{this}*(1-O{this})").
        column: (column letters, "this" or "prev") -> the column's values on the rows judged.
        constant: (column letters, 1-based row) -> the value of an absolute reference.

    Returns:
        The magnitudes, an array like column()'s (NaN where they cannot be evaluated).
    """
    names: dict[str, object] = dict(_MAGNITUDE_FUNCTIONS)

    def relative(match: re.Match) -> str:
        name = f"r_{match.group(1)}_{match.group(2)}"
        names[name] = np.abs(np.asarray(column(match.group(1), match.group(2)), dtype=float))
        return name

    def absolute(match: re.Match) -> str:
        name = f"k_{match.group(1)}_{match.group(2)}"
        names[name] = abs(float(constant(match.group(1), int(match.group(2)))))
        return name

    expression = _ABSOLUTE_REF.sub(absolute, _RELATIVE_REF.sub(relative, template.lstrip("=")))
    # every minus a plus (a literal's exponent, 1E-05, keeps its sign), ^ Python's power
    expression = re.sub(r"(?<![0-9][Ee])-", "+", expression).replace("^", "**")
    with np.errstate(all="ignore"):
        # the names hold only our own arrays and numpy functions; templates are our own text
        value = eval(expression, {"__builtins__": {}}, names)
    return np.abs(np.asarray(value, dtype=float))
