"""Every activation in the registry, each of its facts held to the others: the engine's forward
against its slope (finite differences) and against torch, the spreadsheet formulas against the
engine in LibreOffice, the formulas against the evaluator that judges them, the equations'
placeholders. A new activation is picked up by every test here."""

import numpy as np
import openpyxl
import pytest
import torch
import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from sheetgen.analyse.recalc import recalculate
from sheetgen.workbook import engine
from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.formulas import activation_formula, delta_formula, term_magnitude
from sheetgen.workbook.quantities import columns, values
from sheetgen.workbook.spec import spec_from_dict
from tests.conftest import require_libreoffice
from tests.test_templates import assert_recalculated_matches_autograd
from tests.torch_reference import ACTIVATIONS as TORCH_ACTIVATIONS
from tests.torch_reference import autograd_columns, relative_error

NAMES = list(ACTIVATIONS)
ELEMENTWISE = [name for name in NAMES if not ACTIVATIONS[name].vector]
VECTOR = [name for name in NAMES if ACTIVATIONS[name].vector]
# net inputs on both sides of every kink, at 0, and large enough to saturate a sigmoid; two
# columns so that a vector activation sees rows of several units
NETS = np.array([[-30.0, -2.5], [-0.7, -1e-3], [0.0, 1e-3], [0.4, 1.3], [3.0, 25.0], [-0.2, 0.2]])
GRADS = np.array([[0.37, -1.1], [2.0, -0.5], [0.8, 1.5], [-0.25, 0.6], [1.9, -0.01], [-3.0, 0.45]])


