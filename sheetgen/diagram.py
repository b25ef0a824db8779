"""A picture of the network (units, weights, loss) for the sheet that explains it."""

from __future__ import annotations

import io

from sheetgen.quantities import bias_index, bias_label, label, unit_label
from sheetgen.spec import NetworkSpec


def network_png(spec: NetworkSpec) -> bytes:
    """The network drawn with matplotlib, as PNG bytes without a timestamp (builds repeat)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sizes = [spec.n_inputs] + [layer.units for layer in spec.layers]
    tallest = max(sizes)
    pos = [[(2.2 * x, (n - 1) / 2 - y) for y in range(n)] for x, n in enumerate(sizes)]
    width = 2.2 * (len(sizes)) + 1.5
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * len(sizes), 1.0 + 1.1 * tallest), dpi=110)
    for l, layer in enumerate(spec.layers):
        for j in range(layer.units):
            for k in range(len(layer.weights[0])):
                (x0, y0), (x1, y1) = pos[l][k], pos[l + 1][j]
                ax.annotate("", xy=(x1 - 0.45, y1), xytext=(x0 + 0.45, y0),
                            arrowprops=dict(arrowstyle="->", color="#555555", lw=1))
                t = 0.28
                ax.text(x0 + 0.45 + t * (x1 - x0 - 0.9), y0 + t * (y1 - y0) + 0.07,
                        label(spec, ("w", l, j, k)), fontsize=9, color="#1F4E79",
                        ha="center", va="bottom")
    node_style = dict(boxstyle="round,pad=0.35", fc="#FFF2CC", ec="#7F6000")
    for k, (x, y) in enumerate(pos[0]):
        ax.text(x, y, f"i{k + 1}", ha="center", va="center", fontsize=10,
                bbox=node_style)
    for l, layer in enumerate(spec.layers):
        for j, (x, y) in enumerate(pos[l + 1]):
            z = unit_label(spec, l, j)
            ax.text(x, y, f"{z} | a_{z}\n{layer.activation}", ha="center", va="center",
                    fontsize=9, bbox=dict(boxstyle="round,pad=0.35", fc="#DDEBF7", ec="#1F4E79"))
            if layer.bias is not None:
                bias = bias_label(spec, l, bias_index(spec, l, j))
                fixed = "" if layer.train_bias else " (fixed)"
                ax.text(x, y - 0.32, f"+ {bias}{fixed}", ha="center", va="top", fontsize=8,
                        color="#7F6000")
    x_out = pos[-1][0][0]
    last = len(spec.layers) - 1
    for j, (x, y) in enumerate(pos[-1]):
        a = "a_" + unit_label(spec, last, j)
        text = (f"E{j + 1} = −t{j + 1}·ln({a})" if spec.loss == "cross_entropy"
                else f"E{j + 1} = ½(t{j + 1} − {a})²")
        ax.annotate(text, xy=(x + 0.6, y), xytext=(x + 1.0, y), fontsize=9, va="center")
    total = " + ".join(f"E{j + 1}" for j in range(spec.layers[-1].units))
    if spec.n_samples > 1:
        total = f"{spec.reduction} over {spec.n_samples} samples of ({total})"
    ax.text(x_out + 1.0, min(y for _, y in pos[-1]) - 0.7, "E_total = " + total, fontsize=10,
            weight="bold")
    ax.set_xlim(-0.8, width + 1.2)
    ax.set_ylim(-(tallest - 1) / 2 - 1.1, (tallest - 1) / 2 + 0.8)
    ax.axis("off")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
