"""Every activation function, each defined once with all its facts.

One `Activation` per name holds what the rest of sheetgen needs to know about it: the reference
engine's forward and backward (which `sheetgen check` also recomputes hand-made tables with),
the spreadsheet formula text of a and of δ, and the equations a student reads. Everything else
looks the activation up in `ACTIVATIONS` by name, so adding one means adding an entry here (and its
tests); nothing else changes.

The spreadsheet text is kept here, beside the arithmetic it must match term for term, so that
one activation reads in one place; formulas.py stays the only module that puts it into a sheet.

    >>> ACTIVATIONS["sigmoid"].slope_formula.format(grad="G5", net="C5", act="D5")
    'G5*D5*(1-D5)'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# Past this, EXP(x) overflows a double in Excel and LibreOffice and the cell shows #NUM!.
EXP_LIMIT = 709.0


def libm(function, values: np.ndarray) -> np.ndarray:
    """Apply a C-library function elementwise. NumPy's own SIMD exp and tanh differ from the C
    library's in the last bit now and then; spreadsheets call the C library, and a sheet that
    escapes a plateau can amplify one bit, so the engine calls it too."""
    flat = [function(v) for v in values.ravel().tolist()]
    return np.array(flat, dtype=np.float64).reshape(values.shape)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class Activation:
    """One activation function: a = f(net) and everything derived from it.

    An elementwise activation maps each unit's net input to its activation on its own. A
    *vector* one (softmax, the only one) maps the layer's whole row of net inputs; sheetgen
    allows it on the output layer only, paired with cross-entropy, whose δ = a − t needs no
    slope of its own, and a shift shared by all its net inputs leaves it unchanged.

    Attributes:
        name: the name a template gives (`activation = "tanh"`).
        forward: the engine's a from net, arrays shaped (samples, units), with the sheet's
            arithmetic in the sheet's order (C-library EXP and TANH, see `libm`).
        backward: the engine's δ = ∂E/∂net from (∂E/∂a, net, a), with the factors in the
            order of `slope_formula`; None for a vector activation.
        formula: spreadsheet text of unit j's activation from the cells of the layer's net
            inputs (an elementwise activation reads only its own).
        slope_formula: spreadsheet text of δ with placeholders {grad} (∂E/∂a), {net} and
            {act}; None for a vector activation.
        equation: a as a student writes it, {z} the unit's name ("σ({z})").
        slope_equation: f'(net) as a student writes it, {a} the activation's name and {z} the
            unit's; "" for a vector activation.
        explanation: one line defining the function, for the equations sheet.
        vector: a function of the layer's whole row of net inputs (see above).
        largest_net: the largest |net| the spreadsheet formula takes before its EXP overflows;
            training past it is refused.
    """

    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None
    formula: Callable[[Sequence[str], int], str]
    slope_formula: str | None
    equation: str
    slope_equation: str
    explanation: str
    vector: bool = False
    largest_net: float = math.inf

    @property
    def slope_reads(self) -> tuple[str, ...]:
        """Which of "net" and "act" the slope is computed from (as its formula reads them)."""
        if self.slope_formula is None:
            return ()
        return tuple(part for part in ("net", "act") if f"{{{part}}}" in self.slope_formula)


def _elementwise(template: str) -> Callable[[Sequence[str], int], str]:
    """The formula of an elementwise activation: its template on unit j's own net cell."""
    return lambda nets, j: template.format(net=nets[j])


def _softmax(net: np.ndarray) -> np.ndarray:
    # shifted by the row's largest net input so EXP never overflows
    exps = libm(_exp, net - net.max(axis=-1, keepdims=True))
    total = exps[..., :1].copy()
    for j in range(1, exps.shape[-1]):
        total = total + exps[..., j : j + 1]
    return exps / total


def _softmax_formula(nets: Sequence[str], j: int) -> str:
    """a_j = e^(net_j - max) / Σ_k e^(net_k - max): shifted by the largest net input so that
    EXP cannot overflow, as in _softmax."""
    largest = f"MAX({','.join(nets)})"
    exps = [f"EXP({net}-{largest})" for net in nets]
    return f"{exps[j]}/({'+'.join(exps)})"


_DEFINITIONS = (
    Activation(
        name="sigmoid",
        forward=lambda net: 1.0 / (1.0 + libm(_exp, -net)),
        backward=lambda grad, net, act: grad * act * (1.0 - act),
        formula=_elementwise("1/(1+EXP(-{net}))"),
        slope_formula="{grad}*{act}*(1-{act})",
        equation="σ({z})",
        slope_equation="{a}·(1 − {a})",
        explanation="σ(x) = 1/(1 + e^(−x))",
        largest_net=EXP_LIMIT,
    ),
    Activation(
        name="tanh",
        forward=lambda net: libm(math.tanh, net),
        backward=lambda grad, net, act: grad * (1.0 - act**2),
        formula=_elementwise("TANH({net})"),
        slope_formula="{grad}*(1-{act}^2)",
        equation="tanh({z})",
        slope_equation="(1 − {a}²)",
        explanation="tanh(x) = (e^x − e^(−x))/(e^x + e^(−x))",
    ),
    Activation(
        name="relu",
        forward=lambda net: np.maximum(0.0, net),
        backward=lambda grad, net, act: grad * (net > 0),
        formula=_elementwise("MAX(0,{net})"),
        slope_formula="{grad}*({net}>0)",
        equation="max(0, {z})",
        slope_equation="[{z} > 0]",
        explanation="ReLU(x) = max(0, x); its slope is 1 where x > 0, else 0",
    ),
    Activation(
        name="leaky_relu",
        # slope 0.01 below 0, as torch.nn.functional.leaky_relu's default; MAX picks x where
        # x > 0 and 0.01·x where x < 0, one multiplication in the engine and the sheet alike
        forward=lambda net: np.maximum(net, 0.01 * net),
        backward=lambda grad, net, act: grad * np.where(net > 0, 1.0, 0.01),
        formula=_elementwise("MAX({net},0.01*{net})"),
        slope_formula="{grad}*IF({net}>0,1,0.01)",
        equation="max(0.01·{z}, {z})",
        slope_equation="(1 where {z} > 0, else 0.01)",
        explanation="leaky ReLU(x) = max(0.01·x, x); its slope is 1 where x > 0, else 0.01",
    ),
    Activation(
        name="identity",
        forward=lambda net: net.copy(),
        backward=lambda grad, net, act: grad.copy(),
        formula=_elementwise("{net}"),
        slope_formula="{grad}",
        equation="{z}",
        slope_equation="1",
        explanation="identity: a = x",
    ),
    Activation(
        name="softmax",
        forward=_softmax,
        backward=None,
        formula=_softmax_formula,
        slope_formula=None,
        equation="e^{z} / Σ e^(net of every output)",
        slope_equation="",
        explanation="softmax: a_j = e^(x_j) / Σ_k e^(x_k), computed as e^(x_j − max) / Σ_k e^(x_k − max)",
        vector=True,
    ),
)

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in _DEFINITIONS}
