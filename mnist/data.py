"""MNIST as two device-resident uint8 tensors, shuffled and augmented a whole batch at a time.

Airbench-style: no per-sample Python, no PIL, no worker processes. Loading goes through
``torchvision.datasets.MNIST`` (so a folder torchvision made works as is); problems with the
files become one-line ``MnistError`` messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from mnist.config import MnistError
from sheetgen.files import user_cache_dir

RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def default_data_dir() -> Path:
    """The dataset's folder in sheetgen's per-user cache (sheetgen.files.user_cache_dir)."""
    return user_cache_dir() / "mnist"


def resolve_root(data_dir: Path | None) -> Path:
    """The root torchvision wants (holding MNIST/raw/), accepting the raw folder itself too."""
    root = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if root.name == "raw" and root.parent.name == "MNIST":
        return root.parent.parent
    if root.name == "MNIST" and (root / "raw").is_dir():
        return root.parent
    return root


@dataclass(frozen=True)
class MnistTensors:
    """Images as uint8 (N, 1, 28, 28) and labels as int64 (N,), both on one device."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def _check_idx_file(path: Path) -> None:
    """Fail clearly on a truncated or foreign file, before torchvision asserts on it."""
    with open(path, "rb") as f:
        header = f.read(4)
        size = path.stat().st_size
        if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != 0x08 or header[3] not in (1, 3):
            raise MnistError(f"{path} is not an MNIST IDX file (bad header); delete it and download again")
        dims = [int.from_bytes(f.read(4), "big") for _ in range(header[3])]
    expected = 4 * (1 + len(dims)) + math.prod(dims)
    if size != expected:
        raise MnistError(
            f"{path} is truncated or corrupt: {size:,} bytes where its header promises "
            f"{expected:,}; delete it and download again"
        )


def _missing(raw: Path) -> list[str]:
    return [name for name in RAW_FILES if not (raw / name).is_file()]


def load_mnist(data_dir: Path | None, device: torch.device, download: bool = True) -> MnistTensors:
    """Read MNIST (downloading it into data_dir when allowed) and move it to ``device``.

    Raises:
        MnistError: files missing and not downloadable, or unreadable.
    """
    from torchvision.datasets import MNIST  # only this function needs torchvision

    root = resolve_root(data_dir)
    raw = root / "MNIST" / "raw"
    missing = _missing(raw)
    if missing and download:
        try:
            MNIST(str(root), train=True, download=True)
        except Exception as error:  # noqa: BLE001 - network errors come in many types; all mean "not fetched"
            # torchvision lists every mirror it tried; the last line holds the actual cause.
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(error).__name__
            raise MnistError(
                f"MNIST files missing ({', '.join(missing)}) in {raw} and the download failed "
                f"({reason}); pass --data-dir pointing at a folder that holds MNIST/raw/"
            ) from None
        missing = _missing(raw)
    if missing:
        raise MnistError(
            f"MNIST files missing ({', '.join(missing)}) in {raw}; pass --data-dir pointing "
            f"at a folder that holds MNIST/raw/, or allow the download"
        )
    for name in RAW_FILES:
        _check_idx_file(raw / name)
    try:
        train, test = MNIST(str(root), train=True), MNIST(str(root), train=False)
    except Exception as error:  # noqa: BLE001 - torchvision asserts and reshapes; any failure means bad files
        raise MnistError(f"could not read MNIST in {raw}: {error or type(error).__name__}") from None
    for split, data in (("train", train), ("test", test)):
        if data.data.shape[1:] != (28, 28) or len(data.data) != len(data.targets):
            raise MnistError(
                f"MNIST {split} files in {raw} disagree: {tuple(data.data.shape)} images, "
                f"{len(data.targets)} labels (expected N x 28 x 28 and N)"
            )
        if len(data.targets) and not 0 <= int(data.targets.min()) <= int(data.targets.max()) <= 9:
            raise MnistError(f"MNIST {split} labels in {raw} are not digits 0-9")
    return MnistTensors(
        train_images=train.data.unsqueeze(1).to(device),
        train_labels=train.targets.long().to(device),
        test_images=test.data.unsqueeze(1).to(device),
        test_labels=test.targets.long().to(device),
    )


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 to float 0..1, the model's input convention."""
    return images.float().div_(255.0)


def random_affine(
    images: torch.Tensor,
    generator: torch.Generator,
    max_rotation_degrees: float,
    max_scale_change: float,
    max_translation: float,
) -> torch.Tensor:
    """Rotate, scale and shift every image of a float batch by its own random amount.

    One ``affine_grid``/``grid_sample`` call for the whole batch; the empty border is 0
    (black), like MNIST's own background.
    """
    n = images.shape[0]

    def uniform(limit: float) -> torch.Tensor:
        draw = torch.rand(n, generator=generator, device=images.device, dtype=images.dtype)
        return (draw * 2 - 1) * limit

    angle = uniform(math.radians(max_rotation_degrees))
    # Sampling coordinates are divided by the scale, so >1 enlarges the digit.
    scale = 1 + uniform(max_scale_change)
    shift_x, shift_y = uniform(2 * max_translation), uniform(2 * max_translation)  # [-1, 1] spans the side
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def train_batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
    augment: dict | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """One epoch of shuffled float batches, augmented by ``random_affine(**augment)`` unless
    augment is None; the last batch may be smaller."""
    order = torch.randperm(len(labels), generator=generator, device=generator.device)
    for start in range(0, len(labels), batch_size):
        index = order[start : start + batch_size]
        batch = to_float(images[index])
        if augment is not None:
            batch = random_affine(batch, generator, **augment)
        yield batch, labels[index]


def eval_batches(
    images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The test set in order, unaugmented."""
    for start in range(0, len(labels), batch_size):
        yield to_float(images[start : start + batch_size]), labels[start : start + batch_size]


def num_batches(count: int, batch_size: int) -> int:
    return -(-count // batch_size)
