"""Stage 4 of check: what each cell of a table should hold, by the build's own engine.

Two recomputations, both with sheetgen.workbook.engine's arithmetic (one definition of the
network's maths for the workbooks sheetgen builds and for those it checks):

- *reference*: every quantity of every step from that step's own weights and the table's
  inputs and targets (`engine.evaluate`, one weight set per step), and each weight from the
  step before's weight and reference gradient;
- *local*: one quantity from the sheet's own values of what it is made of (a_h1 from the
  sheet's h1, ∂E/∂w5 from the sheet's δ_o1 and a_h1, w5 from the step before's w5 and
  ∂E/∂w5), each part read through a function, so that a part can be swapped for another (the
  catalogue of mistakes tries another unit's slope, the row above, ...).

Keys are sheetgen.workbook.quantities' with one sample (s = 0), plus a few that only hand-made
tables show: ("slope", l, 0, j) is f'(net) of a unit, ("w_next", l, j, k) the weight after
this step's update (a "new w1" column), ("w_step", l, j, k) the step η·∂E/∂w itself, and
("grad_act_term", l, j, k) one unit's share δ·w of ∂E/∂a of unit k of the layer below (a
"∂E1/∂a_h1" column). ("net_slope", l, 0, j), net·(1 − net), ("error_product", l, 0, j), a·t,
and ("one",) exist for the catalogue's mistakes only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sheetgen.workbook import engine
from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.quantities import Key
from sheetgen.workbook.spec import NetworkSpec

# η, inputs, targets, fixed biases: given, not computed (a column of one repeats its first row)
CONSTANT_KINDS = ("eta", "input", "target", "init_b")


def fan_in(spec: NetworkSpec, l: int) -> int:
    return len(spec.layers[l].weights[0])


def weight_keys(spec: NetworkSpec, kind: str = "w") -> list[Key]:
    return [
        (kind, l, j, k)
        for l, layer in enumerate(spec.layers)
        for j in range(layer.units)
        for k in range(fan_in(spec, l))
    ]


def reference_rows(spec: NetworkSpec, get: Callable[[Key], np.ndarray], rows: int) -> dict[Key, np.ndarray]:
    """Every quantity of every step, each step from its own weights.

    Args:
        spec: the table's network (its numbers are not used).
        get: each step's value of a weight ("w", l, j, k), input ("input", 0, k), target
            ("target", 0, j) and fixed bias ("init_b", l, u), as the table gives them.
        rows: the number of steps.
    """

    def stacked(keys) -> np.ndarray:
        return np.stack([np.broadcast_to(get(k), (rows,)).astype(np.float64) for k in keys], axis=-1)

    weights = [
        stacked([("w", l, j, k) for j in range(layer.units) for k in range(fan_in(spec, l))]).reshape(
            rows, layer.units, fan_in(spec, l)
        )
        for l, layer in enumerate(spec.layers)
    ]
    biases = [
        np.zeros(0)
        if layer.bias is None
        else stacked([("init_b", l, u) for u in range(len(layer.bias))])[:, None]
        for l, layer in enumerate(spec.layers)
    ]
    inputs = stacked([("input", 0, k) for k in range(spec.n_inputs)])[:, None]
    targets = stacked([("target", 0, j) for j in range(spec.layers[-1].units)])[:, None]
    step = engine.evaluate(spec, weights, biases, inputs, targets)
    out: dict[Key, np.ndarray] = {("E_total",): step.total}
    for j in range(spec.layers[-1].units):
        out[("E", 0, j)] = step.losses[:, 0, j]
    for l, layer in enumerate(spec.layers):
        definition = ACTIVATIONS[layer.activation]
        nets, acts = step.forward.nets[l], step.forward.acts[l]
        slopes = None
        if definition.backward is not None:
            with np.errstate(all="ignore"):
                slopes = definition.backward(np.ones_like(nets), nets, acts)
        for j in range(layer.units):
            out[("net", l, 0, j)] = nets[:, 0, j]
            out[("act", l, 0, j)] = acts[:, 0, j]
            out[("delta", l, 0, j)] = step.backward.deltas[l][:, 0, j]
            out[("grad_act", l, 0, j)] = step.backward.grad_acts[l][:, 0, j]
            if slopes is not None:
                out[("slope", l, 0, j)] = slopes[:, 0, j]
            for k in range(fan_in(spec, l)):
                out[("grad_w", l, j, k)] = step.backward.grad_weights[l][:, j, k]
                if l:
                    out[("grad_act_term", l, j, k)] = step.backward.deltas[l][:, 0, j] * weights[l][:, j, k]
    return out


def shift(base: np.ndarray, offset) -> np.ndarray:
    """A column moved by steps: offset -1 reads the step before; ("row", i) reads step i only."""
    if isinstance(offset, tuple):
        return np.full(base.shape, base[offset[1]])
    if offset == 0:
        return base
    out = np.full(base.shape, np.nan)
    if offset < 0:
        out[-offset:] = base[:offset]
    else:
        out[:-offset] = base[offset:]
    return out


def local_value(spec: NetworkSpec, key: Key, get: Callable, rows: int) -> np.ndarray:
    """A quantity computed from what it is made of, each part read through get(key, offset),
    with the engine's arithmetic."""
    last = len(spec.layers) - 1
    kind = key[0]

    def column(values) -> np.ndarray:  # one unit's values as (steps, samples = 1, units = 1)
        return np.broadcast_to(values, (rows,)).astype(np.float64)[:, None, None]

    def below(l: int, k: int) -> np.ndarray:
        return get(("input", 0, k)) if l == 0 else get(("act", l - 1, 0, k))

    if kind in CONSTANT_KINDS:  # repeated on every step: each step should repeat the first
        return np.full(rows, get(key)[0])
    if kind == "net":
        l, _, j = key[1:]
        weights = np.stack([column(get(("w", l, j, k)))[:, 0, 0] for k in range(fan_in(spec, l))], axis=-1)
        inputs = np.stack([column(below(l, k))[:, 0, 0] for k in range(fan_in(spec, l))], axis=-1)
        total = engine.weighted_sum(weights[:, None, :], inputs[:, None, :])[:, 0, 0]
        if spec.layers[l].bias is not None:
            total = total + get(("init_b", l, 0 if len(spec.layers[l].bias) == 1 else j))
        return total
    if kind == "act":
        definition = ACTIVATIONS[spec.layers[key[1]].activation]
        if definition.vector:  # the layer's whole row of net inputs
            units = spec.layers[key[1]].units
            nets = np.stack([column(get(("net", key[1], 0, m)))[:, 0, 0] for m in range(units)], axis=-1)
            return definition.forward(nets[:, None, :])[:, 0, key[3]]
        return definition.forward(get(("net", *key[1:])))
    if kind == "slope":
        # the slope is δ for ∂E/∂a = 1, read from only what its formula reads, so that a
        # sigmoid's slope depends on a and not on net
        definition = ACTIVATIONS[spec.layers[key[1]].activation]
        parts = {part: get((part, *key[1:])) for part in definition.slope_reads}
        shape = next(iter(parts.values())).shape if parts else (rows,)
        return definition.backward(np.ones(shape), parts.get("net"), parts.get("act"))
    if kind == "one":  # a factor left out (the catalogue's "leaves out")
        return np.ones(rows)
    if kind == "net_slope":
        net = get(("net", *key[1:]))
        return net * (1 - net)
    if kind == "error_product":  # the mistaken a·t where a − t belongs
        return get(("act", last, 0, key[3])) * get(("target", 0, key[3]))
    if kind == "E":
        j = key[2]
        return engine.sample_losses(spec.loss, get(("act", last, 0, j)), get(("target", 0, j)))
    if kind == "E_total":
        losses = np.stack([column(get(("E", 0, j)))[:, 0, 0] for j in range(spec.layers[-1].units)], axis=-1)[
            :, None, :
        ]
        return engine.total_losses(losses, spec.reduction)
    if kind == "grad_act":
        l, _, j = key[1:]
        if l == last:
            return engine.output_gradient(spec.loss, get(("act", l, 0, j)), get(("target", 0, j)))
        above = spec.layers[l + 1].units
        deltas = np.stack([column(get(("delta", l + 1, 0, m)))[:, 0, 0] for m in range(above)], axis=-1)
        weights = np.stack([column(get(("w", l + 1, m, j)))[:, 0, 0] for m in range(above)], axis=-1)
        return engine.back_through(deltas[:, None, :], weights[:, :, None])[:, 0, 0]
    if kind == "grad_act_term":
        l, j, k = key[1:]
        return get(("delta", l, 0, j)) * get(("w", l, j, k))
    if kind == "delta":
        return get(("grad_act", *key[1:])) * get(("slope", *key[1:]))
    if kind == "grad_w":
        l, j, k = key[1:]
        mean = spec.reduction == "mean"
        return engine.weight_gradient(column(get(("delta", l, 0, j))), column(below(l, k)), mean)[:, 0, 0]
    if kind == "w":
        return engine.update([get(key, -1)], [get(("grad_w", *key[1:]), -1)], get(("eta",)))[0]
    if kind == "w_next":
        return engine.update([get(("w", *key[1:]))], [get(("grad_w", *key[1:]))], get(("eta",)))[0]
    if kind == "w_step":
        return get(("eta",)) * get(("grad_w", *key[1:]))
    raise KeyError(key)


