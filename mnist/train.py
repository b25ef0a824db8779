"""The training loop, and the run directory it keeps complete after every epoch.

Python API::

    from mnist.config import TrainConfig
    from mnist.train import train
    result = train(TrainConfig(seed=0))  # MNIST from the user cache, downloaded if missing
    print(result.final_test_accuracy)

The command line is ``sheetgen mnist train`` (or ``python -m mnist train``). A run dir holds
metrics.csv, metrics.json, summary.json, evaluation.json (confusion matrix and misclassified
test digits), model.pt2, inference.json (the model with BatchNorm folded, and the first 100
test digits, for the workbook's live sheet) and checkpoint.pt, all rewritten
atomically after every epoch; ``--resume`` continues from checkpoint.pt and, because every
epoch's random numbers derive from (seed, epoch) alone, produces the same metrics as a run
that was never interrupted when the thread count is fixed (``--threads N``; an adaptive run
rounds floats as the thread counts it chose round them, see mnist/threads.py).

A row's ``seconds`` is wall time on one running clock, from the end of the previous row to
this one: the training pass and test pass, and also the previous epoch's checkpoint, model
export, metrics files and ``on_epoch`` work (the CLI's workbook refresh). The first row also
counts loading the data and building the model, so the running sum of ``seconds`` is the time
the user waited for that row. The work after the final row is in no row.
"""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR

from mnist.checkpoint import CHECKPOINT, CHECKPOINT_FORMAT, read_checkpoint, restore
from mnist.config import MnistError, TrainConfig, config_differences
from mnist.data import MnistTensors, eval_batches, load_mnist, num_batches, train_batches
from mnist.export import export_model, inference_dict
from mnist.files import private_compiler_cache, write_serialised, write_text
from mnist.model import DigitNet, count_parameters, summary_dict
from mnist.threads import thread_policy

# The files the workbook reads are named once, on the reading side.
from sheetgen.machine import cpu_name
from sheetgen.runs.mnist_sheets import GALLERY_SIZE
from sheetgen.runs.training import EVALUATION_JSON, INFERENCE_JSON, METRICS_CSV, SUMMARY_JSON
from sheetgen.runs.training import METRIC_COLUMNS as COLUMNS

DEFAULT_RUNS_DIR = Path("output") / "runs"
METRICS_JSON, MODEL_FILE = "metrics.json", "model.pt2"

# Called after each epoch's files are written, with the run dir and all metrics rows so far.
EpochCallback = Callable[[Path, list[dict]], None]
# Called once the run is decided, with its settings: out is the run dir, and a resumed run's
# settings are its own.
StartCallback = Callable[[TrainConfig], None]


@dataclass(frozen=True)
class RunResult:
    """What a finished (or already complete) run left behind."""

    run_dir: Path
    config: TrainConfig
    metrics: list[dict]
    parameters: int

    @property
    def final_test_accuracy(self) -> float:
        return self.metrics[-1]["test_accuracy"]


