"""What a sheet shows: its input cells and its table's columns, named and ordered.

A quantity is identified by a key tuple; the layout places keys, the formula emitter writes
them, and the reference engine's Trace supplies their values. Keys:

    inputs:   ("eta",) ("input", s, k) ("target", s, j) ("init_w", l, j, k) ("init_b", l, u)
    columns:  ("iteration",) ("w", l, j, k) ("b", l, u) ("net", l, s, j) ("act", l, s, j)
              ("E", s, j) ("E_total",) ("delta", l, s, j) ("grad_act", l, s, j)
              ("grad_w", l, j, k) ("grad_b", l, u)

l, s, j, k count from 0 (layer, sample, unit, unit below); u is the bias's unit, 0 for a bias
shared by the layer; labels count from 1. Only trained biases have columns; a fixed bias is an
input cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sheetgen.workbook.engine import Trace
from sheetgen.workbook.spec import NetworkSpec

Key = tuple


@dataclass(frozen=True)
class Quantity:
    """One named cell of the input block or one column of the table."""

    key: Key
    label: str
    group: str  # what the header above it says: "weights", "forward", "loss", "backward", ...


def weight_number(spec: NetworkSpec, l: int, j: int, k: int) -> int:
    """The exercise's numbering: w1.. run through the layers, unit by unit (w1 w2 into h1)."""
    before = sum(layer.units * len(layer.weights[0]) for layer in spec.layers[:l])
    return before + j * len(spec.layers[l].weights[0]) + k + 1


def bias_label(spec: NetworkSpec, l: int, u: int) -> str:
    """b1, b2 for a bias shared by layer 1, 2 (Mazur's); b_h1, b_o2 for one bias per unit."""
    if spec.layers[l].shared_bias:
        return f"b{l + 1}"
    return f"b_{unit_label(spec, l, u)}"


def bias_units(spec: NetworkSpec, l: int) -> range:
    """The u of layer l's bias keys: one for a shared bias, one per unit otherwise."""
    layer = spec.layers[l]
    if layer.bias is None:
        return range(0)
    return range(len(layer.bias))


def bias_index(spec: NetworkSpec, l: int, j: int) -> int:
    """Which bias unit j of layer l adds."""
    return 0 if len(spec.layers[l].bias) == 1 else j


def _sample_suffix(spec: NetworkSpec, s: int) -> str:
    return f" (s{s + 1})" if spec.n_samples > 1 else ""


def unit_label(spec: NetworkSpec, l: int, j: int) -> str:
    """Net input of unit j of layer l: h1, o2, ..."""
    return f"{spec.layers[l].name}{j + 1}"


def label(spec: NetworkSpec, key: Key) -> str:
    """The header text of a quantity, as the exercise writes it."""
    kind = key[0]
    if kind == "eta":
        return "η"
    if kind == "iteration":
        return "iteration"
    if kind == "input":
        return f"i{key[2] + 1}{_sample_suffix(spec, key[1])}"
    if kind == "target":
        return f"t{key[2] + 1}{_sample_suffix(spec, key[1])}"
    if kind in ("w", "init_w"):
        return f"w{weight_number(spec, *key[1:])}"
    if kind == "grad_w":
        return f"∂E/∂w{weight_number(spec, *key[1:])}"
    if kind in ("b", "init_b"):
        return bias_label(spec, *key[1:])
    if kind == "grad_b":
        return f"∂E/∂{bias_label(spec, *key[1:])}"
    if kind == "E_total":
        return "E_total"
    if kind == "E":
        return f"E{key[2] + 1}{_sample_suffix(spec, key[1])}"
    l, s, j = key[1:]
    unit = unit_label(spec, l, j)
    suffix = _sample_suffix(spec, s)
    if kind == "net":
        return f"{unit}{suffix}"
    if kind == "act":
        return f"a_{unit}{suffix}"
    if kind == "delta":
        return f"δ_{unit}{suffix}"
    if kind == "grad_act":
        return f"∂E/∂a_{unit}{suffix}"
    raise KeyError(key)


def input_keys(spec: NetworkSpec) -> list[Key]:
    """The editable inputs, in the order of the block at the top of a sheet."""
    keys: list[Key] = [("eta",)]
    for s in range(spec.n_samples):
        keys += [("input", s, k) for k in range(spec.n_inputs)]
        keys += [("target", s, j) for j in range(spec.layers[-1].units)]
    keys += [("init_w", *w[1:]) for w in _weight_keys(spec)]
    keys += [("init_b", l, u) for l in range(len(spec.layers)) for u in bias_units(spec, l)]
    return keys


def _bias_keys(spec: NetworkSpec, kind: str) -> list[Key]:
    return [
        (kind, l, u) for l, layer in enumerate(spec.layers) if layer.trained_bias for u in bias_units(spec, l)
    ]


def _weight_keys(spec: NetworkSpec, kind: str = "w") -> list[Key]:
    return [
        (kind, l, j, k)
        for l, layer in enumerate(spec.layers)
        for j in range(layer.units)
        for k in range(len(layer.weights[0]))
    ]


