"""The network diagram: sized to the network, no label on another, never on the sheet's text."""

import struct
import zipfile

import openpyxl
import pytest

from sheetgen.workbook.diagram import (
    LABELLED_WEIGHTS,
    MAX_SHOWN_PX,
    _overlaps,
    draw_network,
    draw_png,
    network_picture,
    network_shape,
)
from sheetgen.workbook.layout import (
    DEFAULT_ROW_PX,
    NETWORK_PICTURE_COL,
    NETWORK_PICTURE_ROW,
    NETWORK_SHEET,
    NETWORK_TEXT_WIDTH,
    network_text_place,
)
from sheetgen.workbook.printing import DEFAULT_COLUMN_PX, column_px
from sheetgen.workbook.quantities import label
from sheetgen.workbook.spec import load_spec, spec_from_dict
from sheetgen.workbook.writer import build_workbook
from tests.conftest import ROOT
from tests.test_render import DEEP, _anchors, _sheet_parts


def network(inputs: int, units: list[int], activations=None, bias="random", samples=1, softmax=False) -> dict:
    """A template dict for a fully connected network of the given sizes."""
    activations = activations or ["sigmoid"] * len(units)
    if softmax:
        activations = activations[:-1] + ["softmax"]
    layers = [
        {"units": n, "activation": a, "weights": "random", **({"bias": bias} if bias else {})}
        for n, a in zip(units, activations)
    ]
    targets = [[1.0 if j == 0 else 0.0 for j in range(units[-1])]] * samples
    return {
        "name": "net",
        "description": "test",
        "init": {"seed": 1, "scale": 0.5},
        "loss": "cross_entropy" if softmax else "half_squared_error",
        "data": {"inputs": [[0.1 * (k + 1) for k in range(inputs)]] * samples, "targets": targets},
        "layers": layers,
        "training": {"learning_rates": [0.5], "iterations": 3},
    }


SPECS = {
    **{f"template {p.stem}": load_spec(p) for p in sorted((ROOT / "templates").glob("*.toml"))},
    "deep: tanh, ReLU, identity, softmax": spec_from_dict(DEEP),
    "1-1": spec_from_dict(network(1, [1], bias=None)),
    "3-4-4-2, three samples": spec_from_dict(network(3, [4, 4, 2], ["tanh", "relu", "sigmoid"], samples=3)),
    "wide 6-8-8-6": spec_from_dict(network(6, [8, 8, 6])),
    "ten softmax outputs": spec_from_dict(network(4, [6, 10], softmax=True)),
    "30 hidden units": spec_from_dict(network(5, [30, 4])),
    "six layers": spec_from_dict(network(3, [3, 3, 3, 3, 3, 2])),
    "60 inputs, 40 units": spec_from_dict(network(60, [40, 3], bias=None)),
}


def drawn_labels(spec):
    """The diagram's labels and their boxes; the figure is closed."""
    from matplotlib import pyplot as plt

    drawing = draw_network(spec)
    plt.close(drawing.figure)
    return drawing.labels


@pytest.mark.parametrize("name", SPECS)
def test_no_label_touches_another(name):
    labels = drawn_labels(SPECS[name])
    clashes = [
        (a, b)
        for i, (a, box_a) in enumerate(labels)
        for b, box_b in labels[i + 1 :]
        if _overlaps(box_a, box_b, pad=0)
    ]
    assert clashes == []


@pytest.mark.parametrize("name", SPECS)
def test_every_weight_is_labelled_or_its_range_is(name):
    spec = SPECS[name]
    texts = [text for text, _ in drawn_labels(spec)]
    for l, layer in enumerate(spec.layers):
        first = label(spec, ("w", l, 0, 0))
        last = label(spec, ("w", l, layer.units - 1, layer.fan_in - 1))
        if layer.units * layer.fan_in <= LABELLED_WEIGHTS:
            names = [label(spec, ("w", l, j, k)) for j in range(layer.units) for k in range(layer.fan_in)]
            assert sorted(t for t in texts if t in names) == sorted(names)
        else:
            assert f"{first} … {last}" in texts


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_the_picture_is_sized_to_the_network_and_says_how_big_it_is(name):
    picture = network_picture(SPECS[name])
    width, height = struct.unpack(">II", picture.png[16:24])  # the PNG's IHDR
    shown = (width / 2 * picture.scale, height / 2 * picture.scale)  # drawn at 192 dpi
    assert shown == pytest.approx((picture.width_px, picture.height_px), abs=1)
    assert picture.width_px <= MAX_SHOWN_PX[0] and picture.height_px <= MAX_SHOWN_PX[1]
    largest = max(picture.width_px / MAX_SHOWN_PX[0], picture.height_px / MAX_SHOWN_PX[1])
    assert picture.scale == 1 or largest == pytest.approx(1, abs=0.01)  # shrunk just to fit


def test_a_bigger_network_gets_a_bigger_picture():
    small = network_picture(SPECS["template seed"])
    deep = network_picture(SPECS["deep: tanh, ReLU, identity, softmax"])
    assert deep.width_px > 1.5 * small.width_px and deep.height_px > 1.5 * small.height_px


def test_loss_reads_as_the_equations_write_it():
    texts = [text for text, _ in drawn_labels(SPECS["template seed"])]
    assert "E1 = ½·(t1 − a_o1)²" in texts
    assert "½·(t1 − a_o1)²" in SPECS["template seed"].description


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "wide 6-8-8-6",
        "30 hidden units",
        "six layers",
        "60 inputs, 40 units",
        "deep: tanh, ReLU, identity, softmax",
    ],
)
def test_the_diagram_covers_no_cell_of_the_network_sheet(name, tmp_path):
    path = tmp_path / "book.xlsx"
    build_workbook(SPECS[name], path)
    ws = openpyxl.load_workbook(path)[NETWORK_SHEET]
    with zipfile.ZipFile(path) as package:
        ((kind, row0, col0, row1, col1),) = list(_anchors(package, _sheet_parts(package)[NETWORK_SHEET]))
    assert kind == "picture"
    covered = [
        c.coordinate
        for row in ws.iter_rows(min_row=row0 + 1, max_row=row1 + 1, min_col=col0 + 1, max_col=col1 + 1)
        for c in row
        if c.value is not None
    ]
    assert covered == []
    texts = [c for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert any(c.value == "Forward pass" for c in texts)  # the equations are there


@pytest.mark.parametrize(
    "width_px, height_px, beside",
    [
        (635, 171, True),  # the exercise: the equations beside the diagram
        (1291, 405, False),  # the deep network: beside would print below 70%, so below it
    ],
)
def test_the_equations_go_beside_the_diagram_or_below_it(width_px, height_px, beside):
    place = network_text_place(width_px, height_px, column_px(NETWORK_TEXT_WIDTH))
    picture_cols = -(-width_px // DEFAULT_COLUMN_PX)
    if beside:
        assert place.col > NETWORK_PICTURE_COL + picture_cols  # right of the picture's columns
    else:
        assert place.col == NETWORK_PICTURE_COL
        assert place.row > NETWORK_PICTURE_ROW + height_px / DEFAULT_ROW_PX  # under its rows


@pytest.mark.slow
@pytest.mark.parametrize("name", SPECS)
def test_the_networks_shape_is_drawn_as_the_network(name):
    """The picture (and its cache entry) is drawn from network_shape: the numbers, names and
    training settings it leaves out are none that the picture shows."""
    spec = SPECS[name]
    assert draw_png(network_shape(spec)) == draw_png(spec)