def resolve_device(name: str) -> torch.device:
    """torch.device for a --device value; 'auto' prefers cuda, then mps, then cpu."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise MnistError(
            f"--device cuda was asked for but torch {torch.__version__} sees no CUDA GPU here; "
            "use --device auto or cpu"
        )
    if name == "mps" and not mps:
        raise MnistError("--device mps was asked for but this machine has no MPS; use --device auto or cpu")
    return torch.device(name)


def latest_run_dir(runs_dir: Path = DEFAULT_RUNS_DIR) -> Path:
    """The run under runs_dir whose checkpoint was written last (what --resume continues)."""
    checkpoints = sorted(runs_dir.glob(f"*/{CHECKPOINT}"), key=lambda p: p.stat().st_mtime)
    if not checkpoints:
        raise MnistError(f"--resume found no run with a {CHECKPOINT} under {runs_dir}; pass --out RUN_DIR")
    return checkpoints[-1].parent


def default_run_dir(seed: int) -> Path:
    """output/runs/<date-time>-seed<seed>: sorts by time, says which seed."""
    return DEFAULT_RUNS_DIR / f"{datetime.now():%Y%m%d-%H%M%S}-seed{seed}"


def _new_run_dir(config: TrainConfig) -> Path:
    run_dir = Path(config.out) if config.out is not None else default_run_dir(config.seed)
    if (run_dir / CHECKPOINT).exists():
        raise MnistError(f"{run_dir} already holds a run; pass --resume to continue it or another --out")
    return run_dir


def check_writable_dir(folder: Path) -> None:
    """Refuse a run dir that cannot be made or written, without making it: the nearest part of
    the path that exists must be a folder that can be written.

    Raises:
        MnistError: a part of the path is a file, or the folder is on a read-only file system
            or may not be written.
    """
    existing = Path(folder)
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY:
        problem = f"{existing} is on a read-only file system"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} may not be written"
    if problem is not None:
        raise MnistError(f"cannot write run dir {folder}: {problem}; give another --out")


def _decide_run(config: TrainConfig, explicit: Collection[str] | None) -> tuple[TrainConfig, dict | None]:
    """The run to train, with out set to its dir: a new one, or with config.resume the run in
    config.out (else the latest), whose own settings fill in those not in `explicit`; and its
    checkpoint (None for a new run).

    Raises:
        MnistError: no usable checkpoint, or a chosen setting the run cannot change.
    """
    if not config.resume:
        return replace(config, out=_new_run_dir(config)), None
    run_dir = Path(config.out) if config.out is not None else latest_run_dir()
    # on the CPU: the settings say which device the run goes on, and loading the states into
    # the model and optimiser moves every tensor there
    checkpoint = read_checkpoint(run_dir)
    stored = TrainConfig.from_dict(checkpoint["config"])
    if explicit is not None:
        config = replace(stored, **{name: getattr(config, name) for name in explicit})
    differences = config_differences(stored, config)
    if differences:
        raise MnistError(
            f"cannot resume {run_dir}: asked for {'; '.join(differences)}; "
            "drop those options or start a new run with another --out"
        )
    return replace(config, out=run_dir, resume=True), checkpoint


def _epoch_generators(seed: int, epoch: int, device: torch.device) -> torch.Generator:
    """Seed dropout (global RNG) and return the data generator, from (seed, epoch) alone.

    Nothing random carries over between epochs, so a resumed run repeats an uninterrupted one.
    """
    base = torch.Generator().manual_seed(seed * 100_003 + epoch)
    data_seed, dropout_seed = torch.randint(2**62, (2,), generator=base).tolist()
    torch.manual_seed(dropout_seed)
    return torch.Generator(device=device).manual_seed(data_seed)


def augmentation(config: TrainConfig, epoch: int) -> dict | None:
    """random_affine's ranges for this epoch, or None for the final clean epochs."""
    if epoch > config.epochs - config.clean_epochs:
        return None
    return dict(
        max_rotation_degrees=config.max_rotation_degrees,
        max_scale_change=config.max_scale_change,
        max_translation=config.max_translation,
    )


def optimizer_and_schedule(
    model: torch.nn.Module, config: TrainConfig, train_count: int
) -> tuple[torch.optim.SGD, OneCycleLR]:
    """SGD with Nesterov momentum and its OneCycle schedule over the whole run."""
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=True,
        weight_decay=config.weight_decay,
    )
    scheduler = OneCycleLR(
        optimizer,
        max_lr=config.lr,
        epochs=config.epochs,
        steps_per_epoch=num_batches(train_count, config.batch_size),
        pct_start=config.warmup_fraction,
        cycle_momentum=False,
    )
    return optimizer, scheduler


