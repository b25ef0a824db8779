"""The command line: a thin layer that parses, calls the library and reports.

sheetgen build                      # output/backprop.xlsx, every default learning rate
sheetgen build --lr 0.8 --lr 2 --iterations 200 --output my.xlsx
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import click

from sheetgen import __version__
from sheetgen.api import DEFAULT_OUTPUT

# Subcommands that live in other modules, imported only when used: `sheetgen build` must stay
# fast and must never import torch.
LAZY_COMMANDS = {"mnist": ("mnist.cli", "cli")}


class LazyGroup(click.Group):
    """A click group whose heavy subcommands are imported on first use."""

    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx, name):
        if name in LAZY_COMMANDS:
            module_name, attribute = LAZY_COMMANDS[name]
            # the mnist commands import torch only when they run, and say then if it is missing
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="sheetgen")
def main():
    """Workbooks that show a small neural network learning, one live formula per cell."""


@main.command()
@click.option(
    "--template",
    "template",
    metavar="NAME_OR_FILE",
    help="Network definition: a template that comes with sheetgen by name (seed, xor, mazur), "
    "or a TOML file's path. Default: seed, the classic exercise.",
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
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Workbook to write; missing folders are created.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace the workbook even if it holds a training run's MNIST sheets (they are dropped).",
)
def build(template, learning_rates, iterations, output, force):
    """Build the backprop workbook: live formulas, cached values and native charts.

    An existing workbook is replaced only by a complete new one; one that holds a training
    run's MNIST sheets (sheetgen export) is left alone unless --force is given.

    Example: sheetgen build --lr 0.8 --output output/lr08.xlsx
    """
    from sheetgen.api import build_workbook
    from sheetgen.files import OutputError
    from sheetgen.workbook.engine import NumericalError
    from sheetgen.workbook.spec import SpecError, format_rate, validate_iterations, validate_learning_rate

    try:
        # the options' text checked here, so that a message can quote what was typed
        rates = [validate_learning_rate(_number(v), f"--lr {v}") for v in learning_rates]
        if len(set(rates)) != len(rates):
            raise SpecError("--lr: a learning rate is given twice")
        count = (
            None
            if iterations is None
            else validate_iterations(_whole(iterations), f"--iterations {iterations}")
        )
        report = build_workbook(
            output, template=template, learning_rates=rates or None, iterations=count, force=force
        )
    except (SpecError, NumericalError, OutputError) as exc:
        raise click.ClickException(str(exc)) from None
    spec = report.spec
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
    """The value of --lr as typed: a float, or the text itself so the error can quote it (also
    for 1_0 or ٣, which float() would read as 10 and 3)."""
    from sheetgen.bounded import plain_float

    number = plain_float(text)
    return text if number is None else number


def _whole(text: str):
    from sheetgen.bounded import plain_int

    number = plain_int(text)
    return text if number is None else number


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
    from sheetgen.api import export_run
    from sheetgen.files import OutputError
    from sheetgen.record import RecordError
    from sheetgen.runs.training import RunError

    try:
        done = export_run(run_dir, workbook)
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

    def __init__(self, message: str):
        super().__init__(_printable(message))


# Control characters (a newline that would split a file's one line, an escape sequence that
# would drive the terminal) and the undecodable bytes of a file name (surrogates, as
# os.fsdecode gives them): text from files and file names is shown with these escaped.
_UNPRINTABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":
        return f"\\x{ord(char) - 0xDC00:02x}"  # the byte the file name holds
    return char.encode("unicode_escape", "backslashreplace").decode("ascii")


def _printable(text: str) -> str:
    """One line of text as a terminal can show it safely (tabs kept)."""
    return _UNPRINTABLE.sub(_escape, text)


def _printable_lines(text: str) -> str:
    return "\n".join(_printable(line) for line in text.split("\n"))


def _json(data, indent: int | None = None) -> str:
    """JSON that is valid UTF-8 whatever a file name holds: a byte that is not UTF-8 becomes
    its surrogate escape (\\udcXX), which JSON readers take back as Python gave it."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


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
    from sheetgen.analyse.verify import format_report
    from sheetgen.api import verify_workbook

    try:
        report = verify_workbook(workbook)
    except (WorkbookError, NoSpecError, RecalcError) as exc:
        raise _Unusable(str(exc)) from None
    click.echo(format_report(report))
    sys.exit(0 if report.ok else 1)


