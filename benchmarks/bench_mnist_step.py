"""Training-step throughput of the MNIST model: where dropout sits, and the batch size.

Run from the repository root (about a minute on a 2-core CPU)::

    python benchmarks/bench_mnist_step.py --data-dir ../shared/data

Times full training steps (batch gather, affine augmentation, forward, backward, SGD step) on
real MNIST images, for the default model and for the earlier placement of dropout after every
block behind the pool, at batch 64 and 128. Each variant is timed ``--repeats`` times,
interleaved so that a busy spell on a shared machine hits all of them alike; medians are
printed. The figures quoted in mnist/model.py and mnist/config.py come from this script.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from mnist.config import TrainConfig  # noqa: E402
from mnist.data import load_mnist, random_affine, to_float  # noqa: E402
from mnist.model import POOL_AFTER, ConvBlock, DigitNet  # noqa: E402
from mnist.train import cpu_name  # noqa: E402

WARMUP_STEPS = 3


def model_with_dropout_after_pool(p: float) -> DigitNet:
    """The earlier placement: dropout on every block after the max-pool, not just the last."""
    model = DigitNet(dropout=0.0)
    blocks = [m for m in model.children() if isinstance(m, ConvBlock)]
    for block in blocks[POOL_AFTER:]:
        block.append(nn.Dropout(p))
    return model


def images_per_second(model: nn.Module, data, batch_size: int, images: int, config: TrainConfig) -> float:
    """Training images per second over about `images` images, after a few warm-up steps."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=config.momentum,
                                nesterov=True, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data.train_labels), generator=generator)
    augment = dict(max_rotation_degrees=config.max_rotation_degrees,
                   max_scale_change=config.max_scale_change, max_translation=config.max_translation)
    steps = max(1, images // batch_size)
    model.train()
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            started = time.perf_counter()
        index = order[step * batch_size:(step + 1) * batch_size]
        batch = random_affine(to_float(data.train_images[index]), generator, **augment)
        loss = F.cross_entropy(model(batch), data.train_labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=6144, help="images timed per measurement")
    args = parser.parse_args()

    config = TrainConfig()
    data = load_mnist(args.data_dir, torch.device("cpu"), download=False)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})")
    variants = {
        f"dropout on the last block (default), batch {b}": (lambda: DigitNet(config.dropout), b)
        for b in (64, 128)
    } | {
        f"dropout after every block behind the pool, batch {b}":
            (lambda: model_with_dropout_after_pool(config.dropout), b)
        for b in (64, 128)
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (make, batch_size) in variants.items():
            torch.manual_seed(0)
            results[name].append(images_per_second(make(), data, batch_size, args.images, config))
    width = max(map(len, results))
    for name, speeds in results.items():
        print(f"{name:<{width}}  median {statistics.median(speeds):>6,.0f} img/s  "
              f"(runs: {', '.join(f'{s:,.0f}' for s in speeds)})")


if __name__ == "__main__":
    main()
