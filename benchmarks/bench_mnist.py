"""Benchmark of the MNIST defaults: speed-up over the seed, idle and busy; accuracy over seeds.

Run from the repository root on an otherwise idle machine (about 30 minutes on a 2-core CPU)::

    python benchmarks/bench_mnist.py --data-dir DIR     # MNIST in DIR/MNIST/raw (default: the
                                                        # user cache, as sheetgen mnist train)
    python benchmarks/bench_mnist.py --seeds            # speed only, ~5 min
    python benchmarks/bench_mnist.py --quick            # smoke run, ~1 min

Speed, in two conditions side by side: **idle** (nothing but the benchmark), and **busy**,
with one plain Python busy loop per core but one, which the benchmark starts itself and stops
at the end (also on Ctrl-C or SIGTERM; each loop also ends by itself when the benchmark's
process is gone). In each condition, paired rounds time a few batches of the seed pipeline and
then a slice of the training set through our own epoch loop (mnist.train.train_epoch, default
settings, augmentation on, the thread count chosen as ``sheetgen mnist train`` chooses it),
back to back, so that a slow spell hits both; the ratio is the median over rounds. Then,
unless --quick, one whole epoch of ``train()`` per condition (the second epoch of a 2-epoch
run: its ``seconds``, test pass and files included). Then it trains the default TrainConfig
for each seed (runs land in output/bench/, which git ignores) and reports accuracy and
whole-epoch times. Load average and the share of CPU time the virtual machine's host took
(steal, from /proc/stat, which no clock here sees) are printed beside every figure.

The seed pipeline follows the seed notebook's ``models.py`` and ``utils.py`` as written, and
is not tuned: convolutions keep their bias, each is followed by ReLU and
then BatchNorm; conv 1->128 3x3 padding 1, max-pool 2, conv 128->8 1x1, conv 8->64 3x3
unpadded, max-pool 2, conv 64->32 1x1, conv 32->16 3x3, conv 16->10 3x3, adaptive average
pool to 1x1, log-softmax (15,654 parameters, asserted); PIL transforms per sample
(RandomApply([CenterCrop(22)], p=0.1), Resize((28, 28)), RandomRotation((-15, 15), fill=0),
ToTensor, Normalize((0.1307,), (0.3081,))); DataLoader batch 512, shuffle, num_workers=2,
pin_memory=True; SGD lr 0.1 momentum 0.9; NLL loss on the log-softmax. It runs at torch's
default thread count, as a notebook would. Each of its bursts takes a fresh DataLoader
iterator and starts the clock once the first batch has arrived (steady state: workers
running, not starting), then shuts its workers down, so that they take no CPU from our turn.

Measured figures: docs/benchmarks.md ("MNIST training: speed and accuracy") quotes this
script's whole output from an idle 2-core AMD EPYC virtual machine (28 November 2026): 10.7x
the seed pipeline idle, 11.9x busy, a whole epoch 1.17x slower busy than idle, mean final
accuracy 99.50% over 3 seeds.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Self

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from busy import BUSY_LOOP  # beside this script

from mnist.config import TrainConfig
from mnist.data import MnistTensors, load_mnist, resolve_root
from mnist.model import DigitNet, count_parameters
from mnist.threads import thread_policy
from mnist.train import augmentation, cpu_name, optimizer_and_schedule, train, train_epoch

TARGET = 99.4
SEED_PARAMETERS = 15_654  # the seed's models.py, counted
# torch's thread count when the benchmark started: what the seed notebook would run with.
DEFAULT_THREADS = torch.get_num_threads()


def seed_model() -> nn.Module:
    """The seed's model as its models.py builds it: every conv keeps its bias and is
    followed by ReLU, then BatchNorm; only the first is padded."""

    def conv_relu_bn(i, o, k, padding=0):
        return [nn.Conv2d(i, o, k, padding=padding), nn.ReLU(), nn.BatchNorm2d(o)]

    model = nn.Sequential(
        *conv_relu_bn(1, 128, 3, padding=1),
        nn.MaxPool2d(2),  # 28 -> 28 -> 14
        *conv_relu_bn(128, 8, 1),
        *conv_relu_bn(8, 64, 3),
        nn.MaxPool2d(2),  # 14 -> 12 -> 6
        *conv_relu_bn(64, 32, 1),
        *conv_relu_bn(32, 16, 3),  # 6 -> 4
        *conv_relu_bn(16, 10, 3),  # 4 -> 2
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.LogSoftmax(dim=1),
    )
    assert count_parameters(model) == SEED_PARAMETERS, count_parameters(model)
    return model


class SeedPipeline:
    """The seed's training pipeline (its utils.py), timed a few batches at a time."""

    def __init__(self, data_dir: Path) -> None:
        from torchvision import datasets, transforms

        transform = transforms.Compose(
            [
                transforms.RandomApply([transforms.CenterCrop(22)], p=0.1),
                transforms.Resize((28, 28)),
                transforms.RandomRotation((-15.0, 15.0), fill=0),
                transforms.ToTensor(),
                transforms.Normalize((0.1307,), (0.3081,)),
            ]
        )
        dataset = datasets.MNIST(str(resolve_root(data_dir)), train=True, transform=transform)
        torch.manual_seed(0)
        self.loader = torch.utils.data.DataLoader(
            dataset, batch_size=512, shuffle=True, num_workers=2, pin_memory=True
        )
        self.model = seed_model().train()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.1, momentum=0.9)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> int:
        self.optimizer.zero_grad()
        nn.functional.nll_loss(self.model(images), labels).backward()
        self.optimizer.step()
        return len(labels)

    def speed(self, batches: int) -> float:
        """Training images per second over `batches` batches of 512 (data loading included)."""
        torch.set_num_threads(DEFAULT_THREADS)  # ours may have chosen fewer
        with warnings.catch_warnings():  # pin_memory=True, as the seed had it, warns without a GPU
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            loader = iter(self.loader)
            self.step(*next(loader))  # workers started and prefetching: steady state from here
            started, seen = time.perf_counter(), 0
            for _ in range(batches):
                try:
                    seen += self.step(*next(loader))
                except StopIteration:  # an epoch's end: the next epoch starts its workers
                    loader = iter(self.loader)
            elapsed = time.perf_counter() - started
            del loader  # shut the workers down: they must not eat into our turn
        return seen / elapsed


