"""Shared fixtures for the mnist tests: a tiny MNIST written as real IDX files.

The files go through torchvision's own reader, so the tests exercise the real loading path
without the network or the real dataset. Import the fixtures into a test module by name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mnist.config import TrainConfig

TRAIN_COUNT, TEST_COUNT = 200, 100


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (magic 0x0000 08 <ndim>, big-endian sizes, data)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def synthetic_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise images with a bright 8x8 square whose place encodes the label: learnable, tiny."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, count)
    images = rng.integers(0, 40, (count, 28, 28))
    for image, label in zip(images, labels):
        row, col = 2 + 6 * (label // 4), 2 + 6 * (label % 4)
        image[row : row + 8, col : col + 8] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_tiny_mnist(root: Path) -> Path:
    """root/MNIST/raw/ with the four files torchvision reads; returns root."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, count, seed in (("train", TRAIN_COUNT, 1), ("t10k", TEST_COUNT, 2)):
        images, labels = synthetic_digits(count, seed)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return root


def tiny_config(data_dir: Path, out: Path, **changes) -> TrainConfig:
    """A run that takes a second or two: 2 epochs of 4 batches, on the CPU, no download; the
    first epoch augmented, the second clean, so a resumed run crosses from one to the other.
    One fixed thread: the reproducible path (an adaptive run's numbers depend on the thread
    counts it picks); tests of the adaptive path pass threads=0."""
    settings = dict(
        data_dir=data_dir,
        out=out,
        epochs=2,
        clean_epochs=1,
        batch_size=64,
        device="cpu",
        download=False,
        threads=1,
    )
    return TrainConfig(**{**settings, **changes})


@pytest.fixture(scope="session")
def mnist_data_dir(tmp_path_factory) -> Path:
    return write_tiny_mnist(tmp_path_factory.mktemp("mnist-data"))


@pytest.fixture(scope="session")
def mnist_run(mnist_data_dir, tmp_path_factory):
    """One finished 2-epoch run, shared by the tests that only read its files."""
    from mnist.train import train

    calls = []
    result = train(
        tiny_config(mnist_data_dir, tmp_path_factory.mktemp("runs") / "run"),
        on_epoch=lambda run_dir, rows: calls.append((run_dir, rows)),
        progress=False,
    )
    return result, calls
