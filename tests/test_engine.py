"""The reference engine against torch autograd (float64) and the exercise's known figures."""

import numpy as np
import pytest

from sheetgen.workbook import engine
from sheetgen.workbook.activations import ACTIVATIONS
from sheetgen.workbook.quantities import columns, history, values
from sheetgen.workbook.spec import load_spec, spec_from_dict
from tests.torch_reference import autograd_columns, relative_error

SEED = load_spec()


@pytest.mark.parametrize("learning_rate", SEED.learning_rates)
def test_every_column_matches_autograd_at_every_iteration(learning_rate):
    trace = engine.train(SEED, learning_rate)
    expected = autograd_columns(SEED, learning_rate, SEED.iterations)
    keys = [q.key for q in columns(SEED) if q.key != ("iteration",)]
    assert set(keys) == set(expected)
    for key in keys:
        got = values(trace, key)
        assert got.shape == (SEED.iterations + 1,)
        assert relative_error(got, expected[key]) <= 1e-12, key


@pytest.mark.parametrize(
    "learning_rate, after_100",
    [
        (0.1, 7.847e-3),
        (0.2, 4.229e-3),
        (0.5, 6.143e-4),
        (0.8, 8.528e-5),
        (1.0, 2.256e-5),
        (2.0, 2.547e-8),
    ],
)
def test_known_losses(learning_rate, after_100):
    trace = engine.train(SEED, learning_rate, iterations=100)
    assert trace.loss[0] == pytest.approx(0.0141813779, abs=5e-11)
    assert trace.loss[100] == pytest.approx(after_100, rel=5e-4)
    assert trace.rows == 101


def test_one_update_with_learning_rate_one():
    trace = engine.train(SEED, 1.0, iterations=1)
    assert trace.loss[1] == pytest.approx(0.0133779156, abs=5e-11)


def test_weights_update_from_the_same_row():
    trace = engine.train(SEED, 0.5, iterations=3)
    for l in range(len(SEED.layers)):
        np.testing.assert_array_equal(
            trace.weights[l][1:], trace.weights[l][:-1] - 0.5 * trace.grad_weights[l][:-1]
        )


def _spec(activation: str, weights_scale: float = 1.0):
    return spec_from_dict(
        {
            "data": {"inputs": [[0.05, 0.1], [0.6, -0.3]], "targets": [[0.2, 0.9], [0.7, 0.1]]},
            "layers": [
                {
                    "units": 3,
                    "activation": activation,
                    "weights": [[0.15 * weights_scale, -0.2], [0.25, 0.3], [-0.4, 0.1]],
                },
                {"units": 2, "activation": "sigmoid", "weights": [[0.4, 0.45, -0.3], [0.5, -0.55, 0.2]]},
            ],
            "training": {"learning_rates": [0.7], "iterations": 30},
        }
    )


@pytest.mark.parametrize(
    "activation", [name for name, activation in ACTIVATIONS.items() if not activation.vector]
)
def test_other_sizes_activations_and_several_samples_match_autograd(activation):
    spec = _spec(activation)
    trace = engine.train(spec, 0.7)
    expected = autograd_columns(spec, 0.7, spec.iterations)
    for q in columns(spec):
        if q.key != ("iteration",):
            assert relative_error(values(trace, q.key), expected[q.key]) <= 1e-12, q.key


def test_exp_overflow_is_refused_with_the_iteration():
    spec = _spec("sigmoid", weights_scale=10000.0)
    with pytest.raises(engine.NumericalError, match=r"iteration 0.*EXP overflows"):
        engine.train(spec, 0.7)


def test_history_frame_has_one_row_per_iteration():
    trace = engine.train(SEED, 0.5, iterations=3)
    frame = history(SEED, trace)
    assert frame.index.tolist() == [0, 1, 2, 3]
    assert frame["E_total"].tolist() == trace.loss.tolist()


@pytest.mark.parametrize("template", ["seed.toml", "mazur.toml", "xor.toml"])
def test_many_weight_sets_at_once_are_each_what_one_alone_gives(template):
    """engine.evaluate, with a leading axis of weight sets (what check recomputes a hand-made
    table's rows with), gives each set exactly what the build's functions give it alone, and
    what torch autograd gives it."""
    import torch

    from sheetgen.workbook.spec import load_spec
    from tests.conftest import ROOT

    spec = load_spec(ROOT / "templates" / template)
    rows = 7
    noise = np.random.default_rng(3)
    weights = [
        np.array(layer.weights) + noise.normal(0, 0.5, (rows, *np.shape(layer.weights)))
        for layer in spec.layers
    ]
    biases = [np.array(layer.bias if layer.bias is not None else []) for layer in spec.layers]
    inputs, targets = np.array(spec.inputs), np.array(spec.targets)
    step = engine.evaluate(spec, weights, biases, inputs, targets)
    for row in range(rows):
        alone = [w[row] for w in weights]
        fwd = engine.forward(spec.layers, alone, biases, inputs)
        bwd = engine.backward(spec, alone, inputs, fwd, targets)
        losses = engine.sample_losses(spec.loss, fwd.acts[-1], targets)
        assert step.total[row] == engine.total_loss(losses, spec.reduction)
        for l in range(len(spec.layers)):
            np.testing.assert_array_equal(step.forward.acts[l][row], fwd.acts[l])
            np.testing.assert_array_equal(step.backward.deltas[l][row], bwd.deltas[l])
            np.testing.assert_array_equal(step.backward.grad_weights[l][row], bwd.grad_weights[l])
        params = [torch.tensor(w, requires_grad=True) for w in alone]
        below = torch.tensor(inputs)
        for layer, w, b in zip(spec.layers, params, biases):
            net = below @ w.T + (torch.tensor(b) if b.size else 0.0)
            below = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}[layer.activation](net)
        total = (0.5 * (torch.tensor(targets) - below) ** 2).sum()
        if spec.reduction == "mean":
            total = total / len(inputs)
        total.backward()
        assert relative_error(step.total[row], total.item()) <= 1e-13
        for l, w in enumerate(params):
            assert relative_error(step.backward.grad_weights[l][row], w.grad.numpy()) <= 1e-12
