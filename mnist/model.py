"""The digit classifier: a 7,890-parameter CNN with BatchNorm, Dropout and global average pooling.

It takes float images in [0, 1] shaped (N, 1, 28, 28) and returns logits; the MNIST
normalisation is its first layer, so the trained and the exported model need nothing else.
Print its table with ``sheetgen mnist summary``.

Why this shape: most of the compute of a CNN on 28x28 images goes where the feature maps are
large, so only two narrow 3x3 convolutions (8 and 12 channels) see full resolution, a max-pool
halves the side, and three 16-18-channel convolutions plus global average pooling do the rest
(the last one is 18 wide because it costs almost nothing at 6x6 and feeds the classifier).
Unpadded convolutions grow the receptive field to the whole digit without further pooling.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

# The table's row, and its JSON, are defined once, on the side that reads them back.
from sheetgen.runs.training import LayerRow

# MNIST training-set pixel mean and standard deviation (of values in [0, 1]).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
# Output channels of the five 3x3 convolutions; the max-pool sits after the second. With a
# last width of 16 (7,578 parameters, dropout 0.05) three seeds ended at 99.52/99.43/99.43%;
# 18 with dropout 0.03 ended at 99.49/99.47/99.51% (benchmarks/bench_mnist.py).
CHANNELS = (8, 12, 16, 16, 18)
POOL_AFTER = 2
# Dropout once, on the last block's 6x6 maps. Drawing its random masks is not free on a CPU:
# with dropout on all three blocks after the pool, the training loop ran at 1,674 against
# 1,941 img/s at batch 64 (benchmarks/bench_mnist_step.py, 2 cores, median of 5), and it
# bought no accuracy: with it on the last block alone three seeds ended at 99.48/99.50/
# 99.49% (batch 128, plus two clean epochs, see config.py), against 99.49/99.47/99.51%.
# The network underfits; it needs little regularising.
IMAGE_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


class Normalize(nn.Module):
    """(x - mean) / std with fixed constants, kept as buffers so export bakes them in."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ConvBlock(nn.Sequential):
    """3x3 unpadded convolution, BatchNorm, ReLU, then Dropout if asked (no conv bias: BN has one)."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0) -> None:
        layers = [
            nn.Conv2d(in_channels, out_channels, kernel_size=3, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        ]
        super().__init__(*layers, *([nn.Dropout(dropout)] if dropout > 0 else []))


class DigitNet(nn.Sequential):
    """The classifier. Children are the rows of the summary table."""

    def __init__(self, dropout: float = 0.03) -> None:
        layers: list[tuple[str, nn.Module]] = [("normalize", Normalize())]
        in_channels = IMAGE_SHAPE[0]
        for index, out_channels in enumerate(CHANNELS, start=1):
            block_dropout = dropout if index == len(CHANNELS) else 0.0
            layers.append((f"conv{index}", ConvBlock(in_channels, out_channels, block_dropout)))
            if index == POOL_AFTER:
                layers.append(("pool", nn.MaxPool2d(2)))
            in_channels = out_channels
        layers += [
            ("gap", nn.AdaptiveAvgPool2d(1)),
            ("flatten", nn.Flatten()),
            ("classifier", nn.Linear(in_channels, NUM_CLASSES)),
        ]
        super().__init__(OrderedDict(layers))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _geometry(module: nn.Module) -> tuple[int, int] | None:
    """(kernel, stride) of a module that changes the receptive field, else None."""
    if isinstance(module, ConvBlock):
        module = module[0]
    if isinstance(module, (nn.Conv2d, nn.MaxPool2d)):
        pair = lambda v: v if isinstance(v, int) else v[0]  # noqa: E731 - square kernels only
        dilation = pair(module.dilation)
        return (pair(module.kernel_size) - 1) * dilation + 1, pair(module.stride)
    return None


def _describe(module: nn.Module) -> str:
    if isinstance(module, ConvBlock):
        conv = module[0]
        dropout = f", dropout {module[3].p:g}" if len(module) > 3 else ""
        return f"conv 3x3 {conv.in_channels}->{conv.out_channels}, BN, ReLU{dropout}"
    if isinstance(module, nn.MaxPool2d):
        return f"max-pool {module.kernel_size}x{module.kernel_size}"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "global average pool"
    if isinstance(module, nn.Linear):
        return f"linear {module.in_features}->{module.out_features} (logits)"
    if isinstance(module, Normalize):
        return f"(x - {float(module.mean):g}) / {float(module.std):g}"
    return type(module).__name__.lower()


def summarize(model: DigitNet) -> list[LayerRow]:
    """Output shape, parameters and receptive field of every layer, from a real forward pass."""
    rows: list[LayerRow] = []
    field, jump = 1, 1  # receptive field side and input pixels between neighbouring outputs
    shape = IMAGE_SHAPE
    was_training = model.training
    model.eval()
    x = torch.zeros(1, *IMAGE_SHAPE, device=next(model.parameters()).device)
    with torch.no_grad():
        for name, module in model.named_children():
            geometry = _geometry(module)
            if geometry is not None:
                kernel, stride = geometry
                field += (kernel - 1) * jump
                jump *= stride
            elif isinstance(module, nn.AdaptiveAvgPool2d):
                field += (shape[-1] - 1) * jump  # averages every position
            x = module(x)
            shape = tuple(x.shape[1:])
            rows.append(LayerRow(name, _describe(module), shape, count_parameters(module), field))
    model.train(was_training)
    return rows


def summary_dict(model: DigitNet) -> dict:
    """The table as JSON-ready data, as written to summary.json."""
    return {
        "layers": [row.to_dict() for row in summarize(model)],
        "total_parameters": count_parameters(model),
    }


def format_summary(model: DigitNet) -> str:
    """The table as text, for the terminal."""
    header = ("layer", "what", "output", "params", "RF")
    lines = [
        (
            r.name,
            r.description,
            "x".join(map(str, r.output_shape)),
            f"{r.parameters:,}",
            str(r.receptive_field),
        )
        for r in summarize(model)
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    fmt = lambda row: "  ".join(  # noqa: E731
        cell.rjust(w) if i >= 3 else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))
    ).rstrip()
    rule = "-" * len(fmt(header))
    total = f"total parameters: {count_parameters(model):,}"
    return "\n".join([fmt(header), rule, *map(fmt, lines), rule, total])