class OurPipeline:
    """mnist.train's epoch loop, timed on a slice of the training set.

    Default settings and model unless told otherwise (bench_mnist_step.py compares variants);
    the thread count is chosen as train() chooses it, by one policy kept across rounds as a
    run keeps it across epochs.
    """

    def __init__(
        self,
        data: MnistTensors,
        images: int,
        model: nn.Module | None = None,
        config: TrainConfig | None = None,
    ) -> None:
        self.config = config or TrainConfig()
        self.slice = MnistTensors(
            data.train_images[:images], data.train_labels[:images], data.test_images, data.test_labels
        )
        torch.manual_seed(0)
        self.model = model if model is not None else DigitNet(self.config.dropout)
        self.optimizer, self.scheduler = optimizer_and_schedule(
            self.model, self.config, len(data.train_labels)
        )
        self.generator = torch.Generator().manual_seed(0)
        self.threads = thread_policy(self.config.threads, torch.device("cpu"))

    def speed(self) -> float:
        """Training images per second over one pass of the slice (augmented, as in epoch 1)."""
        torch.set_num_threads(self.threads.threads)  # the seed's turn set its own count
        started = time.perf_counter()
        train_epoch(
            self.model,
            self.optimizer,
            self.scheduler,
            self.slice,
            augmentation(self.config, 1),
            self.config.batch_size,
            self.generator,
            threads=self.threads,
        )
        return len(self.slice.train_labels) / (time.perf_counter() - started)


