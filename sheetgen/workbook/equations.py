"""The network's equations as a student writes them, for the sheet that explains the network.

These are the same quantities the formula emitter writes, in mathematical notation; both walk
the same keys, so the explanation cannot drift from the sheet.
"""

from __future__ import annotations

from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.quantities import bias_index, bias_label, label, unit_label
from sheetgen.workbook.spec import NetworkSpec


def _below(spec: NetworkSpec, l: int, s: int, k: int) -> str:
    return f"i{k + 1}" if l == 0 else "a_" + unit_label(spec, l - 1, k)


def equations(spec: NetworkSpec) -> list[tuple[str, list[str]]]:
    """Sections of (heading, lines): forward pass, loss, backward pass, update."""
    last = len(spec.layers) - 1
    s = 0  # the equations are the same for every sample; show the first
    forward, backward, gradients = [], [], []
    for l, layer in enumerate(spec.layers):
        act_text = ACTIVATIONS[layer.activation].equation
        for j in range(layer.units):
            z = unit_label(spec, l, j)
            terms = " + ".join(
                f"{label(spec, ('w', l, j, k))}·{_below(spec, l, s, k)}" for k in range(len(layer.weights[0]))
            )
            if layer.bias is not None:
                terms += f" + {bias_label(spec, l, bias_index(spec, l, j))}"
            forward.append(f"{z} = {terms}")
            forward.append(f"a_{z} = {act_text.format(z=z)}")
    outputs = [f"E{j + 1}" for j in range(spec.layers[-1].units)]
    if spec.loss == "cross_entropy":
        loss = [
            f"E{j + 1} = −t{j + 1}·ln(a_{unit_label(spec, last, j)})" for j in range(spec.layers[-1].units)
        ]
    else:
        loss = [
            f"E{j + 1} = ½·(t{j + 1} − a_{unit_label(spec, last, j)})²" for j in range(spec.layers[-1].units)
        ]
    if spec.n_samples == 1:
        loss.append("E_total = " + " + ".join(outputs))
    elif spec.reduction == "mean":
        loss.append(f"E_total = ({' + '.join(outputs)}) averaged over the {spec.n_samples} samples")
    else:
        loss.append(f"E_total = ({' + '.join(outputs)}) summed over the {spec.n_samples} samples")
    for l in range(last, -1, -1):
        layer = spec.layers[l]
        definition = ACTIVATIONS[layer.activation]
        for j in range(layer.units):
            z = unit_label(spec, l, j)
            a = "a_" + z
            if l == last and definition.vector:
                backward.append(f"δ_{z} = ∂E/∂{z} = a_{z} − t{j + 1} ({definition.name} with cross-entropy)")
                grad = None
            elif l == last:
                grad = f"(a_{z} − t{j + 1})"
            else:
                above = spec.layers[l + 1]
                grad = f"∂E/∂{a}"
                terms = " + ".join(
                    f"δ_{unit_label(spec, l + 1, m)}·{label(spec, ('w', l + 1, m, j))}"
                    for m in range(above.units)
                )
                backward.append(f"∂E/∂{a} = {terms}")
            if grad is not None:
                backward.append(f"δ_{z} = ∂E/∂{z} = {grad}·{definition.slope_equation.format(a=a, z=z)}")
            for k in range(len(layer.weights[0])):
                w = label(spec, ("w", l, j, k))
                gradients.append(f"∂E/∂{w} = δ_{z}·{_below(spec, l, s, k)}")
    gradients.sort(key=lambda line: int(line.split("w", 1)[1].split(" ")[0]))
    for l, layer in enumerate(spec.layers):
        if layer.trained_bias:
            for u in range(len(layer.bias)):
                units = range(layer.units) if layer.shared_bias else [u]
                deltas = " + ".join(f"δ_{unit_label(spec, l, j)}" for j in units)
                gradients.append(f"∂E/∂{bias_label(spec, l, u)} = {deltas}")
        elif layer.bias is not None:
            gradients.append(
                f"{', '.join(bias_label(spec, l, u) for u in range(len(layer.bias)))} fixed: not trained"
            )
    if spec.n_samples > 1:
        gradients.append(
            f"each gradient is {'averaged' if spec.reduction == 'mean' else 'summed'}"
            f" over the {spec.n_samples} samples, δ taken per sample"
        )
    activations = sorted({ACTIVATIONS[layer.activation].explanation for layer in spec.layers})
    return [
        ("Forward pass", forward + activations),
        ("Loss", loss),
        ("Backward pass (chain rule, output layer first)", backward),
        ("Gradients", gradients),
        (
            "Update, every weight from the same row",
            [
                "w ← w − η·∂E/∂w"
                + (", b ← b − η·∂E/∂b" if any(layer.trained_bias for layer in spec.layers) else ""),
                "The next row's weights are this row's weights",
                "minus η times this row's gradients.",
            ],
        ),
    ]
