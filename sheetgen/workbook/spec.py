"""The network spec: what a workbook is built from.

A spec is a small frozen dataclass tree loaded from a TOML template (``templates/seed.toml`` is
the default exercise). Everything else in sheetgen reads it and nothing changes it, so a
workbook is a pure function of its spec.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sheetgen.bounded import RefusedFile, load_json, read_regular_file
from sheetgen.workbook.activations import ACTIVATIONS

LOSSES = ("half_squared_error", "cross_entropy")
REDUCTIONS = ("sum", "mean")
DISTRIBUTIONS = ("uniform", "normal")
# The most updates a spec may ask for. Each takes one row of its learning-rate sheet, below the
# initial row; a spreadsheet has 1,048,576 rows and the sheet's title, inputs, chart and headers
# take 27 of them. The spec owns this budget and layout.py places the table within it
# (tests/test_workbook.py checks that the last update's row is still on the sheet).
MAX_ITERATIONS = 1_048_548
# A sheet's columns, A to XFD. Every weight has a column of its own, so a layer whose weights
# need more is refused here, before any are drawn; workbook/limits.py counts every column.
MAX_COLUMNS = 16_384
# A template is a page of TOML; the largest a sheet can show (16,384 weights written out in
# full) takes about 300 KB.
MAX_TEMPLATE_BYTES = 2**20
# Random initial weights are drawn from ±scale (or with this standard deviation); a sigmoid is
# flat beyond ±40 and a spreadsheet's EXP overflows at 709, so this is far past any use, and
# keeps the drawing itself finite.
MAX_INIT_SCALE = 1e6


class SpecError(ValueError):
    """A template or option that does not describe a valid network; the message says why."""


@dataclass(frozen=True)
class Layer:
    """One layer of weights and the units it feeds.

    Attributes:
        name: prefix of the units' names in the sheet ("h" gives h1, a_h1, ...).
        units: number of units.
        activation: a name in ACTIVATIONS (a vector one, softmax, only on the output layer).
        weights: weights[j][k] is the weight from unit k of the layer below into unit j.
        bias: None (no bias), one value shared by every unit (Mazur's b1), or one per unit.
        train_bias: whether gradient descent updates the bias, or it stays fixed.
    """

    name: str
    units: int
    activation: str
    weights: tuple[tuple[float, ...], ...]
    bias: tuple[float, ...] | None = None
    train_bias: bool = True

    @property
    def fan_in(self) -> int:
        return len(self.weights[0])

    @property
    def shared_bias(self) -> bool:
        """One bias cell for the whole layer rather than one per unit."""
        return self.bias is not None and len(self.bias) == 1 and self.units > 1

    @property
    def trained_bias(self) -> bool:
        return self.bias is not None and self.train_bias


@dataclass(frozen=True)
class NetworkSpec:
    """A network, its training data and how to train it.

    Attributes:
        name: short name of the template.
        description: one line shown in the workbook.
        layers: the layers, input side first.
        inputs: inputs[s][k] is input k of training sample s.
        targets: targets[s][j] is the target of output j for sample s.
        loss: one of LOSSES: ½(t - a)² per output, or -t·ln(a) after a softmax.
        reduction: E_total is the sum of the samples' losses, or their mean.
        learning_rates: one sheet is built per learning rate.
        iterations: rows per sheet; row 0 holds the initial weights.
        loss_threshold: the overview counts the updates until E_total first falls below this.
    """

    name: str
    description: str
    layers: tuple[Layer, ...]
    inputs: tuple[tuple[float, ...], ...]
    targets: tuple[tuple[float, ...], ...]
    loss: str = "half_squared_error"
    reduction: str = "sum"
    learning_rates: tuple[float, ...] = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
    iterations: int = 100
    loss_threshold: float = 1e-3

    @property
    def n_inputs(self) -> int:
        return len(self.inputs[0])

    @property
    def n_samples(self) -> int:
        return len(self.inputs)

    def with_training(self, learning_rates=None, iterations=None) -> NetworkSpec:
        """Return a copy with other learning rates or iterations, validated like a template."""
        data = self.to_dict()
        if learning_rates is not None:
            data["training"]["learning_rates"] = list(learning_rates)
        if iterations is not None:
            data["training"]["iterations"] = iterations
        return spec_from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The spec as a template-shaped dict (spec_from_dict(spec.to_dict()) == spec)."""
        return {
            "name": self.name,
            "description": self.description,
            "loss": self.loss,
            "reduction": self.reduction,
            "data": {"inputs": [list(r) for r in self.inputs], "targets": [list(r) for r in self.targets]},
            "layers": [_layer_dict(layer) for layer in self.layers],
            "training": {
                "learning_rates": list(self.learning_rates),
                "iterations": self.iterations,
                "loss_threshold": self.loss_threshold,
            },
        }

    def to_json(self) -> str:
        """Canonical JSON of the spec, stored in the workbook it builds."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))


def _layer_dict(layer: Layer) -> dict[str, Any]:
    data = {
        "name": layer.name,
        "units": layer.units,
        "activation": layer.activation,
        "weights": [list(r) for r in layer.weights],
    }
    if layer.bias is not None:
        data["bias"] = layer.bias[0] if len(layer.bias) == 1 else list(layer.bias)
        data["train_bias"] = layer.train_bias
    return data


def format_rate(learning_rate: float) -> str:
    """A learning rate as sheet names and messages show it: 0.8, 2, 1e-05."""
    return f"{learning_rate:.15g}"


def default_template() -> Path:
    """Path of the template used when none is given: the classic exercise."""
    return Path(str(resources.files("sheetgen.templates") / "seed.toml"))


def shipped_templates() -> list[str]:
    """The names of the templates that come with sheetgen (mazur, seed, xor)."""
    folder = resources.files("sheetgen.templates")
    return sorted(item.name.removesuffix(".toml") for item in folder.iterdir() if item.name.endswith(".toml"))


def template_path(template: str | Path | None) -> Path:
    """The file of a template: the default exercise for None; a path as given (relative to
    the current folder) where that file exists; else a shipped template named by itself
    ("xor" or "xor.toml"), from any folder. Otherwise the path as given, which load_spec then
    reports missing with the shipped templates' names."""
    if template is None:
        return default_template()
    path = Path(template)
    if path.is_file():
        return path
    name = path.name.removesuffix(".toml")
    if len(path.parts) == 1 and path.suffix in ("", ".toml") and name in shipped_templates():
        return Path(str(resources.files("sheetgen.templates") / f"{name}.toml"))
    return path


def load_spec(path: str | Path | None = None) -> NetworkSpec:
    """Load and validate a template: a shipped one by name ("xor"), or a TOML file's path
    (template_path); the default exercise when path is None.

    Raises:
        SpecError: the file is missing, is not TOML, or does not describe a valid network.
    """
    path = template_path(path)
    try:
        text = read_regular_file(path, MAX_TEMPLATE_BYTES).decode("utf-8")
    except FileNotFoundError:
        shipped = ", ".join(shipped_templates())
        raise SpecError(
            f"template {path} does not exist; the templates that come with sheetgen, "
            f"usable by name from any folder: {shipped}"
        ) from None
    except RefusedFile as exc:
        raise SpecError(f"template {path} {exc}") from None
    except UnicodeDecodeError:
        raise SpecError(f"cannot read template {path}: it is not UTF-8 text") from None
    except OSError as exc:
        raise SpecError(f"cannot read template {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"template {path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib recurses once per level of nesting
        raise SpecError(
            f"template {path} nests arrays or tables too deeply to read (a network's template "
            "needs a few levels)"
        ) from None
    try:
        return spec_from_dict(data)
    except SpecError as exc:
        raise SpecError(f"template {path}: {exc}") from None


def spec_from_json(text: str) -> NetworkSpec:
    """Inverse of NetworkSpec.to_json (for a text from a workbook, which anyone may have made:
    its nesting is bounded before it is parsed).

    Raises:
        ValueError: not JSON, or nested too deeply (SpecError: not a valid network).
    """
    return spec_from_dict(load_json(text))


_TOP_KEYS = {"name", "description", "loss", "reduction", "data", "init", "layers", "training"}
_DATA_KEYS = {"inputs", "targets"}
_INIT_KEYS = {"seed", "distribution", "scale"}
_LAYER_KEYS = {"name", "units", "activation", "weights", "bias", "train_bias"}
_TRAINING_KEYS = {"learning_rates", "iterations", "loss_threshold"}


def spec_from_dict(data: dict[str, Any]) -> NetworkSpec:
    """Validate a template-shaped dict and build the spec; every error names its key."""
    if not isinstance(data, dict):
        raise SpecError("a template must be a table of keys")
    _no_unknown_keys(data, _TOP_KEYS, "")
    data_section = _table(data, "data", "")
    _no_unknown_keys(data_section, _DATA_KEYS, "data.")
    inputs = _matrix(_required(data_section, "inputs", "data."), "data.inputs")
    targets = _matrix(_required(data_section, "targets", "data."), "data.targets")
    if len(inputs) != len(targets):
        raise SpecError(
            f"data.inputs has {len(inputs)} samples but data.targets has "
            f"{len(targets)}; give one target row per input row"
        )
    draw = _initialiser(_table(data, "init", ""))

    raw_layers = _required(data, "layers", "")
    if not isinstance(raw_layers, list) or not raw_layers:
        raise SpecError("layers must be a non-empty array of [[layers]] tables")
    layers = []
    fan_in = len(inputs[0])
    names = set()
    for index, raw in enumerate(raw_layers, start=1):
        layer = _layer(raw, index, fan_in, _default_name(index, len(raw_layers)), draw)
        if layer.name in names:
            raise SpecError(
                f"layers[{index}].name {layer.name!r} is used twice; give each layer its own name"
            )
        names.add(layer.name)
        layers.append(layer)
        fan_in = layer.units
    if len(targets[0]) != layers[-1].units:
        raise SpecError(
            f"data.targets rows have {len(targets[0])} values but the output "
            f"layer has {layers[-1].units} units"
        )

    loss = _choice(data.get("loss", "half_squared_error"), LOSSES, "loss")
    _check_loss_pairing(loss, layers, targets)
    reduction = _choice(data.get("reduction", "sum"), REDUCTIONS, "reduction")

    training = _table(data, "training", "")
    _no_unknown_keys(training, _TRAINING_KEYS, "training.")
    learning_rates = training.get("learning_rates", list(NetworkSpec.learning_rates))
    if not isinstance(learning_rates, list) or not learning_rates:
        raise SpecError("training.learning_rates must be a non-empty array of numbers")
    learning_rates = tuple(validate_learning_rate(v, "training.learning_rates") for v in learning_rates)
    if len(set(map(format_rate, learning_rates))) != len(learning_rates):
        raise SpecError("training.learning_rates lists a learning rate twice")
    iterations = training.get("iterations", NetworkSpec.iterations)
    threshold = training.get("loss_threshold", NetworkSpec.loss_threshold)
    if not _is_number(threshold) or not threshold > 0 or not math.isfinite(threshold):
        raise SpecError(f"training.loss_threshold must be a positive number, not {threshold!r}")

    return NetworkSpec(
        name=_string(data.get("name", "network"), "name"),
        description=_string(data.get("description", ""), "description"),
        layers=tuple(layers),
        inputs=inputs,
        targets=targets,
        loss=loss,
        reduction=reduction,
        learning_rates=learning_rates,
        iterations=validate_iterations(iterations, "training.iterations"),
        loss_threshold=float(threshold),
    )


def _check_loss_pairing(loss: str, layers: list[Layer], targets) -> None:
    """Softmax and cross-entropy come together: the sheet's δ = a - t relies on both."""
    for index, layer in enumerate(layers[:-1], start=1):
        if ACTIVATIONS[layer.activation].vector:
            raise SpecError(f"layers[{index}].activation {layer.activation} is only for the output layer")
    output = layers[-1].activation
    if loss == "cross_entropy" and not ACTIVATIONS[output].vector:
        raise SpecError(
            f'loss cross_entropy needs activation = "softmax" on the output layer, not {output!r}'
        )
    if ACTIVATIONS[output].vector and loss != "cross_entropy":
        raise SpecError('an output layer with softmax needs loss = "cross_entropy"')
    if loss == "cross_entropy":
        for s, row in enumerate(targets, start=1):
            if any(t < 0 for t in row) or abs(sum(row) - 1.0) > 1e-12:
                raise SpecError(
                    f"data.targets row {s} must be probabilities that sum to 1 "
                    f"for cross_entropy, not {list(row)}"
                )


def _initialiser(init: dict):
    """A function drawing n initial values from [init]'s named seed, or None without one."""
    if not init:
        return None
    _no_unknown_keys(init, _INIT_KEYS, "init.")
    seed = _required(init, "seed", "init.")
    _whole(seed, "init.seed", 0)
    distribution = _choice(init.get("distribution", "uniform"), DISTRIBUTIONS, "init.distribution")
    scale = init.get("scale", 1.0)
    if not _is_number(scale) or not 0 < scale <= MAX_INIT_SCALE:
        raise SpecError(f"init.scale must be a positive number up to {MAX_INIT_SCALE:g}, not {scale!r}")
    import numpy as np  # PCG64 streams are stable across platforms and NumPy versions

    rng = np.random.default_rng(seed)

    def draw(n: int) -> list[float]:
        if distribution == "uniform":
            return [float(v) for v in rng.uniform(-scale, scale, n)]
        return [float(v) for v in rng.normal(0.0, scale, n)]

    return draw


def validate_learning_rate(value: Any, where: str = "learning rate") -> float:
    """A learning rate as a float, or SpecError saying why it cannot be one."""
    if not _is_number(value):
        raise SpecError(f"{where}: {value!r} is not a number")
    value = float(value)
    if math.isnan(value) or math.isinf(value) or value <= 0:
        raise SpecError(f"{where}: {value!r} must be a finite number greater than 0")
    return value


def validate_iterations(value: Any, where: str = "iterations") -> int:
    """Iterations as an int from 1 to MAX_ITERATIONS, or SpecError saying why not."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{where} must be a whole number, not {value!r}")
    if not 1 <= value <= MAX_ITERATIONS:
        raise SpecError(
            f"{where} must be between 1 and {MAX_ITERATIONS:,} (rows left on a sheet), not {value}"
        )
    return value


def _default_name(index: int, count: int) -> str:
    """o for the output layer; h for a single hidden layer (h1, h2 ...), else h1_, h2_ ..."""
    if index == count:
        return "o"
    return "h" if count == 2 else f"h{index}_"


# Names that would read as something else in a header: weights, biases, targets, inputs, loss.
_RESERVED_NAMES = {"w", "b", "t", "i", "E", "a"}


def _layer(raw: Any, index: int, fan_in: int, default_name: str, draw) -> Layer:
    where = f"layers[{index}]"
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must be a table with units, activation and weights")
    _no_unknown_keys(raw, _LAYER_KEYS, f"{where}.")
    units = _required(raw, "units", f"{where}.")
    _whole(units, f"{where}.units", 1)
    if units * fan_in > MAX_COLUMNS:  # before a weight is drawn or a layout made
        raise SpecError(
            f"{where} has {units:,} units × {fan_in:,} inputs = {units * fan_in:,} weights, "
            f"a column each, but a sheet has {MAX_COLUMNS:,} columns (A to XFD); use fewer units"
        )
    # a tuple, not the dict: a list given as the name must be refused, not be unhashable
    activation = _choice(raw.get("activation", "sigmoid"), tuple(ACTIVATIONS), f"{where}.activation")
    name = _string(raw.get("name", default_name), f"{where}.name")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or name in _RESERVED_NAMES:
        raise SpecError(
            f"{where}.name must start with a letter and hold only letters, digits "
            f"and _, and not be one of {', '.join(sorted(_RESERVED_NAMES))}; "
            f"not {name!r}"
        )
    weights = raw.get("weights", "random")
    if weights == "random":
        if draw is None:
            raise SpecError(
                f"{where}.weights is missing; give them, or an [init] table with a seed to draw them from"
            )
        values = draw(units * fan_in)
        weights = [values[j * fan_in : (j + 1) * fan_in] for j in range(units)]
    weights = _matrix(weights, f"{where}.weights")
    if len(weights) != units or len(weights[0]) != fan_in:
        raise SpecError(
            f"{where}.weights is {len(weights)}x{len(weights[0])} but must be "
            f"{units}x{fan_in} (one row per unit, one column per input to it)"
        )
    bias = raw.get("bias")
    if bias == "random":
        if draw is None:
            raise SpecError(f'{where}.bias = "random" needs an [init] table with a seed')
        bias = draw(units)
    if bias is not None:
        if _is_number(bias):
            bias = [bias]
        bias = _matrix(bias, f"{where}.bias")
        if len(bias) != 1 or len(bias[0]) not in (1, units):
            raise SpecError(
                f"{where}.bias must be one number (shared by the layer's units) "
                f"or {units} numbers (one per unit)"
            )
        bias = bias[0]
    train_bias = raw.get("train_bias", True)
    if not isinstance(train_bias, bool):
        raise SpecError(f"{where}.train_bias must be true or false, not {train_bias!r}")
    if "train_bias" in raw and bias is None:
        raise SpecError(f"{where}.train_bias is given but the layer has no bias")
    if ACTIVATIONS[activation].vector and bias is not None and len(bias) == 1 and units > 1 and train_bias:
        raise SpecError(
            f"{where}.bias: one trained bias shared by a {activation} layer cannot "
            f"learn ({activation} ignores a shift shared by all its inputs); give "
            "one per unit or set train_bias = false"
        )
    return Layer(
        name=name, units=units, activation=activation, weights=weights, bias=bias, train_bias=train_bias
    )


def _matrix(value: Any, where: str) -> tuple[tuple[float, ...], ...]:
    """A non-empty rectangular array of finite numbers; a flat array is one row."""
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(row, list) and row for row in value):
        raise SpecError(f"{where} must be a non-empty array of arrays of numbers")
    width = len(value[0])
    for r, row in enumerate(value):
        if len(row) != width:
            raise SpecError(f"{where} rows must all have {width} values; row {r + 1} has {len(row)}")
        for v in row:
            if not _is_number(v) or not math.isfinite(v):
                raise SpecError(f"{where} must hold finite numbers, not {v!r}")
    return tuple(tuple(float(v) for v in row) for row in value)


def _table(data: dict, key: str, prefix: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise SpecError(f"{prefix}{key} must be a table")
    return value


def _required(data: dict, key: str, prefix: str) -> Any:
    if key not in data:
        raise SpecError(f"{prefix}{key} is missing")
    return data[key]


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{where} must be a string, not {value!r}")
    return value


def _no_unknown_keys(data: dict, known: set[str], prefix: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise SpecError(f"unknown key {prefix}{unknown[0]}; expected one of {', '.join(sorted(known))}")


def _whole(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{where} must be a whole number ≥ {minimum}, not {value!r}")
    return value


def _choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise SpecError(f"{where} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
