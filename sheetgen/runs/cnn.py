"""The trained CNN for inference, as plain data, and its float64 NumPy forward pass.

This is the live sheet's reference engine: every cached value on 'MNIST live' and everything
`sheetgen verify` holds that sheet to comes from `forward` here (one source of truth). No torch:
the network arrives as JSON (`inference.json`, written by mnist.export at training time) with
BatchNorm already folded into each convolution:

    y = relu(conv3x3(x, weight) + shift)        weight = W·γ/√(σ²+ε), shift = β − μ·γ/√(σ²+ε)

Layers, in the model's order (mnist/model.py): normalise, unpadded 3x3 convolutions (BN folded,
ReLU; dropout is the identity at inference), a 2x2 max-pool after convolution `pool_after`,
global average pooling, a linear layer, softmax.

The file, and the record a workbook carries, are untrusted: `network_from_dict` checks every
shape, type, size and value before anything uses them and raises LiveError with one line.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

import numpy as np

from sheetgen.workbook.activations import ACTIVATIONS

INFERENCE_FORMAT = 1
IMAGE_SIDE = 28
KERNEL = 3
MAX_CONVS = 8  # the model has 5; a few more still fit a sheet
MAX_CHANNELS = 64  # the model's widest is 18
MAX_WEIGHT = 1e6  # a trained weight is far smaller; larger ones would overflow a sheet
MAX_DIGITS = 100  # the stored test digits the chooser cell picks from
# Less ink than this (the pixels' sum, 1 = one black pixel) is a blank image, which the network
# never saw in training: the sheet says so beside its answer. The least inked of the MNIST
# test set's first 100 digits holds about 27.
BLANK_INK = 5


class LiveError(ValueError):
    """Inference data that cannot be used for the live sheet; the message says why."""


@dataclass(frozen=True)
class Conv:
    """One 3x3 convolution with BatchNorm folded in: weight (out, in, 3, 3), shift (out,)."""

    weight: np.ndarray
    shift: np.ndarray

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    @property
    def in_channels(self) -> int:
        return self.weight.shape[1]


@dataclass(frozen=True)
class LiveNetwork:
    """The network in inference mode plus the stored test digits the sheet can show."""

    mean: float
    std: float
    convs: tuple[Conv, ...]
    pool_after: int  # the 2x2 max-pool follows this convolution (1-based)
    linear_weight: np.ndarray  # (classes, last channels)
    linear_bias: np.ndarray  # (classes,)
    digit_indices: tuple[int, ...]  # positions in the test set
    digit_labels: tuple[int, ...]
    digit_pixels: np.ndarray  # (digits, 28, 28) uint8

    def sides(self) -> list[int]:
        """Side of the feature maps after each convolution (the pool halves one of them)."""
        side, sides = IMAGE_SIDE, []
        for index in range(1, len(self.convs) + 1):
            side -= KERNEL - 1
            sides.append(side)
            if index == self.pool_after:
                side //= 2
        return sides

    def to_dict(self) -> dict:
        """JSON-ready data; floats as Python floats, which JSON round-trips exactly."""
        return {
            "format": INFERENCE_FORMAT,
            "normalize": {"mean": self.mean, "std": self.std},
            "convs": [{"weight": c.weight.tolist(), "shift": c.shift.tolist()} for c in self.convs],
            "pool_after": self.pool_after,
            "linear": {"weight": self.linear_weight.tolist(), "bias": self.linear_bias.tolist()},
            "digits": {
                "indices": list(self.digit_indices),
                "labels": list(self.digit_labels),
                "pixels": [base64.b64encode(p.tobytes()).decode("ascii") for p in self.digit_pixels],
            },
        }


def _array(value, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A float64 array of exactly `shape` from nested lists of numbers (no bools, all finite)."""

    def check(item, depth: int):
        if depth == len(shape):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise LiveError(f"{what} holds {type(item).__name__} where a number belongs")
            if not abs(item) <= MAX_WEIGHT:  # NaN fails this too; a huge int never meets float
                raise LiveError(f"{what} holds {item!r:.40}, not a finite number within ±{MAX_WEIGHT:g}")
            return
        if not isinstance(item, list) or len(item) != shape[depth]:
            got = len(item) if isinstance(item, list) else type(item).__name__
            raise LiveError(
                f"{what} must be {'x'.join(map(str, shape))}; found {got} where {shape[depth]} belong"
            )
        for sub in item:
            check(sub, depth + 1)

    check(value, 0)
    return np.array(value, dtype=np.float64).reshape(shape)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LiveError(f"{what} must be a finite number, got {value!r}"[:200])
    return float(value)


