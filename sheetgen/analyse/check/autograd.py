"""Every row of a table recomputed by torch autograd (float64) from that row's own weights.

Rows are independent, so they are one batch: the sum of every row's E_total is differentiated
once and each row's gradients are its own. torch is imported when a table is diagnosed, not
when the module is: importing sheetgen never loads torch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.quantities import Key
from sheetgen.workbook.spec import NetworkSpec


def autograd_rows(spec: NetworkSpec, get: Callable[[Key], np.ndarray]) -> dict[Key, np.ndarray]:
    """Forward pass, loss and gradients of every row.

    Args:
        spec: the table's shape and activations.
        get: a row-by-row array of each weight ("w", l, j, k), input ("input", 0, k) and
            target ("target", 0, j), as the table gives them.

    Returns:
        Each computed quantity's key (nets, activations, E, E_total, ∂E/∂a of every layer,
        δ, ∂E/∂w) mapped to its value at every row.
    """
    import torch

    def tensor(keys) -> torch.Tensor:
        return torch.tensor(np.stack([get(k) for k in keys], axis=-1), dtype=torch.float64)

    weights = []
    for l, layer in enumerate(spec.layers):
        fan_in = len(layer.weights[0])
        flat = tensor([("w", l, j, k) for j in range(layer.units) for k in range(fan_in)])
        weights.append(flat.reshape(-1, layer.units, fan_in).requires_grad_(True))
    below = tensor([("input", 0, k) for k in range(spec.n_inputs)])
    targets = tensor([("target", 0, j) for j in range(spec.layers[-1].units)])
    nets, acts = [], []
    for layer, w in zip(spec.layers, weights):
        net = torch.einsum("tjk,tk->tj", w, below)
        if layer.bias is not None:  # a fixed bias shared by the layer's units (Mazur's)
            net = net + tensor([("init_b", len(nets), 0)])
        act = ACTIVATIONS[layer.activation].tensor_forward(net)
        net.retain_grad()
        act.retain_grad()
        nets.append(net)
        acts.append(act)
        below = act
    losses = 0.5 * (targets - acts[-1]) ** 2
    total = losses.sum(dim=1)
    total.sum().backward()
    out: dict[Key, np.ndarray] = {("E_total",): total.detach().numpy()}
    for j in range(losses.shape[1]):
        out[("E", 0, j)] = losses[:, j].detach().numpy()
    for l, layer in enumerate(spec.layers):
        for j in range(layer.units):
            out[("net", l, 0, j)] = nets[l][:, j].detach().numpy()
            out[("act", l, 0, j)] = acts[l][:, j].detach().numpy()
            out[("delta", l, 0, j)] = nets[l].grad[:, j].numpy()
            out[("grad_act", l, 0, j)] = acts[l].grad[:, j].numpy()
            for k in range(len(layer.weights[0])):
                out[("grad_w", l, j, k)] = weights[l].grad[:, j, k].numpy()
    return out
