"""The same network trained with torch autograd in float64: the yardstick for the engine and for
the recalculated sheets. Written from the math, not from sheetgen's engine."""

from __future__ import annotations

import numpy as np
import torch

from sheetgen.compare import relative_error  # noqa: F401  (the tests import it from here)
from sheetgen.spec import NetworkSpec

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "identity": lambda x: x,
}


def autograd_columns(spec: NetworkSpec, learning_rate: float, iterations: int) -> dict:
    """Every table column (keyed as sheetgen.quantities keys) at every iteration, by autograd."""
    weights = [torch.tensor(layer.weights, dtype=torch.float64) for layer in spec.layers]
    inputs = torch.tensor(spec.inputs, dtype=torch.float64)
    targets = torch.tensor(spec.targets, dtype=torch.float64)
    rows = []
    for _ in range(iterations + 1):
        params = [w.clone().requires_grad_(True) for w in weights]
        nets, acts = [], []
        below = inputs
        for layer, w in zip(spec.layers, params):
            net = below @ w.T
            act = ACTIVATIONS[layer.activation](net)
            net.retain_grad()
            act.retain_grad()
            nets.append(net)
            acts.append(act)
            below = act
        terms = 0.5 * (targets - acts[-1]) ** 2
        total = terms.sum()
        total.backward()
        row = {("E_total",): total.item()}
        for s in range(spec.n_samples):
            for j in range(targets.shape[1]):
                row[("E", s, j)] = terms[s, j].item()
        for l, layer in enumerate(spec.layers):
            for s in range(spec.n_samples):
                for j in range(layer.units):
                    row[("net", l, s, j)] = nets[l][s, j].item()
                    row[("act", l, s, j)] = acts[l][s, j].item()
                    row[("delta", l, s, j)] = nets[l].grad[s, j].item()
                    if l < len(spec.layers) - 1:
                        row[("grad_act", l, s, j)] = acts[l].grad[s, j].item()
            for j in range(layer.units):
                for k in range(params[l].shape[1]):
                    row[("w", l, j, k)] = params[l][j, k].item()
                    row[("grad_w", l, j, k)] = params[l].grad[j, k].item()
        rows.append(row)
        with torch.no_grad():
            weights = [p - learning_rate * p.grad for p in params]
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}