@main.command()
@click.argument(
    "workbooks",
    nargs=-1,
    required=True,
    metavar="FILE_OR_FOLDER...",
    # one that cannot be read is reported on its own line, the others still checked
    type=click.Path(path_type=Path, readable=False),
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the findings as JSON (also for an error): one object for one file, "
    "a list of objects for several.",
)
@click.option(
    "--annotate",
    "annotate",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[OUT]",
    help="Write a copy of each workbook with the findings marked on it: the cell where a mistake "
    "starts filled red with a comment, the cells that follow from it light red, and a first sheet "
    "'check' listing the findings with links. For one file, OUT is the copy (default "
    "NAME.checked.xlsx beside it); for folders or several files, the folder the copies go in "
    "(needed). The original is never replaced; a .xls or .ods file is converted to .xlsx with "
    "LibreOffice and the copy is made from the conversion.",
)
@click.option(
    "--report",
    "report_path",
    type=click.Path(path_type=Path),
    metavar="CLASS.xlsx",
    help="Also write a workbook for the teacher: one row per submission (verdict, mistakes, a "
    "link to its annotated copy), and each named mistake counted across the class with a bar chart.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1, max=256),
    metavar="N",
    default=None,
    help="Processes that check a class's files side by side. Default: one per usable core.",
)
def check(workbooks, as_json, annotate, report_path, jobs):
    """Check hand-made backprop workbooks, cell by cell, by what each cell computes.

    A training table is found by its weight updates (cells computing w − η·∂E/∂w, a step per
    row, per column, or one step laid out down a column or across a row; typed numbers whose
    columns step that way); η is what the updates multiply the gradient by, the network is
    read from the cells the weights feed (Σ w·x, with or without an activation or a fixed
    bias), and every other numeric column is matched to a quantity by its values and by the
    cells its formula reads. Labels only name what was found. Every step is recomputed with
    sheetgen's engine, and each cell from the sheet's own values of what it is made of: a
    column is WRONG where it disagrees with its own inputs (the cell, its formula, what it
    should be and, where check recognises it, the mistake), and the columns it spreads to
    "follow from" it. A column that matches nothing is listed as not recognised; if the
    updates depend on it, the table is not right. Numbers stored with few digits (typed, or
    Google Sheets' ten) are judged at their rounding. A file without cached values, or one
    that cannot be read directly, goes through LibreOffice first.

    Give one file for the full report, or several files or folders (a class's submissions)
    for one line per file and a summary.

    Exit status: 0 all right; 1 something is wrong, or a column could not be checked; 2 no
    table recognised, or the file is missing or unreadable, or its annotated copy or the class
    report cannot be written (with several files: 2 when the class report cannot be written,
    else only when none is wrong and some file could not be checked at all or its copy not
    written).

    Example: sheetgen check my_backprop.xlsx --annotate; sheetgen check submissions/
    --annotate checked/ --report class.xlsx
    """
    from sheetgen.analyse.check import (
        WORKBOOK_SUFFIXES,
        CheckError,
        NoTableError,
        Outcome,
        format_line,
        format_report,
        format_summary,
        internal_error,
    )
    from sheetgen.analyse.feedback import AnnotateError
    from sheetgen.analyse.reading import WorkbookError
    from sheetgen.api import check_workbook
    from sheetgen.files import OutputError

    single = len(workbooks) == 1 and not workbooks[0].is_dir()
    try:
        out = _check_outputs(workbooks, single, annotate, report_path)
    except (AnnotateError, OutputError) as exc:
        raise _Unusable(str(exc)) from None
    from sheetgen.analyse.classroom import find_submissions, unreadable_file

    # what this command writes is never read back as a submission
    origins, unreadable = find_submissions(workbooks, [Path(p) for p in (annotate, report_path) if p])
    paths = [path for path, _ in origins]
    if single:
        message = None
        try:
            if reason := unreadable_file(paths[0]):
                raise WorkbookError(f"{paths[0]} cannot be read: {reason}")
            report = check_workbook(paths[0])
        except (WorkbookError, NoTableError, CheckError) as exc:
            message = str(exc)
            if isinstance(exc, NoTableError) and (verify := _built_by_sheetgen(paths[0])):
                message = f"{verify}; check, which reads hand-made workbooks, says: {message}"
        except Exception as exc:  # noqa: BLE001 - a fault of check's own: one line, no traceback
            message = internal_error(exc)
        if message is not None:
            if as_json:
                click.echo(_json({"file": str(paths[0]), "ok": False, "error": message}, indent=2))
                sys.exit(2)
            raise _Unusable(message) from None
        copies, failed = {}, {}
        if annotate is not None:
            copies, failed = _annotate([Outcome(paths[0], report)], {paths[0]: out})
        problem = _class_report([Outcome(paths[0], report)], report_path, copies)
        if as_json:
            data = _with_copy(report.to_dict(), paths[0], copies, failed)
            click.echo(_json(data, indent=2))
        else:
            click.echo(_printable_lines(format_report(report)))
        _say_written(copies, report_path if problem is None else None, as_json)
        for message in [*failed.values(), problem]:
            if message:
                click.echo(f"Error: {message}", err=True)
        sys.exit(2 if failed or problem else 0 if report.ok else 1)
    if not paths and not unreadable:
        message = f"no workbook ({', '.join(WORKBOOK_SUFFIXES)}) in {', '.join(map(str, workbooks))}"
        if as_json:
            click.echo(_json({"ok": False, "error": message}))
            sys.exit(2)
        raise _Unusable(message)
    from sheetgen.analyse.classroom import check_class

    names = None
    if annotate is not None:
        from sheetgen.analyse.feedback import copy_names

        names = copy_names(origins, annotate)
    try:
        if len(paths) > 3 and sys.stderr.isatty():
            with click.progressbar(length=len(paths), label="checking", file=sys.stderr) as bar:
                checked = check_class(paths, names, jobs, progress=lambda _: bar.update(1))
        else:
            checked = check_class(paths, names, jobs)
    except CheckError as exc:
        if as_json:
            click.echo(_json({"ok": False, "error": str(exc)}))
            sys.exit(2)
        raise _Unusable(str(exc)) from None
    outcomes, copies, failed = checked.outcomes + unreadable, checked.copies, checked.failed
    problem = _class_report(outcomes, report_path, copies)
    if as_json:
        data = [_with_copy(o.to_dict(), o.path, copies, failed) for o in outcomes]
        click.echo(_json(data, indent=2))
    else:
        for outcome in outcomes:
            click.echo(_printable(format_line(outcome)))
            if outcome.path in failed:
                click.echo(_printable(f"       no annotated copy: {failed[outcome.path]}"))
        click.echo(format_summary(outcomes))
    _say_written(copies, report_path if problem is None else None, as_json, folder=annotate)
    if problem:
        click.echo(f"Error: {problem}", err=True)
        sys.exit(2)
    statuses = {o.status for o in outcomes}
    sys.exit(1 if "wrong" in statuses else 2 if "error" in statuses or failed else 0)


