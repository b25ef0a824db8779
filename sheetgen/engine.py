"""The reference engine: forward, backward and update in float64 NumPy, no spreadsheet in it.

Every number sheetgen writes as a cached value comes from here, and the tests hold it to torch
autograd. Sums run left to right, one term at a time, and each backward product keeps the
association of the sheet's formula, so a spreadsheet that recalculates gets the same floats
(up to its EXP) rather than merely close ones.

    >>> from sheetgen.spec import load_spec
    >>> trace = train(load_spec(), learning_rate=1.0, iterations=100)
    >>> round(float(trace.loss[1]), 10), f"{trace.loss[100]:.4g}"
    (0.0133779156, '2.256e-05')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sheetgen.spec import Layer, NetworkSpec, format_rate


class NumericalError(ArithmeticError):
    """Training left the range a spreadsheet can compute (EXP would overflow, say)."""


# Past this, EXP(x) overflows a double in Excel and LibreOffice and the cell shows #NUM!.
EXP_LIMIT = 709.0


def activate(activation: str, net: np.ndarray) -> np.ndarray:
    """The activation of each unit from its net input."""
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-net))
    if activation == "tanh":
        return np.tanh(net)
    if activation == "relu":
        return np.maximum(0.0, net)
    if activation == "identity":
        return net.copy()
    raise ValueError(f"unknown activation {activation!r}")


def delta(activation: str, grad_act: np.ndarray, net: np.ndarray, act: np.ndarray) -> np.ndarray:
    """∂E/∂net from ∂E/∂act: the chain rule through the activation, in the sheet's order."""
    if activation == "sigmoid":
        return grad_act * act * (1.0 - act)
    if activation == "tanh":
        return grad_act * (1.0 - act ** 2)
    if activation == "relu":
        return grad_act * (net > 0)
    if activation == "identity":
        return grad_act.copy()
    raise ValueError(f"unknown activation {activation!r}")


def weighted_sum(weights: np.ndarray, below: np.ndarray) -> np.ndarray:
    """net[s, j] = Σ_k weights[j, k]·below[s, k], summed left to right as a sheet does."""
    total = weights[:, 0] * below[:, :1]
    for k in range(1, weights.shape[1]):
        total = total + weights[:, k] * below[:, k:k + 1]
    return total


@dataclass(frozen=True)
class Forward:
    """Net inputs and activations of every layer, each shaped (samples, units)."""

    nets: tuple[np.ndarray, ...]
    acts: tuple[np.ndarray, ...]


def forward(layers: tuple[Layer, ...], weights: list[np.ndarray], inputs: np.ndarray) -> Forward:
    """Run the network on every sample."""
    nets, acts = [], []
    below = inputs
    for layer, w in zip(layers, weights):
        net = weighted_sum(w, below)
        act = activate(layer.activation, net)
        nets.append(net)
        acts.append(act)
        below = act
    return Forward(tuple(nets), tuple(acts))


