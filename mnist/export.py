"""Save the trained classifier with ``torch.export`` so that anyone can run it without our code.

The file is an ExportedProgram with a dynamic batch dimension: float images in [0, 1] shaped
(N, 1, 28, 28), any N, in; logits (N, 10) out, normalisation included::

    model = torch.export.load("output/runs/<run>/model.pt2").module()
    predictions = model(images).argmax(1)

(TorchScript is deprecated in current torch, hence torch.export.)

``inference_dict`` gives the same model as plain data (BatchNorm folded, float64) for the
workbook's live sheet, which must not need torch.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path

import torch
from torch import nn

from mnist.files import private_compiler_cache, write_serialised
from mnist.model import IMAGE_SHAPE, ConvBlock, Normalize


def export_model(model: nn.Module, path: Path) -> None:
    """Export ``model`` in eval mode to ``path``, atomically.

    The model is exported on the CPU, from a copy, so the caller's model keeps its device and
    training mode, and the file loads on machines without the training accelerator.
    """
    cpu_model = copy.deepcopy(model).to("cpu").eval()
    example = torch.zeros(4, *IMAGE_SHAPE)  # zeros: export must not consume random numbers
    batch = torch.export.Dim("batch", min=1)
    with private_compiler_cache():
        program = torch.export.export(cpu_model, (example,), dynamic_shapes=({0: batch},))
        write_serialised(path, lambda buffer: torch.export.save(program, buffer))


def load_model(path: Path) -> nn.Module:
    """The exported model as a callable module (what a user of the file would do)."""
    with private_compiler_cache():
        return torch.export.load(str(path)).module()


def inference_dict(
    model: nn.Module, test_images: torch.Tensor, test_labels: torch.Tensor, digits: int = 100
) -> dict:
    """The model in inference mode as plain data, for the workbook's live sheet (no torch there).

    Each convolution gets its BatchNorm folded in, in float64 from the float32 parameters:
    weight·γ/√(σ²+ε) and one shift β − μ·γ/√(σ²+ε) per channel. Dropout is the identity at
    inference and is left out. The first `digits` test images and labels go with it, so the
    sheet can show real digits. The layout is sheetgen.runs.cnn.network_from_dict's.
    """
    convs, pool_after, linear = [], None, None
    normalize = None
    for module in model.children():
        if isinstance(module, Normalize):
            normalize = {"mean": float(module.mean), "std": float(module.std)}
        elif isinstance(module, ConvBlock):
            conv, norm = module[0], module[1]
            scale = norm.weight.double() / torch.sqrt(norm.running_var.double() + norm.eps)
            weight = conv.weight.double() * scale[:, None, None, None]
            shift = norm.bias.double() - norm.running_mean.double() * scale
            convs.append({"weight": weight.tolist(), "shift": shift.tolist()})
        elif isinstance(module, nn.MaxPool2d):
            pool_after = len(convs)
        elif isinstance(module, nn.Linear):
            linear = {"weight": module.weight.double().tolist(), "bias": module.bias.double().tolist()}
    images = test_images[:digits].cpu().reshape(-1, 28 * 28)
    return {
        "format": 1,
        "normalize": normalize,
        "convs": convs,
        "pool_after": pool_after,
        "linear": linear,
        "digits": {
            "indices": list(range(len(images))),
            "labels": [int(v) for v in test_labels[:digits].cpu()],
            "pixels": [base64.b64encode(image.numpy().tobytes()).decode("ascii") for image in images],
        },
    }