class Evaluator:
    """Local values of a table's quantities from its own lines (`source`), optionally with one
    part read from elsewhere (`substitute` maps a part and its step offset to another)."""

    def __init__(self, spec: NetworkSpec, source: dict[Key, np.ndarray], steps: int):
        self.spec = spec
        self.source = source
        self.steps = steps
        self.negated: set[Key] = set()  # lines read negated (the (t − a) sign convention)

    def value(self, key: Key, substitute=None, record: list | None = None) -> np.ndarray:
        def get(k, offset=0):
            if substitute is not None:
                k, offset = substitute(k, offset)
            if record is not None:
                record.append((k, offset))
            base = self.source[k] if k in self.source else local_value(self.spec, k, get, self.steps)
            return shift(np.broadcast_to(base, (self.steps,)).astype(np.float64), offset)

        with np.errstate(all="ignore"):
            value = local_value(self.spec, key, get, self.steps)
            return np.broadcast_to(value, (self.steps,)).astype(np.float64)


def reference_table(
    spec: NetworkSpec, source: dict[Key, np.ndarray], steps: int, keys
) -> dict[Key, np.ndarray]:
    """The reference of every quantity a table shows: each step's from its own weights, each
    weight from the step before's weight and reference gradient, the data as given on the
    first step."""
    reference = reference_rows(spec, lambda k: source[k], steps)
    eta = source.get(("eta",))
    for key in keys:
        kind = key[0]
        if kind in CONSTANT_KINDS:
            reference[key] = np.full(steps, source[key][0])
        elif kind == "w" and eta is not None:
            with np.errstate(all="ignore"):
                reference[key] = shift(source[key], -1) - eta * shift(reference[("grad_w", *key[1:])], -1)
        elif kind in ("w_next", "w_step") and eta is not None:
            grad = reference[("grad_w", *key[1:])]
            with np.errstate(all="ignore"):
                if kind == "w_next":
                    reference[key] = source[("w", *key[1:])] - eta * grad
                else:
                    reference[key] = eta * grad
    return reference
