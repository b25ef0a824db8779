"""The same network trained with torch autograd in float64: the yardstick for the engine and for
the recalculated sheets. Written from the math, not from sheetgen's engine."""

from __future__ import annotations

import numpy as np
import torch

from sheetgen.analyse.compare import relative_error  # noqa: F401  (the tests import it from here)
from sheetgen.workbook.spec import NetworkSpec

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda x: torch.nn.functional.leaky_relu(x, 0.01),
    "identity": lambda x: x,
    "softmax": lambda x: torch.softmax(x, dim=1),
}


def autograd_columns(spec: NetworkSpec, learning_rate: float, iterations: int) -> dict:
    """Every table column (keyed as sheetgen.workbook.quantities keys) at every iteration, by autograd.

    δ and ∂E/∂a are reported per sample, for that sample's own loss (the sheet's convention):
    with a mean loss, autograd's gradients on them are scaled back by the number of samples.
    """
    weights = [torch.tensor(layer.weights, dtype=torch.float64) for layer in spec.layers]
    biases = [
        None if layer.bias is None else torch.tensor(layer.bias, dtype=torch.float64) for layer in spec.layers
    ]
    inputs = torch.tensor(spec.inputs, dtype=torch.float64)
    targets = torch.tensor(spec.targets, dtype=torch.float64)
    per_sample = spec.n_samples if spec.reduction == "mean" else 1
    rows = []
    for _ in range(iterations + 1):
        params = [w.clone().requires_grad_(True) for w in weights]
        bias_params = [
            None if b is None else b.clone().requires_grad_(layer.train_bias)
            for b, layer in zip(biases, spec.layers)
        ]
        nets, acts = [], []
        below = inputs
        for layer, w, b in zip(spec.layers, params, bias_params):
            net = below @ w.T
            if b is not None:
                net = net + b
            act = ACTIVATIONS[layer.activation](net)
            net.retain_grad()
            act.retain_grad()
            nets.append(net)
            acts.append(act)
            below = act
        if spec.loss == "cross_entropy":
            terms = -targets * torch.log(acts[-1])
        else:
            terms = 0.5 * (targets - acts[-1]) ** 2
        total = terms.sum() / (spec.n_samples if spec.reduction == "mean" else 1)
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
                    row[("delta", l, s, j)] = nets[l].grad[s, j].item() * per_sample
                    if l < len(spec.layers) - 1:
                        row[("grad_act", l, s, j)] = acts[l].grad[s, j].item() * per_sample
            for j in range(layer.units):
                for k in range(params[l].shape[1]):
                    row[("w", l, j, k)] = params[l][j, k].item()
                    row[("grad_w", l, j, k)] = params[l].grad[j, k].item()
            if layer.trained_bias:
                for u in range(len(layer.bias)):
                    row[("b", l, u)] = bias_params[l][u].item()
                    row[("grad_b", l, u)] = bias_params[l].grad[u].item()
        rows.append(row)
        with torch.no_grad():
            weights = [p - learning_rate * p.grad for p in params]
            biases = [
                b if b is None or not layer.train_bias else b - learning_rate * b.grad
                for b, layer in zip(bias_params, spec.layers)
            ]
            biases = [None if b is None else b.detach() for b in biases]
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}