def _check_outputs(workbooks, single: bool, annotate: str | None, report_path: Path | None) -> Path | None:
    """Refuse what check was asked to write before any work is done; the annotated copy's path
    for a single file.

    Raises:
        AnnotateError, OutputError: with the reason.
    """
    from sheetgen.analyse.feedback import AnnotateError, annotated_name, check_copy_name
    from sheetgen.files import check_replaceable, check_workbook_suffix

    if report_path is not None:
        check_workbook_suffix(report_path)
        check_replaceable(report_path)
    if annotate is None:
        return None
    if single:
        out = annotated_name(workbooks[0]) if annotate == "" else Path(annotate)
        if out.is_dir():
            out = out / annotated_name(workbooks[0]).name
        check_copy_name(workbooks[0], out)
        return out
    if annotate == "":
        raise AnnotateError(
            "--annotate needs the folder the copies go in when several workbooks are checked: --annotate DIR"
        )
    if Path(annotate).exists() and not Path(annotate).is_dir():
        raise AnnotateError(f"--annotate {annotate}: it is a file; give the folder the copies go in")
    return None


def _annotate(outcomes, copies: dict) -> tuple[dict, dict]:
    from sheetgen.analyse.feedback import annotate_outcomes

    return annotate_outcomes(outcomes, copies)


def _class_report(outcomes, path: Path | None, copies: dict) -> str | None:
    """Write the class report (when asked for); why it could not be written, or None."""
    if path is None:
        return None
    from sheetgen.analyse.feedback import write_class_report
    from sheetgen.files import OutputError

    try:
        write_class_report(outcomes, path, copies)
    except OutputError as exc:
        return str(exc)
    return None


def _say_written(copies: dict, report_path: Path | None, as_json: bool, folder: str | None = None) -> None:
    """Name the files written (on stderr under --json, which keeps stdout for the JSON)."""
    if folder is not None:
        noun = "copy" if len(copies) == 1 else "copies"
        click.echo(f"{len(copies)} annotated {noun} in {folder}", err=as_json)
    else:
        for copy in copies.values():
            click.echo(f"annotated copy: {copy}", err=as_json)
    if report_path is not None:
        click.echo(f"class report: {report_path}", err=as_json)


def _with_copy(data: dict, path: Path, copies: dict, failed: dict) -> dict:
    """A file's JSON with its annotated copy, or why it could not be written."""
    if path in copies:
        data["annotated"] = str(copies[path])
    if path in failed:
        data["annotate_error"] = failed[path]
    return data


def _built_by_sheetgen(path: Path) -> str | None:
    """For a workbook that sheetgen built (found by its record sheet) and check cannot read
    (its network is not the exercise's): the words that point to `sheetgen verify`."""
    from sheetgen.record import RecordError, read_record

    try:
        record = read_record(path)
    except RecordError:
        return None
    return (
        f"{path} was built by sheetgen (template {record.spec.name!r}): check it cell by cell "
        f"with sheetgen verify {path}"
    )
