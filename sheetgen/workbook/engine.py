"""The reference engine: forward, backward and update in float64 NumPy, no spreadsheet in it.

Every number sheetgen writes as a cached value comes from here, and the tests hold it to torch
autograd. Sums run left to right, one term at a time, and each backward product keeps the
association of the sheet's formula, so a spreadsheet that recalculates gets the same floats
(up to its EXP) rather than merely close ones.

Every function takes arrays shaped (samples, units) and also, with leading axes, many weight
sets at once: `sheetgen check` evaluates each row of a hand-made table from that row's own
weights, (rows, samples, units), with the same arithmetic the build uses (`evaluate`).

    >>> from sheetgen.workbook.spec import load_spec
    >>> trace = train(load_spec(), learning_rate=1.0, iterations=100)
    >>> round(float(trace.loss[1]), 10), f"{trace.loss[100]:.4g}"
    (0.0133779156, '2.256e-05')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sheetgen.workbook.activations import ACTIVATIONS, libm
from sheetgen.workbook.spec import Layer, NetworkSpec, format_rate


class NumericalError(ArithmeticError):
    """Training left the range a spreadsheet can compute (EXP would overflow, say)."""


# Excel stores no number below the smallest normal double: LN of a smaller softmax output
# gives #NUM! there, even where LibreOffice computes it.
SMALLEST_STORED = 2.2250738585072014e-308


def weighted_sum(weights: np.ndarray, below: np.ndarray) -> np.ndarray:
    """net[s, j] = Σ_k weights[j, k]·below[s, k], summed left to right as a sheet does (leading
    axes of both broadcast)."""
    total = weights[..., None, :, 0] * below[..., :, 0:1]
    for k in range(1, weights.shape[-1]):
        total = total + weights[..., None, :, k] * below[..., :, k : k + 1]
    return total


@dataclass(frozen=True)
class Forward:
    """Net inputs and activations of every layer, each shaped (samples, units)."""

    nets: tuple[np.ndarray, ...]
    acts: tuple[np.ndarray, ...]


def forward(
    layers: tuple[Layer, ...], weights: list[np.ndarray], biases: list[np.ndarray], inputs: np.ndarray
) -> Forward:
    """Run the network on every sample. biases[l] is empty for a layer without a bias."""
    nets, acts = [], []
    below = inputs
    for layer, w, b in zip(layers, weights, biases):
        net = weighted_sum(w, below)
        if b.size:
            net = net + b  # one shared bias broadcasts to every unit
        nets.append(net)
        acts.append(ACTIVATIONS[layer.activation].forward(net))
        below = acts[-1]
    return Forward(tuple(nets), tuple(acts))


def sample_losses(loss: str, output: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """E[s, j] for each sample and output unit: ½(t - a)², or -t·ln(a) for cross-entropy."""
    if loss == "cross_entropy":
        return -targets * libm(math.log, output)
    return 0.5 * (targets - output) ** 2


def total_loss(losses: np.ndarray, reduction: str) -> float:
    """E_total: every sample's and output's term summed left to right (then averaged)."""
    return float(total_losses(losses, reduction))


def total_losses(losses: np.ndarray, reduction: str) -> np.ndarray:
    """E_total of each weight set: its (samples, outputs) terms summed left to right, sample by
    sample (then averaged over the samples)."""
    total = np.zeros(losses.shape[:-2])
    for s in range(losses.shape[-2]):
        for j in range(losses.shape[-1]):
            total = total + losses[..., s, j]
    if reduction == "mean":
        total = total / losses.shape[-2]
    return total


def output_gradient(loss: str, output: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """∂E/∂a of the output layer: a - t for ½(t - a)², -t/a for cross-entropy."""
    if loss == "cross_entropy":
        return -targets / output
    return output - targets


def back_through(deltas: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """∂E/∂a of the layer below: Σ_j δ[s, j]·w[j, k], summed over j left to right."""
    total = deltas[..., :, 0:1] * weights[..., None, 0, :]
    for j in range(1, weights.shape[-2]):
        total = total + deltas[..., :, j : j + 1] * weights[..., None, j, :]
    return total


def weight_gradient(deltas: np.ndarray, below: np.ndarray, mean: bool) -> np.ndarray:
    """∂E/∂w[j, k] = Σ_s δ[s, j]·below[s, k], samples summed in order (then averaged)."""
    samples = deltas.shape[-2]
    grad = deltas[..., 0, :, None] * below[..., 0, None, :]
    for s in range(1, samples):
        grad = grad + deltas[..., s, :, None] * below[..., s, None, :]
    return grad / samples if mean else grad


@dataclass(frozen=True)
class Backward:
    """∂E/∂act and δ per layer (samples, units), ∂E/∂w per layer, ∂E/∂b per layer.

    δ is ∂E_s/∂net for sample s's own loss; the gradients sum it over the samples (and divide
    by their number when E_total is a mean), as the sheet's gradient columns do.
    """

    grad_acts: tuple[np.ndarray, ...]
    deltas: tuple[np.ndarray, ...]
    grad_weights: tuple[np.ndarray, ...]
    grad_biases: tuple[np.ndarray, ...]


def backward(
    spec: NetworkSpec, weights: list[np.ndarray], inputs: np.ndarray, fwd: Forward, targets: np.ndarray
) -> Backward:
    """Gradients of E_total by the chain rule, output layer first."""
    layers = spec.layers
    n = len(layers)
    samples = inputs.shape[-2]
    mean = spec.reduction == "mean"
    grad_acts: list = [None] * n
    deltas: list = [None] * n
    grad_weights: list = [None] * n
    grad_biases: list = [None] * n
    output = fwd.acts[-1]
    grad_act = output_gradient(spec.loss, output, targets)
    if spec.loss == "cross_entropy":
        deltas[-1] = output - targets  # softmax and cross-entropy together: δ = a - t
    for l in range(n - 1, -1, -1):
        layer = layers[l]
        grad_acts[l] = grad_act
        if deltas[l] is None:
            deltas[l] = ACTIVATIONS[layer.activation].backward(grad_act, fwd.nets[l], fwd.acts[l])
        d = deltas[l]
        below = inputs if l == 0 else fwd.acts[l - 1]
        grad_weights[l] = weight_gradient(d, below, mean)
        grad_biases[l] = _bias_gradient(layer, d, samples, mean)
        if l:
            grad_act = back_through(d, weights[l])
    return Backward(tuple(grad_acts), tuple(deltas), tuple(grad_weights), tuple(grad_biases))


def _bias_gradient(layer: Layer, d: np.ndarray, samples: int, mean: bool) -> np.ndarray:
    if layer.bias is None:
        return np.zeros(d.shape[:-2] + (0,))
    if layer.shared_bias:
        total = np.zeros(d.shape[:-2])
        for s in range(d.shape[-2]):  # every sample's every unit, in the sheet's order
            for j in range(d.shape[-1]):
                total = total + d[..., s, j]
        grad = total[..., None]
    else:
        grad = d[..., 0, :].copy()
        for s in range(1, samples):
            grad = grad + d[..., s, :]
    return grad / samples if mean else grad


@dataclass(frozen=True)
class Step:
    """Every quantity of one training step, for each of many weight sets (leading axes)."""

    forward: Forward
    losses: np.ndarray  # (..., samples, outputs)
    total: np.ndarray  # (...,): E_total
    backward: Backward


def evaluate(
    spec: NetworkSpec,
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    inputs: np.ndarray,
    targets: np.ndarray,
) -> Step:
    """Forward pass, losses and gradients of one step, each weight set on its own: what
    `sheetgen check` recomputes for every row of a hand-made table from that row's weights.

    Args:
        spec: the network's layers, loss and reduction (its numbers are not used).
        weights: per layer, (..., units, fan_in).
        biases: per layer, broadcastable to (..., samples, units); empty for none.
        inputs, targets: (..., samples, inputs) and (..., samples, outputs).
    """
    with np.errstate(all="ignore"):  # a hand-made table's numbers may be anything
        fwd = forward(spec.layers, weights, biases, inputs)
        losses = sample_losses(spec.loss, fwd.acts[-1], targets)
        total = total_losses(losses, spec.reduction)
        bwd = backward(spec, weights, inputs, fwd, targets)
    return Step(fwd, losses, total, bwd)


def update(params: list[np.ndarray], grads, learning_rate: float) -> list[np.ndarray]:
    """One gradient-descent step, every parameter from the same row: p - η·∂E/∂p."""
    return [p - learning_rate * g for p, g in zip(params, grads)]


@dataclass(frozen=True)
class Trace:
    """Every quantity of every iteration of one training run.

    Arrays are indexed by iteration first: iteration 0 holds the initial weights and what they
    give, iteration t the weights after t updates, so a run of n updates has n + 1 rows.
    """

    learning_rate: float
    weights: tuple[np.ndarray, ...]  # per layer: (T, units, fan_in)
    biases: tuple[np.ndarray, ...]  # per layer: (T, 1 or units, or 0 without a bias)
    nets: tuple[np.ndarray, ...]  # per layer: (T, samples, units)
    acts: tuple[np.ndarray, ...]  # per layer: (T, samples, units)
    losses: np.ndarray  # (T, samples, outputs): each output's loss term
    loss: np.ndarray  # (T,): E_total
    grad_acts: tuple[np.ndarray, ...]  # per layer: (T, samples, units)
    deltas: tuple[np.ndarray, ...]  # per layer: (T, samples, units)
    grad_weights: tuple[np.ndarray, ...]  # per layer: (T, units, fan_in)
    grad_biases: tuple[np.ndarray, ...]  # per layer: like biases

    @property
    def rows(self) -> int:
        return len(self.loss)


def updates_until_below(loss: np.ndarray, threshold: float) -> int | None:
    """The first iteration whose E_total is below the threshold, or None if none is."""
    below = loss < threshold
    return int(below.argmax()) if below.any() else None


def train(spec: NetworkSpec, learning_rate: float, iterations: int | None = None) -> Trace:
    """Make `iterations` updates from the spec's initial weights, recording every quantity.

    Raises:
        NumericalError: a net input grows past what a spreadsheet's EXP can take, or a value
            stops being finite; the message names the iteration.
    """
    iterations = spec.iterations if iterations is None else iterations
    inputs = np.array(spec.inputs, dtype=np.float64)
    targets = np.array(spec.targets, dtype=np.float64)
    weights = [np.array(layer.weights, dtype=np.float64) for layer in spec.layers]
    biases = [
        np.array(layer.bias if layer.bias is not None else [], dtype=np.float64) for layer in spec.layers
    ]
    trained = [layer.trained_bias for layer in spec.layers]
    rows: list[tuple] = []
    # Overflow is caught by _check_range with a message of its own; NumPy's warnings would
    # only print noise before it.
    with np.errstate(all="ignore"):
        for t in range(iterations + 1):
            fwd = forward(spec.layers, weights, biases, inputs)
            _check_range(spec, fwd, learning_rate, t)
            losses = sample_losses(spec.loss, fwd.acts[-1], targets)
            bwd = backward(spec, weights, inputs, fwd, targets)
            rows.append((weights, biases, fwd, losses, total_loss(losses, spec.reduction), bwd))
            weights = update(weights, bwd.grad_weights, learning_rate)
            biases = [
                update([b], [g], learning_rate)[0] if train else b
                for b, g, train in zip(biases, bwd.grad_biases, trained)
            ]

    def stack(get) -> tuple[np.ndarray, ...]:
        return tuple(np.stack([get(row)[l] for row in rows]) for l in range(len(spec.layers)))

    return Trace(
        learning_rate=learning_rate,
        weights=stack(lambda r: r[0]),
        biases=stack(lambda r: r[1]),
        nets=stack(lambda r: r[2].nets),
        acts=stack(lambda r: r[2].acts),
        losses=np.stack([r[3] for r in rows]),
        loss=np.array([r[4] for r in rows]),
        grad_acts=stack(lambda r: r[5].grad_acts),
        deltas=stack(lambda r: r[5].deltas),
        grad_weights=stack(lambda r: r[5].grad_weights),
        grad_biases=stack(lambda r: r[5].grad_biases),
    )


def _check_range(spec: NetworkSpec, fwd: Forward, learning_rate: float, iteration: int) -> None:
    where = f"learning rate {format_rate(learning_rate)}"
    advice = "use a smaller learning rate or fewer iterations"
    last = spec.layers[-1]
    for layer, net, act in zip(spec.layers, fwd.nets, fwd.acts):
        if not (np.all(np.isfinite(net)) and np.all(np.isfinite(act))):
            raise NumericalError(
                f"{where}: layer {layer.name!r} stops being finite at iteration {iteration}; {advice}"
            )
        largest = float(np.max(np.abs(net)))
        if largest > ACTIVATIONS[layer.activation].largest_net:
            raise NumericalError(
                f"{where}: a net input of layer {layer.name!r} reaches {largest:.4g} at "
                f"iteration {iteration}, where a spreadsheet's EXP overflows (#NUM!); {advice}"
            )
        # the loss's LN, not the activation, is what fails here
        if layer is last and spec.loss == "cross_entropy" and np.any(act < SMALLEST_STORED):
            raise NumericalError(
                f"{where}: a {layer.activation} output of layer {layer.name!r} falls below "
                f"2.2e-308 at iteration {iteration}, where a spreadsheet's LN gives #NUM!; "
                f"{advice}"
            )
