"""Put a training run's metrics into the backprop workbook without losing anything.

openpyxl's load-and-save would damage XlsxWriter's charts, so the workbook is never edited in
place: it is re-rendered whole with XlsxWriter from the spec it records plus the run's record,
and renamed into place. A workbook that sheetgen did not make, or that was edited since, is
left alone with a message saying so.

    sheetgen export output/runs/seed-1 --workbook output/backprop.xlsx
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import unescape

from sheetgen import __version__
from sheetgen.files import OutputError, check_replaceable, check_workbook_suffix
from sheetgen.record import RecordError, WorkbookRecord, package_parts, read_own_record, untouched
from sheetgen.runs import mnist_sheets
from sheetgen.runs.live_layout import SHEETS as LIVE_SHEETS
from sheetgen.runs.training import RunError, TrainingRecord, read_run
from sheetgen.workbook.spec import NetworkSpec, load_spec
from sheetgen.workbook.writer import BuildReport, ExtraSheets, build_workbook


class EditedWorkbookError(RecordError):
    """The workbook is not sheetgen's, or changed since sheetgen wrote it."""


def run_sheets(record: TrainingRecord) -> ExtraSheets:
    """A run's sheets as build_workbook adds them: the four MNIST sheets and, for a run dir with
    inference.json, the live network's three; the workbook's record keeps the run's JSON."""

    def write(workbook, fmt: dict) -> None:
        mnist_sheets.write_mnist_sheets(workbook, fmt, record)
        if record.live is not None:  # after the others, so their parts keep their names
            from sheetgen.runs.mnist_live import write_live_sheets

            write_live_sheets(workbook, fmt, record.live)

    live = LIVE_SHEETS if record.live is not None else ()
    return ExtraSheets(mnist_sheets.SHEETS + live, write, record.to_json())


# a <sheet name="..."> of xl/workbook.xml, with or without a namespace prefix, either quote
_SHEET_NAME = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?sheet\b[^>]*?\sname=(["'])(.*?)\1""", re.DOTALL)
_MAX_WORKBOOK_PART = 2**20  # sheetgen's is about 2 KB


def run_sheets_in(path: str | Path) -> tuple[str, ...]:
    """The sheets of a training run (run_sheets) that the workbook at `path` holds, found by
    their names in its xl/workbook.xml; () where there is no such file or it is not an .xlsx.

    Only that small part is read (no spreadsheet library), so a build can ask it of the file
    it is about to replace at no cost worth measuring.
    """
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):  # opening a FIFO would wait for a writer
            return ()
        with zipfile.ZipFile(path) as package:
            info = package.getinfo("xl/workbook.xml")
            if info.file_size > _MAX_WORKBOOK_PART:
                return ()
            part = package.read(info)
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, ValueError, EOFError):
        return ()
    names = set()
    for match in _SHEET_NAME.finditer(part):
        name = match.group(2).decode("utf-8", "replace")
        names.add(unescape(name, {"&quot;": '"', "&apos;": "'"}))
    return tuple(name for name in mnist_sheets.SHEETS + LIVE_SHEETS if name in names)


def build_run_workbook(spec: NetworkSpec, output: str | Path, training: TrainingRecord | None) -> BuildReport:
    """build_workbook with a run's sheets (run_sheets), or with none when training is None.

    Raises:
        what build_workbook raises.
    """
    return build_workbook(spec, output, extra=None if training is None else run_sheets(training))


