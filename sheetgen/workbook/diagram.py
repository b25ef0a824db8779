"""A picture of the network (units, weights, loss) for the sheet that explains it.

The drawing is sized to the network: one inch of picture per unit of the coordinates below, so
text keeps its size whatever the network, and the picture grows instead. Weight labels are
placed one by one along their arrows where they touch no node, bias or label already placed.
A layer of more than MAX_UNITS_DRAWN units shows its first and last units with a gap between,
and more than LABELLED_WEIGHTS weights between two layers get one label for their range.

The picture is drawn from the network's shape alone (network_shape), with matplotlib's default
style whatever the user's matplotlibrc, and kept in the user's cache (picture_cache), so a
network drawn before costs no matplotlib at all.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

from sheetgen.workbook import picture_cache
from sheetgen.workbook.picture_cache import Drawn
from sheetgen.workbook.quantities import bias_index, bias_label, label, unit_label
from sheetgen.workbook.spec import NetworkSpec

DPI = 192  # twice the 96 pixels per inch a spreadsheet draws at: sharp on screen
MAX_UNITS_DRAWN = 8  # a bigger layer shows units 1-6, a gap and its last unit
LABELLED_WEIGHTS = 24  # more weights between two layers get one label "w5 … w40"
_PITCH = 0.85  # inches between the centres of two units of a layer
_PITCH_BIAS = 1.05  # the same for a layer whose units carry a "+ b" line
_GAP = 1.3  # inches of arrow between two layers, before room for labels
_MARGIN = 0.15
_ALONG = (
    0.25,
    0.75,
    0.35,
    0.65,
    0.15,
    0.85,
    0.45,
    0.55,
    0.3,
    0.7,
    0.2,
    0.8,
    0.4,
    0.6,
    0.5,
    0.1,
    0.9,
)  # where along its arrow a weight label may sit, in order of preference


# The largest picture shown at full size, in pixels: one A4 landscape page holds it, below a
# sheet's title, at any print scale. A bigger network's picture is shown smaller.
MAX_SHOWN_PX = (1380, 560)


@dataclass(frozen=True)
class Picture:
    """A PNG, the scale to show it at, and its size shown on a sheet, in pixels of 1/96 inch."""

    png: bytes
    scale: float
    width_px: int
    height_px: int


@dataclass(frozen=True)
class Drawing:
    """The figure and the boxes of its labels (inches), for tests of what collides."""

    figure: object
    labels: tuple[tuple[str, tuple[float, float, float, float]], ...]


def _shown(units: int) -> list[int | None]:
    """The units drawn for a layer of `units`; None stands for the gap of units left out."""
    if units <= MAX_UNITS_DRAWN:
        return list(range(units))
    return list(range(MAX_UNITS_DRAWN - 2)) + [None, units - 1]


def _overlaps(a, b, pad: float = 0.02) -> bool:
    return not (a[2] + pad <= b[0] or b[2] + pad <= a[0] or a[3] + pad <= b[1] or b[3] + pad <= a[1])


def draw_network(spec: NetworkSpec) -> Drawing:
    """Draw the network with matplotlib; the caller closes the figure."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    sizes = [spec.n_inputs] + [layer.units for layer in spec.layers]
    shown = [_shown(n) for n in sizes]
    pitch = _PITCH_BIAS if any(layer.bias is not None for layer in spec.layers) else _PITCH
    labelled = [layer.units * layer.fan_in <= LABELLED_WEIGHTS for layer in spec.layers]
    # wider gaps where more labels must fit between more crossing arrows
    gaps = [
        _GAP + (0.15 * max(len(shown[l]), len(shown[l + 1])) if labelled[l] else 0)
        for l in range(len(spec.layers))
    ]
    fig = plt.figure(figsize=(4, 4), dpi=DPI)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axis("off")
    ax.set_xlim(0, 4)  # one unit per inch, kept when the figure is resized at the end
    ax.set_ylim(-2, 2)
    renderer = fig.canvas.get_renderer()

    def box(artist):
        """The artist's extent in inches, its rounded frame included where it has one."""
        b = artist.get_window_extent(renderer)
        if artist.get_bbox_patch() is not None:
            artist.update_bbox_position_size(renderer)
            b = type(b).union([b, artist.get_bbox_patch().get_window_extent(renderer)])
        b = b.transformed(ax.transData.inverted())
        return (b.x0, b.y0, b.x1, b.y1)

    def node(l, j, x, y):
        if j is None:
            return ax.text(x, y, "⋮", ha="center", va="center", fontsize=14, color="#555555")
        if l == 0:
            return ax.text(
                x,
                y,
                f"i{j + 1}",
                ha="center",
                va="center",
                fontsize=10,
                bbox={"boxstyle": "round,pad=0.35", "fc": "#FFF2CC", "ec": "#7F6000"},
            )
        z = unit_label(spec, l - 1, j)
        return ax.text(
            x,
            y,
            f"{z} | a_{z}\n{spec.layers[l - 1].activation}",
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.35", "fc": "#DDEBF7", "ec": "#1F4E79"},
        )

    widths = []
    for l, units in enumerate(shown):  # measure each column's widest box first
        trial = [node(l, j, 0, 0) for j in units]
        widths.append(max(box(t)[2] - box(t)[0] for t in trial))
        for t in trial:
            t.remove()
    centres_x = [widths[0] / 2]
    for l in range(1, len(shown)):
        centres_x.append(centres_x[-1] + widths[l - 1] / 2 + gaps[l - 1] + widths[l] / 2)

    placed: list[tuple[str, tuple[float, float, float, float]]] = []
    centres = []
    for l, units in enumerate(shown):
        column = []
        for i, j in enumerate(units):
            x, y = centres_x[l], ((len(units) - 1) / 2 - i) * pitch
            text = node(l, j, x, y)
            node_box = box(text)
            placed.append((text.get_text().split("\n")[0], node_box))
            column.append((x, y))
            if l > 0 and j is not None and spec.layers[l - 1].bias is not None:
                layer = spec.layers[l - 1]
                bias = bias_label(spec, l - 1, bias_index(spec, l - 1, j))
                fixed = "" if layer.train_bias else " (fixed)"
                text = ax.text(
                    x,
                    node_box[1] - 0.03,
                    f"+ {bias}{fixed}",
                    ha="center",
                    va="top",
                    fontsize=8,
                    color="#7F6000",
                )
                placed.append((text.get_text(), box(text)))
        centres.append(column)

    for l, layer in enumerate(spec.layers):
        for i, j in enumerate(shown[l + 1]):
            for m, k in enumerate(shown[l]):
                if j is None or k is None:
                    continue
                (x0, y0), (x1, y1) = centres[l][m], centres[l + 1][i]
                x0, x1 = x0 + widths[l] / 2 + 0.03, x1 - widths[l + 1] / 2 - 0.05
                ax.annotate(
                    "",
                    xy=(x1, y1),
                    xytext=(x0, y0),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1, "shrinkA": 0, "shrinkB": 0},
                )
                if not labelled[l]:
                    continue
                name = label(spec, ("w", l, j, k))
                best = None
                for t in _ALONG:
                    text = ax.text(
                        x0 + t * (x1 - x0),
                        y0 + t * (y1 - y0),
                        name,
                        fontsize=8,
                        color="#1F4E79",
                        ha="center",
                        va="center",
                        bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"},
                    )
                    b = box(text)
                    hits = sum(_overlaps(b, other) for _, other in placed)
                    if best is None or hits < best[0]:
                        if best is not None:
                            best[1].remove()
                        best = (hits, text, b)
                    else:
                        text.remove()
                    if hits == 0:
                        break
                placed.append((name, best[2]))
        if not labelled[l]:
            first = label(spec, ("w", l, 0, 0))
            last = label(spec, ("w", l, layer.units - 1, layer.fan_in - 1))
            x_mid = (centres_x[l] + widths[l] / 2 + centres_x[l + 1] - widths[l + 1] / 2) / 2
            top = max(b[3] for _, b in placed)
            text = ax.text(
                x_mid, top + 0.05, f"{first} … {last}", ha="center", va="bottom", fontsize=8, color="#1F4E79"
            )
            placed.append((text.get_text(), box(text)))

    last = len(spec.layers) - 1
    x_text = centres_x[-1] + widths[-1] / 2 + 0.2
    for i, j in enumerate(shown[-1]):
        if j is None:
            continue
        a = "a_" + unit_label(spec, last, j)
        text = (
            f"E{j + 1} = −t{j + 1}·ln({a})"
            if spec.loss == "cross_entropy"
            else f"E{j + 1} = ½·(t{j + 1} − {a})²"
        )
        artist = ax.text(x_text, centres[-1][i][1], text, fontsize=9, va="center")
        placed.append((text, box(artist)))
    outputs = spec.layers[-1].units
    total = " + ".join(f"E{j + 1}" for j in range(outputs)) if outputs <= 4 else f"E1 + … + E{outputs}"
    if spec.n_samples > 1:
        how = "averaged" if spec.reduction == "mean" else "summed"
        total = f"{total if outputs == 1 else f'({total})'} {how} over the {spec.n_samples} samples"
    bottom = min(b[1] for _, b in placed)
    artist = ax.text(x_text, bottom - 0.1, "E_total = " + total, fontsize=10, weight="bold", va="top")
    placed.append(("E_total", box(artist)))

    left = min(b[0] for _, b in placed) - _MARGIN
    right = max(b[2] for _, b in placed) + _MARGIN
    low = min(b[1] for _, b in placed) - _MARGIN
    high = max(b[3] for _, b in placed) + _MARGIN
    ax.set_xlim(left, right)
    ax.set_ylim(low, high)
    fig.set_size_inches(right - left, high - low)
    return Drawing(fig, tuple(placed))


