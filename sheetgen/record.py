"""The workbook's record of how it was built: a very hidden sheet holding the spec and, once a
training run is exported, the run's record, both as JSON.

With the record a workbook can be re-rendered whole, and since sheetgen's output is
deterministic, a workbook can be told apart from one edited by hand since: render its record
again and compare the parts of the two packages.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from sheetgen import __version__
from sheetgen.spec import NetworkSpec, SpecError, spec_from_json
from sheetgen.training import RunError, TrainingRecord

RECORD_SHEET = "sheetgen"   # very hidden
JSON_CHUNK = 30_000         # a cell holds at most 32,767 characters
SPEC_COLUMN, TRAINING_COLUMN = 0, 1


class RecordError(ValueError):
    """A workbook without a readable sheetgen record; the message says why."""


@dataclass(frozen=True)
class WorkbookRecord:
    spec: NetworkSpec
    training: TrainingRecord | None
    version: str


def write_record(workbook, spec: NetworkSpec, training: TrainingRecord | None) -> None:
    """Add the very hidden record sheet (last, so every visible sheet comes first)."""
    ws = workbook.add_worksheet(RECORD_SHEET)
    ws.very_hidden()
    ws.write(0, 0, "sheetgen")
    ws.write(0, 1, __version__)
    columns = [(SPEC_COLUMN, spec.to_json())]
    if training is not None:
        columns.append((TRAINING_COLUMN, training.to_json()))
    chunks = {col: [text[i:i + JSON_CHUNK] for i in range(0, len(text), JSON_CHUNK)]
              for col, text in columns}
    # constant_memory mode: write row by row
    for row in range(max(len(c) for c in chunks.values())):
        for col, parts in chunks.items():
            if row < len(parts):
                ws.write_string(1 + row, col, parts[row])


def read_record(path: str | Path) -> WorkbookRecord:
    """The spec (and training record) a sheetgen workbook was built from.

    Raises:
        RecordError: the file is missing, not a workbook, or not one sheetgen made.
    """
    import openpyxl

    from sheetgen.reading import WorkbookError
    from sheetgen.untrusted import guard_workbook

    path = Path(path)
    if not path.is_file():
        raise RecordError(f"workbook {path} does not exist")
    try:
        guard_workbook(path)
    except WorkbookError as exc:
        raise RecordError(str(exc)) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever fails on a file that is not ours
        raise RecordError(f"{path} is not a readable .xlsx workbook ({exc})") from None
    try:
        if RECORD_SHEET not in book.sheetnames:
            raise RecordError(f"{path} was not made by sheetgen (it has no '{RECORD_SHEET}' "
                              "record sheet)")
        rows = list(book[RECORD_SHEET].iter_rows(values_only=True))
    except RecordError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sheet's XML is parsed only as it is read
        raise RecordError(f"{path} is not a readable .xlsx workbook ({exc})") from None
    finally:
        book.close()
    if not rows or rows[0][0] != "sheetgen":
        raise RecordError(f"{path}: its '{RECORD_SHEET}' sheet is not a sheetgen record")

    def column(col: int) -> str:
        return "".join(r[col] for r in rows[1:] if len(r) > col and isinstance(r[col], str))

    try:
        spec = spec_from_json(column(SPEC_COLUMN))
        training_json = column(TRAINING_COLUMN)
        training = TrainingRecord.from_json(training_json) if training_json else None
    except (SpecError, RunError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RecordError(f"{path}: its sheetgen record cannot be read ({exc})") from None
    return WorkbookRecord(spec, training, str(rows[0][1]))


def package_parts(path: str | Path) -> dict[str, bytes]:
    """Every part of an .xlsx package by name, uncompressed (zip timestamps left out)."""
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}
