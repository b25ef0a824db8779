"""The command line: a thin layer that parses, calls the library and reports.

sheetgen build                      # output/backprop.xlsx, every default learning rate
sheetgen build --lr 0.8 --lr 2 --iterations 200 --output my.xlsx
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from sheetgen import __version__

DEFAULT_OUTPUT = Path("output") / "backprop.xlsx"

# Subcommands that live in other modules, imported only when used: `sheetgen build` must stay
# fast and must never import torch.
LAZY_COMMANDS = {
    "mnist": (
        "mnist.cli",
        "cli",
        "sheetgen mnist needs torch and torchvision: pip install 'sheetgen[mnist]'",
    ),
}


class LazyGroup(click.Group):
    """A click group whose heavy subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            module_name, attribute, missing = LAZY_COMMANDS[name]
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.split(".")[0] in ("torch", "torchvision", "tqdm"):
                    raise click.ClickException(missing) from None
                raise
            return getattr(module, attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="sheetgen")
def main():
    """Workbooks that show a small neural network learning, one live formula per cell."""


@main.command()
@click.option(
    "--template",
    "template",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Network definition (TOML). Default: templates/seed.toml, the classic exercise.",
)
@click.option(
    "--lr",
    "learning_rates",
    multiple=True,
    metavar="RATE",
    help="Learning rate; repeat for several sheets. Default: the template's (0.1 0.2 0.5 0.8 1 2).",
)
@click.option("--iterations", metavar="N", help="Rows per sheet. Default: the template's (100).")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path),
    default=None,
    help=f"Workbook to write. Default: {DEFAULT_OUTPUT}.",
)
def build(template, learning_rates, iterations, output):
    """Build the backprop workbook: live formulas, cached values and native charts.

    An existing workbook is replaced only by a complete new one.

    Example: sheetgen build --lr 0.8 --output output/lr08.xlsx
    """
    from sheetgen.files import OutputError
    from sheetgen.workbook.engine import NumericalError
    from sheetgen.workbook.spec import SpecError, load_spec, validate_iterations, validate_learning_rate
    from sheetgen.workbook.writer import build_workbook

    try:
        spec = load_spec(template)
        rates = [validate_learning_rate(_number(v), f"--lr {v}") for v in learning_rates]
        if len(set(rates)) != len(rates):
            raise SpecError("--lr: a learning rate is given twice")
        count = (
            None
            if iterations is None
            else validate_iterations(_whole(iterations), f"--iterations {iterations}")
        )
        spec = spec.with_training(rates or None, count)
        if output is None:
            output = DEFAULT_OUTPUT
            output.parent.mkdir(parents=True, exist_ok=True)
        report = build_workbook(spec, output)
    except (SpecError, NumericalError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    from sheetgen.workbook.spec import format_rate

    finals = ", ".join(f"η={format_rate(lr)}: {loss:.4g}" for lr, loss in report.final_loss.items())
    click.echo(
        f"wrote {report.path}: {_count(len(spec.learning_rates), 'learning rate')} × "
        f"{_count(spec.iterations, 'iteration')}, {report.formulas:,} formulas; "
        f"final E_total {finals}"
    )


def _count(count: int, noun: str) -> str:
    """'1 epoch', '2 epochs'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _number(text: str):
    """The value of --lr as typed: a float, or the text itself so the error can quote it."""
    try:
        return float(text)
    except ValueError:
        return text


def _whole(text: str):
    try:
        return int(text)
    except ValueError:
        return text


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--workbook",
    "-w",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Workbook to add the MNIST sheets to; built from the default template if it does not exist.",
)
def export(run_dir, workbook):
    """Put a finished (or running) MNIST run's metrics, model, confusion matrix and misclassified
    digits into the workbook, keeping every backprop sheet, formula and chart; from a run dir
    with inference.json, also the trained network as live formulas (MNIST live, MNIST weights,
    MNIST digits).

    The workbook is re-rendered whole and replaced atomically; one edited by hand since
    sheetgen wrote it is left alone. The plots are also written as PNG files in RUN_DIR.

    Example: sheetgen export output/runs/seed-1 --workbook output/backprop.xlsx
    """
    from sheetgen.files import OutputError
    from sheetgen.record import RecordError
    from sheetgen.runs.export import WorkbookExporter, export_run
    from sheetgen.runs.training import RunError

    try:
        done = export_run(run_dir, WorkbookExporter(workbook))
    except (RunError, RecordError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    record = done.record
    last = record.metrics[-1]
    click.echo(
        f"wrote {done.report.path}: MNIST sheets for run {record.run_name} "
        f"({_count(len(record.metrics), 'epoch')}, final test accuracy "
        f"{last['test_accuracy']:.2f}%); plots in {run_dir}: "
        f"{', '.join(p.name for p in done.pictures)}"
    )
    if record.live is None:
        from sheetgen.runs.live_layout import LIVE_SHEET
        from sheetgen.runs.training import INFERENCE_JSON

        click.echo(
            f"note: {run_dir} has no {INFERENCE_JSON} (a run made before the live sheet "
            f"existed), so the workbook has no '{LIVE_SHEET}' sheet; train again to get it"
        )


class _Unusable(click.ClickException):
    """A file verify or check cannot work on at all (exit 2, as the help says)."""

    exit_code = 2


@main.command()
@click.argument("workbook", type=click.Path(path_type=Path))
def verify(workbook):
    """Recalculate a workbook sheetgen built and compare every computed cell.

    LibreOffice recalculates every formula (forced, whatever the file caches); each cell is
    compared with the reference engine run on the spec recorded in the workbook, with the
    η, inputs, targets and initial weights its input cells hold now; the file's cached values
    are compared with the recalculated ones. An exported run's MNIST live sheet is compared,
    layer by layer, with the NumPy forward pass of the recorded network on the weights and
    image the sheets hold now. Prints, per sheet, each column's cells and
    largest relative error.

    Exit status: 0 all agree (relative error ≤ 1e-12); 1 a cell differs (the first one is
    named, with its formula); 2 the file is missing or unreadable, was not built by sheetgen
    (use `sheetgen check`), or LibreOffice is not installed.

    Example: sheetgen verify output/backprop.xlsx
    """
    from sheetgen.analyse.reading import NoSpecError, WorkbookError
    from sheetgen.analyse.recalc import RecalcError
    from sheetgen.analyse.verify import format_report, verify_workbook

    try:
        report = verify_workbook(workbook)
    except (WorkbookError, NoSpecError, RecalcError) as exc:
        raise _Unusable(str(exc)) from None
    click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)


@main.command()
@click.argument(
    "workbooks", nargs=-1, required=True, metavar="FILE_OR_FOLDER...", type=click.Path(path_type=Path)
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the findings as JSON (also for an error): one object for one file, "
    "a list of objects for several.",
)
def check(workbooks, as_json):
    """Check hand-made backprop workbooks, column by column.

    Each training table is read through its formulas: η is the cell the weight updates
    multiply the gradient by, the inputs and targets are the cells the forward and loss
    formulas read; labels (w1…w8, h1, a_h1 or out_h1, E_total or E_tot, ∂E/∂w1, dE/dw1, dw1,
    E∂w1, δ_o1, …; η =, eta, lr, learning rate, ͷ, n =) find the header row on any sheet and
    the constants of tables of typed numbers. Every row is recomputed with sheetgen's engine, and
    each cell from the sheet's own values of what it is made of: a column is WRONG where it
    disagrees with its own inputs (the cell, its formula, what it should be and, where check
    recognises it, the mistake), and the columns it spreads to "follow from" it. Typed numbers
    are judged at their rounding. A file without cached values, or one openpyxl cannot read,
    goes through LibreOffice first.

    Give one file for the full report, or several files or folders (a class's submissions)
    for one line per file and a summary.

    Exit status: 0 all right; 1 something is wrong, or a column could not be checked; 2 no
    table recognised, or the file is missing or unreadable (with several files: 2 only when
    none is wrong and some file could not be checked at all).

    Example: sheetgen check my_backprop.xlsx --json; sheetgen check submissions/
    """
    from sheetgen.analyse.check import (
        WORKBOOK_SUFFIXES,
        CheckError,
        NoTableError,
        check_many,
        check_workbook,
        format_line,
        format_report,
        format_summary,
        to_json,
        workbook_paths,
    )
    from sheetgen.analyse.reading import WorkbookError

    paths = workbook_paths(workbooks)
    single = len(workbooks) == 1 and not workbooks[0].is_dir()
    if single:
        try:
            report = check_workbook(paths[0])
        except (WorkbookError, NoTableError, CheckError) as exc:
            if as_json:
                click.echo(
                    json.dumps(
                        {"file": str(paths[0]), "ok": False, "error": str(exc)}, ensure_ascii=False, indent=2
                    )
                )
                sys.exit(2)
            raise _Unusable(str(exc)) from None
        click.echo(to_json(report) if as_json else format_report(report))
        sys.exit(0 if report.ok else 1)
    if not paths:
        message = f"no workbook ({', '.join(WORKBOOK_SUFFIXES)}) in {', '.join(map(str, workbooks))}"
        if as_json:
            click.echo(json.dumps({"ok": False, "error": message}, ensure_ascii=False))
            sys.exit(2)
        raise _Unusable(message)
    try:
        if len(paths) > 3 and sys.stderr.isatty():
            with click.progressbar(length=len(paths), label="checking", file=sys.stderr) as bar:
                outcomes = check_many(paths, progress=lambda _: bar.update(1))
        else:
            outcomes = check_many(paths)
    except CheckError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "error": str(exc)}, ensure_ascii=False))
            sys.exit(2)
        raise _Unusable(str(exc)) from None
    if as_json:
        click.echo(json.dumps([o.to_dict() for o in outcomes], ensure_ascii=False, indent=2))
    else:
        for outcome in outcomes:
            click.echo(format_line(outcome))
        click.echo(format_summary(outcomes))
    statuses = {o.status for o in outcomes}
    sys.exit(1 if "wrong" in statuses else 2 if "error" in statuses else 0)