def train_epoch(
    model,
    optimizer,
    scheduler,
    data: MnistTensors,
    augment: dict | None,
    batch_size: int,
    generator: torch.Generator,
    bar=None,
    threads=None,
) -> tuple[float, float, float]:
    """One pass over data's training set, augmented by random_affine(**augment) unless augment
    is None: (mean loss, accuracy %, last lr). bar, if given, is a tqdm bar to advance;
    threads, if given, a mnist.threads policy told of every step (it may change torch's thread
    count). benchmarks/bench_mnist.py times this function."""
    model.train()
    if threads is not None:
        threads.begin()
    device = data.train_labels.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    lr = optimizer.param_groups[0]["lr"]
    batches = train_batches(data.train_images, data.train_labels, batch_size, generator, augment)
    for step, (images, labels) in enumerate(batches):
        logits = model(images)
        loss = F.cross_entropy(logits, labels)  # logits in, mean over the batch out
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        loss_sum += loss.detach() * len(labels)
        correct += (logits.argmax(1) == labels).sum()
        seen += len(labels)
        if threads is not None:
            threads.after_step(len(labels))
        if bar is None:
            continue
        bar.update(len(labels))
        if step % 25 == 0:  # reading values syncs an accelerator: not every step
            bar.set_postfix(loss=f"{loss_sum.item() / seen:.4f}", acc=f"{100 * correct.item() / seen:.2f}%")
    return loss_sum.item() / seen, 100 * correct.item() / seen, lr


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> tuple[float, float, torch.Tensor]:
    """(mean loss per sample, accuracy %, predicted digit per image) on uint8 images, in eval
    mode."""
    model.eval()
    loss_sum, correct, predictions = 0.0, 0, []
    for batch, target in eval_batches(images, labels):
        logits = model(batch)
        loss_sum += F.cross_entropy(logits, target, reduction="sum").item()
        predicted = logits.argmax(1)
        correct += (predicted == target).sum().item()
        predictions.append(predicted)
    return loss_sum / len(labels), 100 * correct / len(labels), torch.cat(predictions)


def evaluation_record(
    epoch: int, images: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor
) -> dict:
    """evaluation.json: the confusion matrix and the first misclassified test digits."""
    labels, predictions = labels.cpu(), predictions.cpu()
    confusion = torch.bincount(labels * 10 + predictions, minlength=100).reshape(10, 10)
    wrong = (predictions != labels).nonzero().flatten()[:GALLERY_SIZE].tolist()
    return {
        "epoch": epoch,
        "confusion": confusion.tolist(),
        "misclassified": [
            {
                "index": i,
                "true": int(labels[i]),
                "predicted": int(predictions[i]),
                "pixels": base64.b64encode(images[i].cpu().numpy().tobytes()).decode("ascii"),
            }
            for i in wrong
        ],
    }


def machine_info(device: torch.device) -> dict:
    """Where a run ran, as recorded in metrics.json."""
    return {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
    }


def _versions() -> dict:
    import torchvision

    try:
        from importlib.metadata import PackageNotFoundError, version

        sheetgen = version("sheetgen")
    except PackageNotFoundError:  # running from a checkout that is not installed
        sheetgen = "not installed"
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "sheetgen": sheetgen,
    }


def _write_metrics(run_dir: Path, rows: list[dict], header: dict) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(run_dir / METRICS_CSV, text.getvalue())
    write_text(run_dir / METRICS_JSON, json.dumps({**header, "epochs": rows}, indent=2) + "\n")


def _thread_history(checkpoint: dict | None, finished: int) -> list[dict]:
    """The finished epochs' thread records from a checkpoint, when it holds sound ones. They
    only inform, so odd ones (an older version, an edited file) are dropped, not an error."""
    history = checkpoint.get("threads") if checkpoint is not None else None
    if (
        isinstance(history, list)
        and len(history) == finished
        and all(
            isinstance(entry, dict) and entry.get("epoch") == epoch
            for epoch, entry in enumerate(history, start=1)
        )
    ):
        return list(history)
    return []


def train(
    config: TrainConfig,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    *,
    explicit: Collection[str] | None = None,
    on_start: StartCallback | None = None,
) -> RunResult:
    """Train (or resume) a run as config says, writing the run dir after every epoch.

    Whether and what to resume is decided here only. The CPU thread count is config.threads,
    or with 0 chosen while training (mnist/threads.py); it is recorded per epoch in
    metrics.json and put back as it was when train returns.

    Args:
        config: the settings; config.resume continues config.out (or the latest run).
        on_epoch: called after every epoch's files are written, with (run_dir, rows so far).
        progress: show a tqdm bar per epoch (on stderr).
        explicit: with config.resume, the names of the settings the caller chose (the CLI's
            options given on the command line); the run's own settings stand for the rest.
            None: all of config's. A chosen setting that the run cannot change (any but
            config.RESUMABLE_CHANGES) must equal the run's.
        on_start: called once the run is decided, with its settings (out: the run dir; a
            resumed run's own settings), before MNIST is loaded.

    Returns:
        The run dir, the settings and every epoch's metrics.

    Raises:
        MnistError: a problem the user can fix (bad device, missing data, resume conflicts).
    """
    threads_before = torch.get_num_threads()
    try:
        with private_compiler_cache():
            return _train(config, explicit, on_start, on_epoch, progress)
    finally:
        torch.set_num_threads(threads_before)