def _count(value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LiveError(f"{what} must be a whole number in {low}..{high}, got {value!r}"[:200])
    return value


def network_from_dict(data) -> LiveNetwork:
    """Check inference data (from inference.json or a workbook's record) and build the network.

    Raises:
        LiveError: anything missing, of the wrong type or shape, not finite, or too large.
    """

    def field(container, key, kind, where):
        if not isinstance(container, dict) or key not in container:
            raise LiveError(f"{where} has no '{key}'")
        value = container[key]
        if not isinstance(value, kind):
            raise LiveError(f"{where}.{key} must be a {kind.__name__}")
        return value

    if not isinstance(data, dict):
        raise LiveError("inference data must be a JSON object")
    if data.get("format") != INFERENCE_FORMAT:
        raise LiveError(
            f"inference data has format {data.get('format')!r}; this sheetgen "
            f"reads format {INFERENCE_FORMAT}"[:200]
        )
    normalize = field(data, "normalize", dict, "inference data")
    mean = _number(normalize.get("mean"), "normalize.mean")
    std = _number(normalize.get("std"), "normalize.std")
    if std <= 0:
        raise LiveError(f"normalize.std must be positive, got {std}")
    raw_convs = field(data, "convs", list, "inference data")
    _count(len(raw_convs), 1, MAX_CONVS, "the number of convolutions")
    pool_after = _count(data.get("pool_after"), 1, len(raw_convs), "pool_after")
    convs, channels = [], 1
    for index, raw in enumerate(raw_convs, start=1):
        weight = field(raw, "weight", list, f"convs[{index}]")
        out = _count(len(weight), 1, MAX_CHANNELS, f"convs[{index}] output channels")
        shape = (out, channels, KERNEL, KERNEL)
        convs.append(
            Conv(
                _array(weight, shape, f"convs[{index}].weight"),
                _array(field(raw, "shift", list, f"convs[{index}]"), (out,), f"convs[{index}].shift"),
            )
        )
        channels = out
    linear = field(data, "linear", dict, "inference data")
    raw_weight = field(linear, "weight", list, "linear")
    classes = _count(len(raw_weight), 2, 10, "linear output classes")
    linear_weight = _array(raw_weight, (classes, channels), "linear.weight")
    linear_bias = _array(field(linear, "bias", list, "linear"), (classes,), "linear.bias")
    digits = field(data, "digits", dict, "inference data")
    indices = field(digits, "indices", list, "digits")
    labels = field(digits, "labels", list, "digits")
    pixels = field(digits, "pixels", list, "digits")
    count = _count(len(indices), 1, MAX_DIGITS, "the number of stored digits")
    if len(labels) != count or len(pixels) != count:
        raise LiveError(
            f"digits has {count} indices, {len(labels)} labels and {len(pixels)} pictures; they must agree"
        )
    indices = tuple(_count(i, 0, 10**9, "a digit's index") for i in indices)
    labels = tuple(_count(label, 0, classes - 1, "a digit's label") for label in labels)
    images = []
    for n, text in enumerate(pixels):
        if not isinstance(text, str) or len(text) > 2 * IMAGE_SIDE**2:
            raise LiveError(f"digits.pixels[{n}] must be base64 text of 784 bytes")
        try:
            picture = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise LiveError(f"digits.pixels[{n}] is not base64") from None
        if len(picture) != IMAGE_SIDE**2:
            raise LiveError(f"digits.pixels[{n}] has {len(picture)} bytes, not 784")
        images.append(np.frombuffer(picture, dtype=np.uint8).reshape(IMAGE_SIDE, IMAGE_SIDE))
    network = LiveNetwork(
        mean, std, tuple(convs), pool_after, linear_weight, linear_bias, indices, labels, np.stack(images)
    )
    if network.sides()[-1] < 1:
        raise LiveError(f"{len(convs)} convolutions leave no pixels of a 28x28 image")
    return network


@dataclass(frozen=True)
class Activations:
    """Every value the live sheet shows for one image, in float64."""

    pixels: np.ndarray  # (28, 28) in [0, 1]
    normalized: np.ndarray  # (28, 28)
    convs: tuple[np.ndarray, ...]  # per convolution (channels, side, side), after ReLU
    pooled: np.ndarray  # (channels, side/2, side/2)
    averages: np.ndarray  # (channels,)
    logits: np.ndarray  # (classes,)
    probabilities: np.ndarray  # (classes,)


def _conv3x3(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Unpadded 3x3 cross-correlation (as torch's Conv2d): x (in, h, w) -> (out, h-2, w-2)."""
    side = x.shape[1] - KERNEL + 1
    windows = np.lib.stride_tricks.sliding_window_view(x, (KERNEL, KERNEL), axis=(1, 2))
    # windows: (in, side, side, 3, 3); weight: (out, in, 3, 3)
    return np.einsum("iyxab,oiab->oyx", windows[:, :side, :side], weight)


def forward(network: LiveNetwork, pixels: np.ndarray) -> Activations:
    """The network on one image whose pixels are in [0, 1] (28 x 28), in float64."""
    pixels = np.asarray(pixels, dtype=np.float64).reshape(IMAGE_SIDE, IMAGE_SIDE)
    normalized = (pixels - network.mean) / network.std
    relu, softmax = ACTIVATIONS["relu"], ACTIVATIONS["softmax"]  # as the sheet's formulas
    x, maps, pooled = normalized[None], [], None
    for index, conv in enumerate(network.convs, start=1):
        x = relu.forward(_conv3x3(x, conv.weight) + conv.shift[:, None, None])
        maps.append(x)
        if index == network.pool_after:
            half = x.shape[1] // 2
            x = x[:, : 2 * half, : 2 * half].reshape(x.shape[0], half, 2, half, 2).max(axis=(2, 4))
            pooled = x
    averages = x.mean(axis=(1, 2))
    logits = network.linear_weight @ averages + network.linear_bias
    probabilities = softmax.forward(logits[None, :])[0]  # forward takes (samples, units)
    return Activations(pixels, normalized, tuple(maps), pooled, averages, logits, probabilities)


def nearly_blank(pixels: np.ndarray) -> bool:
    """Whether an image holds less ink than BLANK_INK, as the live sheet's note judges it."""
    return bool(np.sum(pixels) < BLANK_INK)


def stored_pixels(network: LiveNetwork, number: int) -> np.ndarray:
    """Stored digit `number` (1-based, as the chooser cell counts) as values in [0, 1]."""
    return network.digit_pixels[number - 1].astype(np.float64) / 255.0