def cpu_times() -> tuple[int, int] | None:
    """(steal, total) CPU ticks from /proc/stat (Linux), else None: time a virtual machine's
    host gave to other guests is invisible to our clocks but slows every measurement."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks[:8])


def steal_since(start: tuple[int, int] | None) -> str:
    end = cpu_times()
    if start is None or end is None or end[1] == start[1]:
        return "unknown"
    return f"{100 * (end[0] - start[0]) / (end[1] - start[1]):.0f}%"


def load_average() -> str:
    try:
        return "/".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


class BusyLoops:
    """One plain Python busy loop per core but one, for the "busy" condition; a context
    manager that stops them on leaving, whatever the reason."""

    def __init__(self, count: int) -> None:
        self.count, self.processes = count, []

    def __enter__(self) -> Self:
        self.processes = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(self.count)]
        time.sleep(0.5)  # let the scheduler see them before anything is timed
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []


def paired_throughput(seed: SeedPipeline, ours: OurPipeline, rounds: int, seed_batches: int) -> dict:
    """Both pipelines' speed in alternating bursts; medians, per-round ratios and conditions."""
    seed.speed(1), ours.speed()  # warm-up: first-call allocations, thread pools, a first probe
    ratios, seed_speeds, our_speeds, threads_used = [], [], [], []
    before, load_before = cpu_times(), load_average()
    for _ in range(rounds):
        seed_speeds.append(seed.speed(seed_batches))
        our_speeds.append(ours.speed())
        threads_used.append(ours.threads.threads)
        ratios.append(our_speeds[-1] / seed_speeds[-1])
    return {
        "seed": statistics.median(seed_speeds),
        "ours": statistics.median(our_speeds),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "threads": threads_used,
        "steal": steal_since(before),
        "load": f"{load_before} -> {load_average()}",
    }


def whole_epoch_seconds(data_dir: Path, out: Path) -> float:
    """The second row's seconds of a 2-epoch default run: one whole epoch, files included."""
    result = train(TrainConfig(data_dir=data_dir, epochs=2, out=out, download=False), progress=False)
    return result.metrics[1]["seconds"]


def report_conditions(
    results: dict[str, dict], epochs: dict[str, float], seed_batches: int, our_images: int, rounds: int
) -> None:
    print(
        f"throughput in {rounds} paired rounds per condition ({seed_batches} batches of 512 of the seed "
        f"pipeline, then {our_images:,} images of ours):"
    )
    print(
        f"  {'condition':<10} {'seed img/s':>10} {'ours img/s':>10} {'ratio':>6}  "
        f"{'per round':<30} {'our threads':<12} steal  load average (1/5/15 min, before -> after)"
    )
    for name, r in results.items():
        print(
            f"  {name:<10} {r['seed']:>10,.0f} {r['ours']:>10,.0f} {r['ratio']:>5.1f}x  "
            f"{', '.join(f'{x:.1f}x' for x in r['ratios']):<30} {','.join(map(str, r['threads'])):<12} "
            f"{r['steal']:>5}  {r['load']}"
        )
    if {"idle", "busy"} <= results.keys():
        idle, busy = results["idle"], results["busy"]
        print(
            f"busy/idle: our training throughput fell {idle['ours'] / busy['ours']:.2f}x, the seed's "
            f"{idle['seed'] / busy['seed']:.2f}x (targets: idle ratio >= 10x; busy: ours at most 1.7x "
            f"slower, ratio >= 8x)"
        )
    for name, seconds in epochs.items():
        print(f"whole epoch ({name}): {seconds:.1f} s (second row of a 2-epoch default run, files included)")
    if {"idle", "busy"} <= epochs.keys():
        print(f"whole epoch busy/idle: {epochs['busy'] / epochs['idle']:.2f}x (target <= 1.7x)")


