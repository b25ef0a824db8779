"""sheetgen from Python: each command of the command line as a function, with its options.

    >>> import sheetgen
    >>> report = sheetgen.build_workbook("output/lr08.xlsx", learning_rates=[0.8])
    >>> report.final_loss                                       # doctest: +SKIP
    {0.8: 8.528...e-05}

The command line (sheetgen.cli) parses, calls these functions and prints what they return; a
workbook built here is byte for byte the one `sheetgen build` writes. Each function imports
what it needs when it is called, so `import sheetgen` loads neither pandas, matplotlib nor
torch. Errors are exceptions whose message is the one line the command line prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sheetgen.analyse.check import CheckReport
    from sheetgen.analyse.verify import VerifyReport
    from sheetgen.runs.export import RunExport
    from sheetgen.workbook.writer import BuildReport

# Where `sheetgen build` writes and `sheetgen export` reads when no workbook is named.
DEFAULT_OUTPUT = Path("output") / "backprop.xlsx"


def build_workbook(
    output: str | Path = DEFAULT_OUTPUT,
    *,
    template: str | Path | None = None,
    learning_rates: Iterable[float] | float | None = None,
    iterations: int | None = None,
    force: bool = False,
) -> BuildReport:
    """Build the backprop workbook: live formulas, cached values and native charts
    (`sheetgen build`).

    Missing folders of `output` are created. An existing workbook is replaced only by a
    complete new one, and not at all if it holds a training run's MNIST sheets, which a build
    would drop, unless `force` is true.

    Args:
        output: the .xlsx file to write.
        template: a shipped template by name ("seed", "xor", "mazur"), or the path of a TOML
            template; None: the classic exercise, seed.
        learning_rates: one sheet per learning rate; None: the template's.
        iterations: updates per sheet; None: the template's.
        force: replace a workbook even if it holds a run's MNIST sheets.

    Returns:
        A BuildReport: the path, the sheets, the number of formulas, each learning rate's
        final E_total, and the spec the workbook was built from.

    Raises:
        SpecError: the template or an option does not describe a network that fits a sheet.
        NumericalError: a learning rate drives a cell out of a spreadsheet's range.
        OutputError: the workbook cannot be written there, or holds a run's sheets.

    Example:
        >>> sheetgen.build_workbook("output/xor.xlsx", template="xor", iterations=500)
    """
    from sheetgen.files import OutputError, check_replaceable
    from sheetgen.runs.export import run_sheets_in
    from sheetgen.workbook import writer
    from sheetgen.workbook.spec import load_spec

    output = Path(output)
    spec = load_spec(template)
    if isinstance(learning_rates, (int, float, str)):
        learning_rates = [learning_rates]
    if learning_rates is not None or iterations is not None:
        spec = spec.with_training(None if learning_rates is None else list(learning_rates), iterations)
    existing = check_replaceable(output)  # a FIFO, device or link is refused before it is opened
    if existing is not None and not force and (held := run_sheets_in(output)):
        raise OutputError(
            f"{output} holds a training run's sheets ({', '.join(held)}), which a build would "
            "drop; build into another file (-o), or replace it with --force"
        )
    created = _make_folders(output.parent, output)
    try:
        return writer.build_workbook(spec, output)
    except BaseException:
        for folder in reversed(created):  # an empty folder left behind would be a surprise
            try:
                folder.rmdir()
            except OSError:
                break
        raise


def _make_folders(folder: Path, output: Path) -> list[Path]:
    """Create `folder` and its missing parents; return those created, outermost first."""
    from sheetgen.files import OutputError

    missing = []
    for candidate in [folder, *folder.parents]:
        if candidate.exists() or candidate.is_symlink():
            break
        missing.append(candidate)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = exc.strerror or exc
        raise OutputError(f"cannot write {output}: cannot create folder {folder}: {why}") from None
    return missing[::-1]


def verify_workbook(path: str | Path, tolerance: float | None = None) -> VerifyReport:
    """Recalculate a workbook sheetgen built in LibreOffice and compare every computed cell
    with the reference engine (`sheetgen verify`).

    Args:
        path: a workbook `sheetgen build` (or export) wrote, edited or not.
        tolerance: the largest relative error that still agrees; None: 1e-12.

    Returns:
        A VerifyReport: `ok`, and per sheet and column the cells compared, the largest
        relative errors and the first differing cell with its formula.

    Raises:
        WorkbookError: the file is missing, unreadable or beyond the limits on untrusted input.
        NoSpecError: the workbook was not built by sheetgen (check it with check_workbook).
        RecalcError: LibreOffice is not installed or failed.

    Example:
        >>> report = sheetgen.verify_workbook("output/backprop.xlsx")
        >>> report.ok
        True
    """
    from sheetgen.analyse import verify

    if tolerance is None:
        return verify.verify_workbook(path)
    return verify.verify_workbook(path, tolerance)


def check_workbook(path: str | Path) -> CheckReport:
    """Check the training tables of a hand-made backprop workbook, column by column
    (`sheetgen check`); torch recomputes every row.

    Args:
        path: an .xlsx, .xlsm or .ods file (one without cached values goes through
            LibreOffice first).

    Returns:
        A CheckReport: `ok`, and per table each column's verdict, with the first wrong cell,
        its formula, what it should be and, where recognised, the mistake; `to_dict()` gives
        what `sheetgen check --json` prints.

    Raises:
        WorkbookError: the file is missing or unreadable.
        NoTableError: no training table was recognised (the message says which labels are
            looked for).
        CheckError: torch is not installed, or LibreOffice is needed and not installed.

    Example:
        >>> report = sheetgen.check_workbook("my_backprop.xlsx")
        >>> [table.ok for table in report.tables]
        [False]
    """
    from sheetgen.analyse import check

    return check.check_workbook(path)


def read_history(path: str | Path) -> dict:
    """Each learning rate's table as a pandas DataFrame indexed by iteration, one column per
    label, from the values the file caches (no LibreOffice, no Excel).

    Args:
        path: a workbook built by sheetgen, or a hand-made one check_workbook can read.

    Returns:
        {learning rate: DataFrame}, in the order of the sheets.

    Raises:
        WorkbookError: the file is missing or unreadable.
        HistoryError: its formulas have no cached values, or no table is recognised.

    Example:
        >>> tables = sheetgen.read_history("output/backprop.xlsx")
        >>> tables[0.8]["E_total"].iloc[-1]                     # doctest: +SKIP
        8.528...e-05
    """
    from sheetgen.analyse import history

    return history.read_history(path)


def export_run(run_dir: str | Path, workbook: str | Path = DEFAULT_OUTPUT) -> RunExport:
    """Put an MNIST run's metrics, model, confusion matrix and misclassified digits (and, from
    a run dir with inference.json, the trained network as live formulas) into a workbook,
    keeping every backprop sheet; the plots are also written as PNG files in `run_dir`
    (`sheetgen export`).

    The workbook is rendered again whole and replaced atomically; one that does not exist is
    built from the default template, and one edited by hand since sheetgen wrote it is left
    alone.

    Args:
        run_dir: the folder `sheetgen mnist train` wrote.
        workbook: the sheetgen workbook to add the sheets to.

    Returns:
        A RunExport: the run's record, the PNG files written and the workbook's BuildReport.

    Raises:
        RunError: the run dir cannot be read.
        RecordError: the workbook is not sheetgen's, or was edited since it was written.
        OutputError: a plot or the workbook cannot be written.

    Example:
        >>> done = sheetgen.export_run("output/runs/seed-1", "output/backprop.xlsx")
        >>> done.report.path
        PosixPath('output/backprop.xlsx')
    """
    from sheetgen.runs import export

    return export.export_run(run_dir, export.WorkbookExporter(workbook))