def recorded_training(record: WorkbookRecord, path: str | Path) -> TrainingRecord | None:
    """The run a workbook's record holds, checked as strictly as a run dir; None: no run.

    Raises:
        RecordError: the run's record cannot be read.
    """
    if record.training_json is None:
        return None
    try:
        return TrainingRecord.from_json(record.training_json)
    except (RunError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RecordError(f"{path}: its sheetgen record cannot be read ({exc})") from None


def _digest(path: Path) -> str:
    parts = package_parts(path)
    digest = hashlib.sha256()
    for name in sorted(parts):
        digest.update(name.encode() + b"\0" + hashlib.sha256(parts[name]).digest())
    return digest.hexdigest()


def check_untouched(path: str | Path) -> WorkbookRecord:
    """The record of a workbook that is exactly what sheetgen wrote.

    A sealed workbook is compared with the digests of its parts recorded as it was written;
    an older one with a fresh rendering of its own record.

    Raises:
        RecordError: not a sheetgen workbook.
        EditedWorkbookError: it differs from a fresh rendering of its own record (edited by
            hand, or made by another version of sheetgen).
    """
    path = Path(path)
    record, _ = read_own_record(path)  # as large as its recorded spec implies
    training = recorded_training(record, path)  # a run that cannot be read: not sheetgen's
    if record.seal is not None:
        # the digests sheetgen recorded as it wrote the file: the same verdict on any machine
        if untouched(path, record) is not None:
            raise EditedWorkbookError(
                f"{path} has changed since sheetgen wrote it (edited by hand); it is "
                "left as it is. Give another --workbook for the metrics, or rebuild it with "
                "`sheetgen build`"
            )
        return record
    # a workbook from before seals: render its record again and compare
    with tempfile.TemporaryDirectory(prefix="sheetgen-check-") as temp:
        again = Path(temp) / path.name
        build_run_workbook(record.spec, again, training)
        if package_parts(again) != package_parts(path):
            made_by = "" if record.version == __version__ else f", or made by sheetgen {record.version}"
            raise EditedWorkbookError(
                f"{path} has changed since sheetgen wrote it (edited by hand{made_by}); it is "
                "left as it is. Give another --workbook for the metrics, or rebuild it with "
                "`sheetgen build`"
            )
    return record


class WorkbookExporter:
    """Writes a run's record into one workbook, again and again as epochs finish.

    The first write checks that the workbook is sheetgen's and untouched (a full re-render);
    later ones check that it is still what the previous write left (a digest), so an edit made
    during a long run is not overwritten either. A workbook that does not exist yet is built
    from the default template.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._spec = None
        self._digest: str | None = None

    @property
    def spec(self):
        """The spec the workbook is (or will be) built from."""
        self.prepare()
        return self._spec

    def prepare(self) -> None:
        """Check the workbook now, before any training time is spent.

        Raises:
            RecordError: the workbook is not sheetgen's, or was edited since.
            files.OutputError: its name does not end in .xlsx, or it is not a regular file.
        """
        if self._spec is not None:
            return
        check_workbook_suffix(self.path)  # notes.txt or an .ods is refused before any work
        check_replaceable(self.path)
        if self.path.exists():
            self._spec = check_untouched(self.path).spec
            self._digest = _digest(self.path)
        else:
            self._spec = load_spec()

    def write(self, record: TrainingRecord) -> BuildReport:
        """Re-render the workbook with `record` and rename it into place.

        Raises:
            RecordError, EditedWorkbookError: as prepare(), or the file changed since the last
                write.
            files.OutputError: the workbook cannot be replaced (read-only folder, locked).
        """
        self.prepare()
        if self._digest is not None and self.path.exists() and _digest(self.path) != self._digest:
            raise EditedWorkbookError(f"{self.path} changed while training ran; it is left as it is")
        report = build_run_workbook(self._spec, self.path, record)
        self._digest = _digest(self.path)
        return report


@dataclass(frozen=True)
class RunExport:
    """What export_run wrote."""

    record: TrainingRecord  # the run dir as it was read
    pictures: list[Path]  # the PNG plots written beside the run
    report: BuildReport | None  # the workbook written; None when none was asked for


def export_run(run_dir: str | Path, exporter: WorkbookExporter | None) -> RunExport:
    """Put a run dir as it is now into its PNG plots and, unless exporter is None, the workbook.

    The run dir is read and checked whole, and the workbook checked, before any file is
    written; each caller decides what a failure means (the CLI stops, training goes on).

    Raises:
        training.RunError: the run dir cannot be read.
        RecordError, EditedWorkbookError: the workbook is not sheetgen's, or was edited.
        files.OutputError: a plot or the workbook cannot be written.
    """
    record = read_run(run_dir)
    if exporter is not None:
        exporter.prepare()
    pictures = mnist_sheets.write_pngs(record, run_dir)
    report = exporter.write(record) if exporter is not None else None
    return RunExport(record, pictures, report)


class TrainingExport:
    """Keeps a workbook's MNIST sheets current while a run trains.

    A workbook that cannot be replaced (locked by a spreadsheet program, read-only folder)
    does not stop training: the first failure is reported through `warn`, later epochs try
    again quietly, and finish() writes it at the end or, failing that, beside the run.
    """

    def __init__(self, workbook: str | Path, warn):
        self.path = Path(workbook)
        self._exporter = WorkbookExporter(self.path)
        self._warn = warn
        self._failing = False  # the last write failed; warned once
        self._refused = False  # the workbook changed under us: never write it again
        self._written = False  # the last epoch's record is in the workbook

    def start(self) -> None:
        """Check the workbook before training (raises RecordError or files.OutputError for one
        not to touch)."""
        self._exporter.prepare()

    def after_epoch(self, run_dir: str | Path) -> None:
        """Re-render the workbook and the PNG plots from the run dir as it is now."""
        self._written = False
        try:
            export_run(run_dir, None if self._refused else self._exporter)
        except EditedWorkbookError as exc:
            self._refused = True
            self._warn(
                f"warning: {exc}; training goes on, and the metrics go to a workbook "
                "beside the run at the end"
            )
        except (RunError, OutputError) as exc:
            # the run dir is the trainer's own; if it cannot be read now, the next epoch or
            # finish() tries again, and training goes on as for a locked workbook
            if not self._failing:
                self._warn(
                    f"warning: {exc}; training goes on, and the workbook is written "
                    "again after each epoch and at the end"
                )
            self._failing = True
        else:
            if not self._refused:
                self._failing = False
                self._written = True

    def finish(self, run_dir: str | Path) -> str:
        """Write the workbook a last time; say where the metrics ended up."""
        if self._written:  # after_epoch already rendered the final state
            return f"workbook {self.path} holds the run's MNIST sheets"
        record = read_run(run_dir)
        if not self._refused:
            try:
                self._exporter.write(record)
                return f"workbook {self.path} holds the run's MNIST sheets"
            except (OutputError, EditedWorkbookError):
                pass
        instead = Path(run_dir) / self.path.name
        build_run_workbook(self._exporter.spec, instead, record)
        return f"could not write {self.path}; the workbook with the run's MNIST sheets is {instead}"