def train_seeds(data_dir: Path, seeds: list[int], out: Path) -> None:
    before, load_before = cpu_times(), load_average()
    print("seed  final acc  best acc  s/epoch (median)  first >= 99.4%")
    finals, epoch_seconds, to_target = [], [], []
    for seed in seeds:
        result = train(TrainConfig(data_dir=data_dir, seed=seed, out=out / f"seed{seed}"), progress=False)
        seconds = [row["seconds"] for row in result.metrics]
        accuracies = [row["test_accuracy"] for row in result.metrics]
        reached = next((i for i, a in enumerate(accuracies) if a >= TARGET), None)
        finals.append(accuracies[-1])
        epoch_seconds += seconds
        first = "never"
        if reached is not None:
            to_target.append(sum(seconds[: reached + 1]))
            first = f"epoch {reached + 1}, {to_target[-1]:.0f} s"
        print(
            f"{seed:>4}  {accuracies[-1]:>8.2f}%  {max(accuracies):>7.2f}%  "
            f"{statistics.median(seconds):>13.1f} s  {first}",
            flush=True,
        )

    mean, low = statistics.mean(finals), min(finals)
    print(
        f"final-epoch test accuracy: mean {mean:.2f}%, min {low:.2f}% over {len(finals)} seeds "
        f"(targets: each >= 99.4%, mean >= 99.5%: {'met' if low >= 99.4 and mean >= 99.5 else 'MISSED'})"
    )
    print(
        f"time per epoch: median {statistics.median(epoch_seconds):.1f} s over {len(epoch_seconds)} epochs "
        f"(whole epochs: training, test pass, checkpoint, export, files) = "
        f"{60_000 / statistics.median(epoch_seconds):,.0f} training img/s; CPU steal during the runs "
        f"{steal_since(before)}; load average {load_before} -> {load_average()}"
    )
    if to_target:
        print(
            f"time to first reach 99.4%: median {statistics.median(to_target):.0f} s "
            f"({len(to_target)} of {len(finals)} seeds reached it)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="MNIST's folder (default: the user cache)"
    )
    parser.add_argument(
        "--seeds", type=int, nargs="*", default=[0, 1, 2], help="seeds to train (none: measure speed only)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="paired throughput rounds per condition")
    parser.add_argument("--seed-batches", type=int, default=6, help="seed-pipeline batches of 512 per round")
    parser.add_argument("--our-images", type=int, default=12_800, help="training images of ours per round")
    parser.add_argument("--conditions", nargs="+", choices=("idle", "busy"), default=["idle", "busy"])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 rounds of 2 seed batches and 2,048 of our images, no whole "
        "epochs, no seeds (proves the script works; its figures mean little)",
    )
    parser.add_argument("--out", type=Path, default=Path("output/bench") / f"{datetime.now():%Y%m%d-%H%M%S}")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seed_batches, args.our_images, args.seeds = 2, 2, 2048, []
    # SIGTERM (a job scheduler, `kill`) unwinds like Ctrl-C, so the busy loops are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    defaults = TrainConfig()
    busy_count = max(1, (os.cpu_count() or 1) - 1)
    print(f"command: python benchmarks/bench_mnist.py {' '.join(sys.argv[1:])}")
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"(default {DEFAULT_THREADS} threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}), "
        f"device {defaults.device}; load average at start {load_average()}"
    )
    print(
        f"model: {count_parameters(DigitNet(defaults.dropout)):,} parameters; defaults: {defaults.epochs} "
        f"epochs (the last {defaults.clean_epochs} unaugmented), batch {defaults.batch_size}, "
        f"OneCycle peak lr {defaults.lr}, threads {defaults.threads or 'adaptive'}; "
        f"seed pipeline {count_parameters(seed_model()):,} parameters"
    )
    print(
        f"conditions: {', '.join(args.conditions)} (busy: {busy_count} Python busy loop(s) started here)",
        flush=True,
    )

    data = load_mnist(args.data_dir, torch.device("cpu"), download=False)
    results, epochs = {}, {}
    for condition in args.conditions:
        with BusyLoops(busy_count if condition == "busy" else 0):
            # Fresh pipelines per condition: our thread policy starts from scratch, as a new run does.
            seed, ours = SeedPipeline(args.data_dir), OurPipeline(data, args.our_images)
            results[condition] = paired_throughput(seed, ours, args.rounds, args.seed_batches)
            torch.set_num_threads(DEFAULT_THREADS)  # train() adapts from torch's count: give it all
            if not args.quick:
                epochs[condition] = whole_epoch_seconds(args.data_dir, args.out / f"epoch-{condition}")
        torch.set_num_threads(DEFAULT_THREADS)
    report_conditions(results, epochs, args.seed_batches, args.our_images, args.rounds)
    sys.stdout.flush()

    if args.seeds:
        train_seeds(args.data_dir, args.seeds, args.out)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:  # the busy loops were stopped on the way out
        sys.exit("interrupted")