def slope(name: str, net: np.ndarray) -> np.ndarray:
    """f'(net) by the engine's backward with ∂E/∂a = 1."""
    activation = ACTIVATIONS[name]
    return activation.backward(np.ones_like(net), net, activation.forward(net))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_is_the_forward_s_slope_by_finite_differences(name):
    forward = ACTIVATIONS[name].forward
    step = 1e-6
    net = NETS[np.abs(NETS) > 10 * step]  # away from a kink at 0 by more than the step
    numeric = (forward(net + step) - forward(net - step)) / (2 * step)
    np.testing.assert_allclose(slope(name, net), numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_backward_multiplies_by_the_gradient(name):
    activation = ACTIVATIONS[name]
    got = activation.backward(GRADS, NETS, activation.forward(NETS))
    np.testing.assert_allclose(got, GRADS * slope(name, NETS), rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", VECTOR)
def test_a_vector_activation_has_cross_entropy_s_delta(name):
    """The sheet writes δ = a − t for a vector activation (with cross-entropy) and no slope:
    finite differences of −Σ t·ln(a) must give that δ."""
    activation = ACTIVATIONS[name]
    assert activation.backward is None and activation.slope_formula is None
    targets = np.array([0.0, 1.0])
    step = 1e-6
    for net in NETS:

        def loss(x):
            return -np.sum(targets * np.log(activation.forward(x[None, :])[0]))

        numeric = [(loss(net + step * e) - loss(net - step * e)) / (2 * step) for e in np.eye(len(net))]
        expected = activation.forward(net[None, :])[0] - targets
        np.testing.assert_allclose(numeric, expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", NAMES)
def test_the_engines_forward_is_torchs(name):
    """The yardstick is torch's own function (tests/torch_reference.py, written from the math),
    not anything of sheetgen's: a few units in the last place apart at most."""
    got = TORCH_ACTIVATIONS[name](torch.tensor(NETS, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(ACTIVATIONS[name].forward(NETS), got, rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_engines_slope_is_torch_autograds_at_every_point(name):
    """At a kink too (net = 0): the engine takes the side torch's autograd takes."""
    net = torch.tensor(NETS, dtype=torch.float64, requires_grad=True)
    TORCH_ACTIVATIONS[name](net).backward(torch.tensor(GRADS, dtype=torch.float64))
    activation = ACTIVATIONS[name]
    expected = activation.backward(GRADS, NETS, activation.forward(NETS))
    np.testing.assert_allclose(expected, net.grad.numpy(), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_slope_reads_only_what_it_says(name):
    """check's dependency tracing trusts slope_reads: the part it leaves out is not used."""
    activation = ACTIVATIONS[name]
    act = activation.forward(NETS)
    parts = {
        part: value if part in activation.slope_reads else np.full_like(value, np.nan)
        for part, value in (("net", NETS), ("act", act))
    }
    got = activation.backward(GRADS, parts["net"], parts["act"])
    np.testing.assert_array_equal(got, activation.backward(GRADS, NETS, act))


@pytest.mark.parametrize("name", NAMES)
def test_equation_texts_fill_in(name):
    activation = ACTIVATIONS[name]
    assert "h1" in activation.equation.format(z="h1")
    assert activation.explanation
    if not activation.vector:
        assert activation.slope_equation.format(a="a_h1", z="h1")


# The formulas a sheet holds for a unit whose net input is N5, ∂E/∂a G5 and activation O5.
FORMULA_TEXT = {
    "sigmoid": ("1/(1+EXP(-N5))", "G5*O5*(1-O5)"),
    "tanh": ("TANH(N5)", "G5*(1-O5^2)"),
    "relu": ("MAX(0,N5)", "G5*(N5>0)"),
    "leaky_relu": ("MAX(N5,0.01*N5)", "G5*IF(N5>0,1,0.01)"),
    "identity": ("N5", "G5"),
}


@pytest.mark.parametrize("name, act, delta", [(name, *texts) for name, texts in FORMULA_TEXT.items()])
def test_formula_text(name, act, delta):
    assert activation_formula(name, ["M5", "N5"], 1) == act
    assert delta_formula(name, "G5", "N5", "O5") == delta


def test_every_elementwise_activation_has_its_formula_text_here():
    assert set(FORMULA_TEXT) == set(ELEMENTWISE)


def test_softmax_formula_text():
    assert activation_formula("softmax", ["A1", "B1"], 1) == (
        "EXP(B1-MAX(A1,B1))/(EXP(A1-MAX(A1,B1))+EXP(B1-MAX(A1,B1)))"
    )


def _columns(name: str, first_col: int) -> list[tuple[str, str]]:
    """(formula template, what it is) per column for one activation, rows as {this}; nets in
    the first two columns, gradients in the next two."""
    nets = [f"{xl_col_to_name(c)}{{this}}" for c in range(NETS.shape[1])]
    grads = [f"{xl_col_to_name(2 + c)}{{this}}" for c in range(NETS.shape[1])]
    activation = ACTIVATIONS[name]
    out = [(activation_formula(name, nets, j), f"act{j}") for j in range(len(nets))]
    if not activation.vector:
        acts = [f"{xl_col_to_name(first_col + j)}{{this}}" for j in range(len(nets))]
        out += [(delta_formula(name, grads[j], nets[j], acts[j]), f"delta{j}") for j in range(len(nets))]
    return out


def _engine(name: str) -> dict[str, np.ndarray]:
    activation = ACTIVATIONS[name]
    act = activation.forward(NETS)
    out = {f"act{j}": act[:, j] for j in range(NETS.shape[1])}
    if not activation.vector:
        delta = activation.backward(GRADS, NETS, act)
        out.update({f"delta{j}": delta[:, j] for j in range(NETS.shape[1])})
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_term_evaluator_understands_every_formula(name):
    """verify judges a cell against its formula's term magnitudes; a function the evaluator
    does not know would leave it unable to judge the column."""
    columns = {xl_col_to_name(c): NETS[:, c] for c in range(2)}
    columns.update({xl_col_to_name(2 + c): GRADS[:, c] for c in range(2)})
    first_col = 4
    expected = _engine(name)
    for offset, (_template, what) in enumerate(_columns(name, first_col)):
        columns[xl_col_to_name(first_col + offset)] = expected[what]
    for template, what in _columns(name, first_col):
        magnitude = term_magnitude("=" + template, lambda col, which: columns[col], lambda col, row: 0.0)
        assert magnitude.shape == (len(NETS),) and np.all(np.isfinite(magnitude)), what


@pytest.mark.libreoffice
def test_every_formula_recalculated_by_libreoffice_is_the_engine_s(tmp_path):
    """Each activation's formulas, as LibreOffice computes them, against the engine's forward
    and backward: the same arithmetic in the same order, so the same floats, up to the 15
    significant digits LibreOffice writes into the file (5e-15 relative at most)."""
    require_libreoffice()
    path = tmp_path / "activations.xlsx"
    book = xlsxwriter.Workbook(path)
    placed = {}
    for name in NAMES:
        sheet = book.add_worksheet(name[:31])
        columns = _columns(name, 4)
        for r, (nets, grads) in enumerate(zip(NETS, GRADS)):
            sheet.write_row(r, 0, [*nets, *grads])
            for offset, (template, _) in enumerate(columns):
                sheet.write_formula(r, 4 + offset, "=" + template.format(this=r + 1))
        placed[name] = [what for _, what in columns]
    book.close()
    recalculated = openpyxl.load_workbook(recalculate(path, tmp_path / "lo"), data_only=True)
    for name in NAMES:
        sheet = recalculated[name[:31]]
        expected = _engine(name)
        for offset, what in enumerate(placed[name]):
            got = [sheet.cell(row=r + 1, column=5 + offset).value for r in range(len(NETS))]
            np.testing.assert_allclose(
                np.array(got, dtype=float), expected[what], rtol=6e-15, atol=0, err_msg=f"{name} {what}"
            )


# --- whole networks ---------------------------------------------------------------------

# Leaky ReLU, the activation added through the registry alone: a 2-3-2 network whose hidden
# net inputs are negative for some units and samples and positive for others, so both slopes
# are used at every iteration.
LEAKY = spec_from_dict(
    {
        "data": {"inputs": [[0.05, 0.1], [0.6, -0.3]], "targets": [[0.2, 0.9], [0.7, 0.1]]},
        "layers": [
            {
                "units": 3,
                "activation": "leaky_relu",
                "weights": [[0.15, -0.2], [0.25, 0.3], [-0.4, 0.1]],
                "bias": [0.05, -0.1, 0.0],
            },
            {"units": 2, "activation": "leaky_relu", "weights": [[0.4, 0.45, -0.3], [0.5, -0.55, 0.2]]},
        ],
        "training": {"learning_rates": [0.7], "iterations": 40},
    }
)


def test_leaky_relu_network_engine_matches_autograd():
    trace = engine.train(LEAKY, 0.7)
    hidden = trace.nets[0]
    assert (hidden < 0).any(axis=(1, 2)).all() and (hidden > 0).any(axis=(1, 2)).all()
    expected = autograd_columns(LEAKY, 0.7, LEAKY.iterations)
    for q in columns(LEAKY):
        if q.key != ("iteration",):
            assert relative_error(values(trace, q.key), expected[q.key]) <= 1e-12, q.key


@pytest.mark.libreoffice
def test_leaky_relu_network_recalculated_by_libreoffice_matches_autograd(tmp_path):
    require_libreoffice()
    assert_recalculated_matches_autograd(LEAKY, tmp_path)


@pytest.mark.libreoffice
def test_every_activation_in_one_network_recalculated_matches_autograd(tmp_path):
    """One hidden layer per elementwise activation in the registry, a vector one (softmax with
    cross-entropy) on top: a new activation is in this workbook without a change here."""
    require_libreoffice()
    layers = [{"units": 3, "activation": name, "bias": "random"} for name in ELEMENTWISE]
    layers.append({"units": 2, "activation": VECTOR[0], "bias": "random"})
    spec = spec_from_dict(
        {
            "loss": "cross_entropy",
            "reduction": "mean",
            "data": {"inputs": [[0.3, -0.6], [-0.5, 0.9]], "targets": [[1, 0], [0, 1]]},
            "init": {"seed": 5, "scale": 0.9},
            "layers": layers,
            "training": {"learning_rates": [0.3], "iterations": 12},
        }
    )
    assert_recalculated_matches_autograd(spec, tmp_path)