def sample_losses(output: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """E[s, j] = ½(t - a)² for each sample and output unit."""
    return 0.5 * (targets - output) ** 2


def total_loss(losses: np.ndarray) -> float:
    """E_total: the sum of every sample's and output's term, left to right."""
    total = 0.0
    for value in losses.ravel():
        total = total + value
    return float(total)


@dataclass(frozen=True)
class Backward:
    """∂E/∂act and δ = ∂E/∂net per layer (samples, units), and ∂E/∂w per layer."""

    grad_acts: tuple[np.ndarray, ...]
    deltas: tuple[np.ndarray, ...]
    grad_weights: tuple[np.ndarray, ...]


def backward(layers: tuple[Layer, ...], weights: list[np.ndarray], inputs: np.ndarray,
             fwd: Forward, targets: np.ndarray) -> Backward:
    """Gradients of E_total by the chain rule, output layer first."""
    n = len(layers)
    grad_acts: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    deltas: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    grad_weights: list[np.ndarray] = [None] * n  # type: ignore[list-item]
    grad_act = fwd.acts[-1] - targets  # ∂/∂a of ½(t - a)²
    for l in range(n - 1, -1, -1):
        grad_acts[l] = grad_act
        deltas[l] = delta(layers[l].activation, grad_act, fwd.nets[l], fwd.acts[l])
        below = inputs if l == 0 else fwd.acts[l - 1]
        # ∂E/∂w[j, k] = Σ_s δ[s, j]·below[s, k], samples summed in order
        grad = deltas[l][0][:, None] * below[0][None, :]
        for s in range(1, below.shape[0]):
            grad = grad + deltas[l][s][:, None] * below[s][None, :]
        grad_weights[l] = grad
        if l:
            # ∂E/∂a_below[s, k] = Σ_j δ[s, j]·w[j, k], summed over j left to right
            w = weights[l]
            grad_act = deltas[l][:, :1] * w[0]
            for j in range(1, w.shape[0]):
                grad_act = grad_act + deltas[l][:, j:j + 1] * w[j]
    return Backward(tuple(grad_acts), tuple(deltas), tuple(grad_weights))


def update(weights: list[np.ndarray], grads: tuple[np.ndarray, ...],
           learning_rate: float) -> list[np.ndarray]:
    """One gradient-descent step, every weight from the same row: w - η·∂E/∂w."""
    return [w - learning_rate * g for w, g in zip(weights, grads)]


@dataclass(frozen=True)
class Trace:
    """Every quantity of every iteration of one training run.

    Arrays are indexed by iteration first: iteration 0 holds the initial weights and what they
    give, iteration t the weights after t updates, so a run of n updates has n + 1 rows.
    """

    learning_rate: float
    weights: tuple[np.ndarray, ...]       # per layer: (T, units, fan_in)
    nets: tuple[np.ndarray, ...]          # per layer: (T, samples, units)
    acts: tuple[np.ndarray, ...]          # per layer: (T, samples, units)
    losses: np.ndarray                    # (T, samples, outputs): ½(t - a)²
    loss: np.ndarray                      # (T,): E_total
    grad_acts: tuple[np.ndarray, ...]     # per layer: (T, samples, units)
    deltas: tuple[np.ndarray, ...]        # per layer: (T, samples, units)
    grad_weights: tuple[np.ndarray, ...]  # per layer: (T, units, fan_in)

    @property
    def rows(self) -> int:
        return len(self.loss)


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
    rows: list[tuple] = []
    for t in range(iterations + 1):
        with np.errstate(over="ignore", invalid="ignore"):  # _check_range reports it instead
            fwd = forward(spec.layers, weights, inputs)
        _check_range(spec, fwd, weights, learning_rate, t)
        losses = sample_losses(fwd.acts[-1], targets)
        bwd = backward(spec.layers, weights, inputs, fwd, targets)
        rows.append((weights, fwd, losses, total_loss(losses), bwd))
        weights = update(weights, bwd.grad_weights, learning_rate)

    def stack(get) -> tuple[np.ndarray, ...]:
        return tuple(np.stack([get(row)[l] for row in rows]) for l in range(len(spec.layers)))

    return Trace(
        learning_rate=learning_rate,
        weights=stack(lambda r: r[0]),
        nets=stack(lambda r: r[1].nets),
        acts=stack(lambda r: r[1].acts),
        losses=np.stack([r[2] for r in rows]),
        loss=np.array([r[3] for r in rows]),
        grad_acts=stack(lambda r: r[4].grad_acts),
        deltas=stack(lambda r: r[4].deltas),
        grad_weights=stack(lambda r: r[4].grad_weights),
    )


def _check_range(spec: NetworkSpec, fwd: Forward, weights: list[np.ndarray],
                 learning_rate: float, iteration: int) -> None:
    for layer, net in zip(spec.layers, fwd.nets):
        if not np.all(np.isfinite(net)) or not all(np.all(np.isfinite(w)) for w in weights):
            raise NumericalError(
                f"learning rate {format_rate(learning_rate)}: the weights stop being finite at iteration "
                f"{iteration}; use a smaller learning rate or fewer iterations")
        if layer.activation == "sigmoid" and np.max(np.abs(net)) > EXP_LIMIT:
            raise NumericalError(
                f"learning rate {format_rate(learning_rate)}: a net input of layer {layer.name!r} reaches "
                f"{float(np.max(np.abs(net))):.4g} at iteration {iteration}, where a "
                "spreadsheet's EXP overflows (#NUM!); use a smaller learning rate or fewer "
                "iterations")
