"""Training throughput of the MNIST model's variants: where dropout sits, and the batch size.

Run from the repository root (about a minute on a 2-core CPU)::

    python benchmarks/bench_mnist_step.py [--data-dir DIR]     # default: the user cache

Times mnist.train's epoch loop (batch gather, affine augmentation, forward, backward, SGD
step, schedule) on a slice of real MNIST, for the default model and for the earlier placement
of dropout on every block behind the pool, at batch 64 and 128. Each variant is timed
``--repeats`` times, interleaved so that a busy spell on a shared machine hits all of them
alike; medians are printed. The figures quoted in mnist/model.py and mnist/config.py come
from this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from bench_mnist import OurPipeline

from mnist.config import TrainConfig
from mnist.data import load_mnist
from mnist.model import POOL_AFTER, ConvBlock, DigitNet
from mnist.train import cpu_name


def model_with_dropout_after_pool(p: float) -> DigitNet:
    """The earlier placement: dropout on every block after the max-pool, not just the last."""
    model = DigitNet(dropout=0.0)
    blocks = [m for m in model.children() if isinstance(m, ConvBlock)]
    for block in blocks[POOL_AFTER:]:
        block.append(nn.Dropout(p))
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="MNIST's folder (default: the user cache)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=6144, help="images timed per measurement")
    args = parser.parse_args()

    defaults = TrainConfig()
    data = load_mnist(args.data_dir, torch.device("cpu"), download=False)
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})"
    )
    models = {
        "dropout on the last block (default)": lambda: DigitNet(defaults.dropout),
        "dropout after every block behind the pool": lambda: model_with_dropout_after_pool(defaults.dropout),
    }
    variants = {(name, batch): make for name, make in models.items() for batch in (64, 128)}
    results: dict[tuple[str, int], list[float]] = {key: [] for key in variants}
    for _ in range(args.repeats):
        for (name, batch), make in variants.items():
            # A fixed count: the variants are compared at equal threads, not at what adapts.
            config = replace(defaults, batch_size=batch, threads=torch.get_num_threads())
            results[name, batch].append(OurPipeline(data, args.images, make(), config).speed())
    width = max(len(f"{name}, batch {batch}") for name, batch in results)
    for (name, batch), speeds in results.items():
        print(
            f"{f'{name}, batch {batch}':<{width}}  median {statistics.median(speeds):>6,.0f} img/s  "
            f"(runs: {', '.join(f'{s:,.0f}' for s in speeds)})"
        )


if __name__ == "__main__":
    main()