def _train(
    config: TrainConfig,
    explicit: Collection[str] | None,
    on_start: StartCallback | None,
    on_epoch: EpochCallback | None,
    progress: bool,
) -> RunResult:
    from tqdm import tqdm

    row_clock = time.perf_counter()  # see the module docstring: rows share one running clock
    config, checkpoint = _decide_run(config, explicit)
    run_dir = config.out
    check_writable_dir(run_dir)  # before minutes go into loading the data and training
    device = resolve_device(config.device)
    if on_start is not None:
        on_start(config)
    if device.type == "cuda":  # same seed and device, same metrics: no autotuned kernels
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    data = load_mnist(config.data_dir, device, config.download)

    torch.manual_seed(config.seed)  # the initial weights
    model = DigitNet(config.dropout).to(device)
    optimizer, scheduler = optimizer_and_schedule(model, config, len(data.train_labels))
    rows: list[dict] = []
    if checkpoint is not None:
        rows = restore(
            checkpoint, run_dir / CHECKPOINT, config, model, optimizer, scheduler, len(data.train_labels)
        )
    thread_epochs = _thread_history(checkpoint, len(rows))

    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # checked before the data was loaded, but it may have changed since
        raise MnistError(f"cannot write run dir {run_dir}: {error.strerror or error}") from None
    parameters = count_parameters(model)
    write_text(run_dir / SUMMARY_JSON, json.dumps(summary_dict(model), indent=2) + "\n")
    header = {
        "settings": config.to_dict(),
        "parameters": parameters,
        "versions": _versions(),
        "machine": machine_info(device),
    }
    threads = thread_policy(config.threads, device)  # after machine_info: it records torch's default

    for epoch in range(len(rows) + 1, config.epochs + 1):
        generator = _epoch_generators(config.seed, epoch, device)
        with tqdm(
            total=len(data.train_labels),
            desc=f"epoch {epoch}/{config.epochs}",
            unit="img",
            leave=False,
            disable=not progress,
            dynamic_ncols=True,
        ) as bar:
            train_loss, train_accuracy, lr = train_epoch(
                model,
                optimizer,
                scheduler,
                data,
                augmentation(config, epoch),
                config.batch_size,
                generator,
                bar,
                threads,
            )
        thread_epochs.append({"epoch": epoch, **threads.epoch_record()})
        test_loss, test_accuracy, predictions = evaluate(model, data.test_images, data.test_labels)
        now = time.perf_counter()
        seconds, row_clock = now - row_clock, now
        rows.append(
            {
                "epoch": epoch,
                "train_loss": round(train_loss, 6),
                "train_accuracy": round(train_accuracy, 4),
                "test_loss": round(test_loss, 6),
                "test_accuracy": round(test_accuracy, 4),
                "lr": float(f"{lr:.6g}"),
                "seconds": round(seconds, 3),
            }
        )
        # The checkpoint goes first: a kill between files costs at most a rewrite on resume.
        state = {
            "format": CHECKPOINT_FORMAT,
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "metrics": rows,
            "threads": thread_epochs,
        }
        write_serialised(run_dir / CHECKPOINT, functools.partial(torch.save, state))
        export_model(model, run_dir / MODEL_FILE)
        write_text(
            run_dir / INFERENCE_JSON,
            json.dumps(inference_dict(model, data.test_images, data.test_labels)) + "\n",
        )
        header["threads"] = {"mode": threads.mode, "epochs": thread_epochs}
        _write_metrics(run_dir, rows, header)
        write_text(
            run_dir / EVALUATION_JSON,
            json.dumps(evaluation_record(epoch, data.test_images, data.test_labels, predictions)) + "\n",
        )
        if on_epoch is not None:
            on_epoch(run_dir, list(rows))
    return RunResult(run_dir=run_dir, config=config, metrics=rows, parameters=parameters)