def network_shape(spec: NetworkSpec) -> NetworkSpec:
    """What the picture shows of a spec: its layers (names, units, activations, which biases,
    fixed or trained), loss and reduction, and how many inputs, outputs and samples; every
    number set to 0, no name, description or training settings. The picture is drawn from
    this, so networks of one shape share it, and its cache entry."""

    def zeros(rows):
        return tuple(tuple(0.0 for _ in row) for row in rows)

    layers = tuple(
        replace(
            layer,
            weights=zeros(layer.weights),
            bias=None if layer.bias is None else tuple(0.0 for _ in layer.bias),
        )
        for layer in spec.layers
    )
    return replace(
        spec,
        name="",
        description="",
        layers=layers,
        inputs=zeros(spec.inputs),
        targets=zeros(spec.targets),
        learning_rates=(1.0,),
        iterations=1,
        loss_threshold=1.0,
    )


def draw_png(spec: NetworkSpec) -> Drawn:
    """The network drawn with matplotlib's default style, as PNG bytes without a timestamp
    (builds repeat), and the figure's size in inches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.style
    from matplotlib import pyplot as plt

    with matplotlib.style.context("default"):  # not the user's matplotlibrc
        drawing = draw_network(spec)
        try:
            width, height = drawing.figure.get_size_inches()
            buffer = io.BytesIO()
            drawing.figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        finally:
            plt.close(drawing.figure)
    return Drawn(buffer.getvalue(), float(width), float(height))


def network_picture(spec: NetworkSpec) -> Picture:
    """The network's picture and the size to show it at: from the cache where this shape was
    drawn before, else drawn (draw_png) and kept."""
    shape = network_shape(spec)
    key = picture_cache.key(shape.to_json())
    drawn = picture_cache.load(key) if key is not None else None
    if drawn is None:
        drawn = draw_png(shape)
        if key is not None:
            picture_cache.store(key, drawn)
    width, height = drawn.width_inches, drawn.height_inches
    scale = min(1.0, MAX_SHOWN_PX[0] / (width * 96), MAX_SHOWN_PX[1] / (height * 96))
    return Picture(drawn.png, scale, round(width * 96 * scale), round(height * 96 * scale))


def network_png(spec: NetworkSpec) -> bytes:
    """The network drawn as PNG bytes (see network_picture for its size)."""
    return network_picture(spec).png
