"""``sheetgen mnist``: a thin click layer over mnist.train; it parses, calls and reports.

Mounted in the main CLI as ``sheetgen mnist`` and runnable alone as ``python -m mnist``.
Importing it imports torch (the model table needs it) but does no other work.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

from mnist.config import DEVICES, TORCH_MODULES, MnistError, TrainConfig, torch_missing
from sheetgen.files import OutputError
from sheetgen.options import PlainNumber

# "1_0" or "٣" are not read as 10 or 3 (sheetgen/options.py)
WHOLE, NUMBER = PlainNumber(int), PlainNumber(float)


def needs_torch(command):
    """Turn a command's failure to import torch (or torchvision, tqdm) into one line saying
    how to install it, instead of a traceback."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ModuleNotFoundError as exc:
            module = (exc.name or "").split(".")[0]
            if module not in TORCH_MODULES:
                raise
            path = click.get_current_context().command_path
            raise click.ClickException(torch_missing(path, module)) from None

    return run


@click.group(name="mnist")
def cli() -> None:
    """Train and inspect the tiny MNIST digit classifier."""


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding MNIST/raw/ (default: the user cache, e.g. ~/.cache/sheetgen/mnist).",
)
@click.option("--epochs", type=WHOLE, default=TrainConfig.epochs, show_default=True)
@click.option("--batch-size", type=WHOLE, default=TrainConfig.batch_size, show_default=True)
@click.option(
    "--lr",
    type=NUMBER,
    default=TrainConfig.lr,
    show_default=True,
    help="Peak learning rate of the OneCycle schedule.",
)
@click.option("--seed", type=WHOLE, default=TrainConfig.seed, show_default=True)
@click.option("--device", default=TrainConfig.device, show_default=True, help=f"One of {', '.join(DEVICES)}.")
@click.option(
    "--out",
    "out",
    # not file_okay=False: train() refuses a file, or a folder it cannot write, in one line
    type=click.Path(path_type=Path),
    default=None,
    metavar="RUN_DIR",
    help="Run directory (default: output/runs/<time>-seed<seed>).",
)
@click.option(
    "--resume", is_flag=True, help="Continue RUN_DIR (default: the latest run) from its checkpoint."
)
@click.option(
    "--download/--no-download", default=True, show_default=True, help="Fetch MNIST when it is missing."
)
@click.option(
    "--threads",
    type=WHOLE,
    default=TrainConfig.threads,
    show_default=True,
    metavar="N",
    help="CPU threads to train with (reproducible); 0: the fastest count, measured "
    "while training (fewer help when other work shares the CPU).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--workbook",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Add (or refresh) the MNIST sheets of this sheetgen workbook after every "
    "epoch; built from the default template if it does not exist.",
)
@click.pass_context
@needs_torch
def train(ctx: click.Context, quiet: bool, workbook: Path | None, **options) -> None:
    """Train the classifier, writing metrics, summary, model.pt2 and a checkpoint to RUN_DIR.

    With --resume, the run's own settings are used; options given explicitly must match them.

    Example: sheetgen mnist train --data-dir ~/data --epochs 15 --workbook output/backprop.xlsx
    """
    from mnist.train import train as run_training

    # with --resume, train() takes the run's own settings for the options not given here
    explicit = frozenset(
        name for name in options if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT
    )
    try:
        config = TrainConfig(**options)
    except MnistError as error:
        raise click.ClickException(str(error)) from None

    export = None
    if workbook is not None:
        from sheetgen.record import RecordError
        from sheetgen.runs.export import TrainingExport

        export = TrainingExport(workbook, warn=lambda message: click.echo(message, err=True))
        try:
            export.start()  # before any training time is spent on it
        except (RecordError, OutputError) as error:
            raise click.ClickException(str(error)) from None

    decided: list[TrainConfig] = []  # the run's settings, once train() has decided them

    def report(run_dir: Path, rows: list[dict]) -> None:
        row = rows[-1]
        click.echo(
            f"epoch {row['epoch']:>2}/{decided[-1].epochs}  "
            f"train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.2f}%  "
            f"test loss {row['test_loss']:.4f} acc {row['test_accuracy']:.2f}%  "
            f"lr {row['lr']:.4g}  {row['seconds']:.1f}s"
        )
        if export is not None:
            export.after_epoch(run_dir)

    try:
        result = run_training(
            config, on_epoch=report, progress=not quiet, explicit=explicit, on_start=decided.append
        )
        where = export.finish(result.run_dir) if export is not None else None
    except (MnistError, OutputError) as error:
        raise click.ClickException(str(error)) from None
    except KeyboardInterrupt:
        run_dir = decided[-1].out if decided else config.out
        if run_dir is None:  # stopped before train() chose the run dir: nothing to continue
            raise
        raise click.ClickException(
            f"interrupted; the finished epochs are in {run_dir}: continue with --resume --out {run_dir}"
        ) from None
    epochs = len(result.metrics)
    click.echo(
        f"done: {result.run_dir} after {epochs} epoch{'' if epochs == 1 else 's'}, "
        "test accuracy "
        f"{result.final_test_accuracy:.2f}%, {result.parameters:,} parameters"
    )
    if where is not None:
        click.echo(where)


@cli.command()
@needs_torch
def summary() -> None:
    """Print the model's layers with output shape, parameters and receptive field.

    Example: sheetgen mnist summary
    """
    from mnist.model import DigitNet, format_summary

    click.echo(format_summary(DigitNet(TrainConfig.dropout)))
