"""Save the trained classifier with ``torch.export`` so that anyone can run it without our code.

The file is an ExportedProgram with a dynamic batch dimension: float images in [0, 1] shaped
(N, 1, 28, 28), any N, in; logits (N, 10) out, normalisation included::

    model = torch.export.load("output/runs/<run>/model.pt2").module()
    predictions = model(images).argmax(1)

(TorchScript is deprecated in current torch, hence torch.export.)
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from mnist.files import atomic_write
from mnist.model import IMAGE_SHAPE


def export_model(model: nn.Module, path: Path) -> None:
    """Export ``model`` in eval mode to ``path``, atomically.

    The model is exported on the CPU, from a copy, so the caller's model keeps its device and
    training mode, and the file loads on machines without the training accelerator.
    """
    cpu_model = copy.deepcopy(model).to("cpu").eval()
    example = torch.zeros(4, *IMAGE_SHAPE)  # zeros: export must not consume random numbers
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(cpu_model, (example,), dynamic_shapes=({0: batch},))
    atomic_write(path, lambda temp: torch.export.save(program, str(temp)))


def load_model(path: Path) -> nn.Module:
    """The exported model as a callable module (what a user of the file would do)."""
    return torch.export.load(str(path)).module()