def columns(spec: NetworkSpec) -> list[Quantity]:
    """The table's columns, left to right: weights, forward pass, loss, backward pass."""
    samples = range(spec.n_samples)
    n_layers = len(spec.layers)
    out: list[Quantity] = [Quantity(("iteration",), "iteration", "")]
    out += [Quantity(k, label(spec, k), "weights") for k in _weight_keys(spec)]
    out += [Quantity(k, label(spec, k), "weights") for k in _bias_keys(spec, "b")]
    for l, layer in enumerate(spec.layers):
        for s in samples:
            for j in range(layer.units):
                for kind in ("net", "act"):
                    key = (kind, l, s, j)
                    out.append(Quantity(key, label(spec, key), "forward"))
    for s in samples:
        for j in range(spec.layers[-1].units):
            out.append(Quantity(("E", s, j), label(spec, ("E", s, j)), "loss"))
    out.append(Quantity(("E_total",), "E_total", "loss"))
    for l in range(n_layers - 1, -1, -1):
        for kind in ("grad_act", "delta") if l < n_layers - 1 else ("delta",):
            for s in samples:
                for j in range(spec.layers[l].units):
                    key = (kind, l, s, j)
                    out.append(Quantity(key, label(spec, key), "backward"))
    out += [Quantity(k, label(spec, k), "gradients") for k in _weight_keys(spec, "grad_w")]
    out += [Quantity(k, label(spec, k), "gradients") for k in _bias_keys(spec, "grad_b")]
    return out


def column_count(spec: NetworkSpec) -> int:
    """len(columns(spec)), counted without listing them: a hostile spec's layout would not fit
    in memory, so its size is decided before one is made."""
    samples, units = spec.n_samples, [layer.units for layer in spec.layers]
    weights = sum(layer.units * len(layer.weights[0]) for layer in spec.layers)
    biases = sum(len(bias_units(spec, l)) for l, layer in enumerate(spec.layers) if layer.trained_bias)
    forward = 2 * samples * sum(units)
    backward = samples * (2 * sum(units) - units[-1])  # the output layer has no ∂E/∂a column
    return 1 + 2 * (weights + biases) + forward + samples * units[-1] + 1 + backward


def input_count(spec: NetworkSpec) -> int:
    """len(input_keys(spec)), counted without listing them."""
    weights = sum(layer.units * len(layer.weights[0]) for layer in spec.layers)
    biases = sum(len(bias_units(spec, l)) for l in range(len(spec.layers)))
    return 1 + spec.n_samples * (spec.n_inputs + spec.layers[-1].units) + weights + biases


def values(trace: Trace, key: Key) -> np.ndarray:
    """The value of a column at every iteration, from the reference engine's trace."""
    kind = key[0]
    if kind == "iteration":
        return np.arange(trace.rows, dtype=np.float64)
    if kind == "E_total":
        return trace.loss
    if kind == "E":
        return trace.losses[:, key[1], key[2]]
    if kind in ("w", "grad_w"):
        arrays = trace.weights if kind == "w" else trace.grad_weights
        l, j, k = key[1:]
        return arrays[l][:, j, k]
    if kind in ("b", "grad_b"):
        arrays = trace.biases if kind == "b" else trace.grad_biases
        return arrays[key[1]][:, key[2]]
    arrays = {"net": trace.nets, "act": trace.acts, "delta": trace.deltas, "grad_act": trace.grad_acts}[kind]
    l, s, j = key[1:]
    return arrays[l][:, s, j]


def input_value(spec: NetworkSpec, key: Key, learning_rate: float) -> float:
    """The value of an editable input cell."""
    kind = key[0]
    if kind == "eta":
        return learning_rate
    if kind == "input":
        return spec.inputs[key[1]][key[2]]
    if kind == "target":
        return spec.targets[key[1]][key[2]]
    if kind == "init_w":
        return spec.layers[key[1]].weights[key[2]][key[3]]
    if kind == "init_b":
        return spec.layers[key[1]].bias[key[2]]
    raise KeyError(key)


def with_inputs(spec: NetworkSpec, changed: dict[Key, float]) -> NetworkSpec:
    """The spec with some input cells' values replaced (all but η, which is per sheet)."""
    from sheetgen.workbook.spec import spec_from_dict

    data = spec.to_dict()
    for key, value in changed.items():
        kind = key[0]
        if kind == "input":
            data["data"]["inputs"][key[1]][key[2]] = value
        elif kind == "target":
            data["data"]["targets"][key[1]][key[2]] = value
        elif kind == "init_w":
            data["layers"][key[1]]["weights"][key[2]][key[3]] = value
        elif kind == "init_b":
            layer = data["layers"][key[1]]
            if isinstance(layer["bias"], list):
                layer["bias"][key[2]] = value
            else:
                layer["bias"] = value
        else:
            raise KeyError(key)
    return spec_from_dict(data)


def history(spec: NetworkSpec, trace: Trace):
    """The trace as a pandas DataFrame, one row per iteration, columns labelled as the sheet."""
    import pandas as pd  # only the DataFrame API needs pandas; building a workbook does not

    cols = columns(spec)
    frame = pd.DataFrame({q.label: values(trace, q.key) for q in cols})
    frame["iteration"] = frame["iteration"].astype(int)
    return frame.set_index("iteration")
