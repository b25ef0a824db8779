"""The workbook's record of how it was built: a very hidden sheet holding the spec and, once a
training run is exported, the run's record, both as JSON.

With the record a workbook can be re-rendered whole, and since sheetgen's output is
deterministic, a workbook can be told apart from one edited by hand since: render its record
again and compare the parts of the two packages.

One reader, record_from_rows, turns the sheet's rows into a WorkbookRecord, whether they come
from openpyxl (read_record, for export) or from the grids verify and history already loaded
(record_from_grids). The run's record is kept here as the JSON text it is: only
sheetgen.runs knows what a training record holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sheetgen import __version__
from sheetgen.bounded import MAX_JSON_DEPTH, json_depth, load_json
from sheetgen.untrusted import BeyondLimits, Limits, WorkbookError, guard_workbook
from sheetgen.workbook.limits import OWN_CEILING, check_build_size, package_limits
from sheetgen.workbook.spec import NetworkSpec, SpecError, spec_from_json

RECORD_SHEET = "sheetgen"  # very hidden
JSON_CHUNK = 30_000  # a cell holds at most 32,767 characters
SPEC_COLUMN, TRAINING_COLUMN = 0, 1
SEAL_COLUMN = 2  # row 0: the digests of the package's parts, as written
# Written first, replaced by seal() once every other part's bytes are known.
SEAL_PLACEHOLDER = "sheetgen-seal-pending"


class RecordError(ValueError):
    """A workbook without a readable sheetgen record; the message says why."""


class NoSpecError(RecordError):
    """The workbook has no readable sheetgen record, found where verify and history read it
    (they point a hand-made workbook at `sheetgen check`)."""


class MissingRecord(NoSpecError):
    """The workbook has no record sheet at all: it was not built by sheetgen."""


# The most text a record sheet may hold: a spec is at most a template's 1 MiB as JSON, and a
# run's record (metrics, model table, confusion matrix, misclassified digits, the live
# network) a few MB. Read past this, a record sheet is refused before it fills memory.
MAX_RECORD_CHARACTERS = 64 * 2**20


@dataclass(frozen=True)
class WorkbookRecord:
    spec: NetworkSpec
    training_json: str | None  # the run's record (sheetgen.runs.training); None: no run
    version: str
    seal: dict | None = None  # what seal() recorded; None in workbooks older than seals


def write_record(workbook, spec: NetworkSpec, training_json: str | None) -> None:
    """Add the very hidden record sheet (last, so every visible sheet comes first).

    Args:
        workbook: the XlsxWriter workbook, every other sheet already added.
        spec: the spec the workbook is built from.
        training_json: the JSON of what the extra sheets show (a run's record), or None.
    """
    ws = workbook.add_worksheet(RECORD_SHEET)
    ws.very_hidden()
    ws.set_paper(9)  # A4, as every sheet, though it is never printed
    ws.write(0, 0, "sheetgen")
    ws.write(0, 1, __version__)
    ws.write_string(0, SEAL_COLUMN, SEAL_PLACEHOLDER)
    columns = [(SPEC_COLUMN, spec.to_json())]
    if training_json is not None:
        columns.append((TRAINING_COLUMN, training_json))
    chunks = {
        col: [text[i : i + JSON_CHUNK] for i in range(0, len(text), JSON_CHUNK)] for col, text in columns
    }
    # constant_memory mode: write row by row
    for row in range(max(len(c) for c in chunks.values())):
        for col, parts in chunks.items():
            if row < len(parts):
                ws.write_string(1 + row, col, parts[row])


def read_record(path: str | Path, limits: Limits | None = None) -> WorkbookRecord:
    """The spec (and training record) a sheetgen workbook was built from, read from its record
    sheet alone.

    Args:
        path: the workbook.
        limits: what sheetgen.untrusted.guard_workbook holds the file to first; None: the
            limits for any workbook.

    Raises:
        RecordError: the file is missing, not a workbook, or not one sheetgen made
            (MissingRecord: it has no record sheet).
    """
    import openpyxl

    path = Path(path)
    if not path.is_file():
        raise RecordError(f"workbook {path} does not exist")
    try:
        guard_workbook(path, limits)
    except WorkbookError as exc:
        raise RecordError(str(exc)) from None
    try:
        book = openpyxl.load_workbook(path, read_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever fails on a file that is not ours
        raise RecordError(f"{path} is not a readable .xlsx workbook ({exc})") from None
    try:
        if RECORD_SHEET not in book.sheetnames:
            raise MissingRecord(f"{path} was not made by sheetgen (it has no '{RECORD_SHEET}' record sheet)")
        rows, characters = [], 0
        for row in book[RECORD_SHEET].iter_rows(max_col=SEAL_COLUMN + 1, values_only=True):
            characters += sum(len(v) for v in row if isinstance(v, str))
            if characters > MAX_RECORD_CHARACTERS:
                raise RecordError(
                    f"{path}: its '{RECORD_SHEET}' sheet holds more than {MAX_RECORD_CHARACTERS:,} "
                    "characters, more than any record sheetgen writes"
                )
            rows.append(row)
    except RecordError:
        raise
    except Exception as exc:  # noqa: BLE001 - the sheet's XML is parsed only as it is read
        raise RecordError(f"{path} is not a readable .xlsx workbook ({exc})") from None
    finally:
        book.close()
    return record_from_rows(rows, path)


def read_own_record(path: str | Path) -> tuple[WorkbookRecord, Limits]:
    """The record of a workbook sheetgen built, and the limits the whole workbook is held to:
    those for any workbook, widened by what its recorded spec's sheets take
    (workbook.limits.package_limits), so that whatever build writes is read back.

    The record is read before the spec is known, under workbook.limits.OWN_CEILING when the
    workbook is larger than any other may be; one without a record, or whose record cannot be
    read, is then refused with the limits for any workbook.

    Raises:
        RecordError: the file is missing, unreadable or beyond the limits, or has no readable
            record (MissingRecord: no record sheet).
    """
    path = Path(path)
    try:
        try:
            survey = guard_workbook(path)
            beyond = None
        except BeyondLimits as refused:  # a large workbook of sheetgen's may be larger
            beyond = refused
            try:
                survey = guard_workbook(path, OWN_CEILING)
            except WorkbookError:
                raise beyond from None
        try:
            record = read_record(path, OWN_CEILING if beyond else None)
        except RecordError:
            if beyond is not None:
                raise beyond from None
            raise
        survey.check(package_limits(record.spec))
    except WorkbookError as exc:
        raise RecordError(str(exc)) from None
    return record, package_limits(record.spec)


def record_from_grids(grids: dict[str, list[tuple]], path: str | Path) -> WorkbookRecord:
    """The record of a workbook already read as grids (analyse.reading.load_grids).

    Raises:
        NoSpecError: the workbook has no record sheet (it was not built by sheetgen), or the
            sheet does not hold a readable record.
    """
    grid = grids.get(RECORD_SHEET)
    if grid is None:
        raise MissingRecord(
            f"{path} was not built by sheetgen (it has no '{RECORD_SHEET}' "
            f"sheet); for a hand-made workbook use: sheetgen check {path}"
        )
    try:
        return record_from_rows(grid, path)
    except RecordError as exc:
        raise NoSpecError(str(exc)) from None


def record_from_rows(rows: list[tuple], path: str | Path) -> WorkbookRecord:
    """The record held by the rows of a workbook's record sheet, as write_record wrote them:
    "sheetgen", the version and the seal in the first row; below it, each JSON text split over
    the cells of its column, read as every text cell of that column joined.

    Raises:
        RecordError: the rows are not a sheetgen record, or its spec or seal cannot be read.
    """

    def at(row: int, col: int):
        return rows[row][col] if row < len(rows) and col < len(rows[row]) else None

    if at(0, 0) != "sheetgen":
        raise RecordError(f"{path}: its '{RECORD_SHEET}' sheet is not a sheetgen record")

    def column(col: int) -> str:
        return "".join(r[col] for r in rows[1:] if len(r) > col and isinstance(r[col], str))

    try:
        spec_json, training_json = column(SPEC_COLUMN), column(TRAINING_COLUMN)
        spec = spec_from_json(spec_json)
        seal_text = at(0, SEAL_COLUMN)
        seal = load_json(seal_text) if isinstance(seal_text, str) and seal_text.startswith("{") else None
        if seal is not None and not (isinstance(seal, dict) and isinstance(seal.get("all"), str)):
            raise ValueError("its seal is not sheetgen's")
        if training_json and (depth := json_depth(training_json)) > MAX_JSON_DEPTH:
            raise ValueError(
                f"its training record nests {depth:,} levels deep; sheetgen reads at most {MAX_JSON_DEPTH}"
            )
    except (SpecError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RecordError(f"{path}: its sheetgen record cannot be read ({exc})") from None
    try:
        check_build_size(spec)  # what build refuses to make, nothing reads back either
    except SpecError as exc:
        raise RecordError(
            f"{path}: its sheetgen record asks for a workbook beyond sheetgen's limits ({exc})"
        ) from None
    if seal is not None:
        seal["record"] = _record_digest(spec_json, training_json or None)
    return WorkbookRecord(spec, training_json or None, str(at(0, 1)), seal)


def _record_digest(spec_json: str, training_json: str | None) -> str:
    """The digest of the record's JSON, which the seal covers instead of the record's part."""
    return _sha256(spec_json.encode() + b"\0" + (training_json or "").encode())


def package_parts(path: str | Path) -> dict[str, bytes]:
    """Every part of an .xlsx package by name, uncompressed (zip timestamps left out)."""
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name) for name in package.namelist()}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _part_digests(package: zipfile.ZipFile, skip: str | None) -> dict[str, str]:
    digests = {}
    for info in package.infolist():
        if info.filename == skip:
            continue
        digest = hashlib.sha256()
        with package.open(info) as stream:
            while chunk := stream.read(2**20):
                digest.update(chunk)
        digests[info.filename] = digest.hexdigest()
    return digests


def _combined(digests: dict[str, str], record: str) -> str:
    text = "".join(f"{name}\0{digests[name]}\n" for name in sorted(digests)) + record
    return _sha256(text.encode())


def _record_part(package: zipfile.ZipFile) -> str | None:
    """The record sheet's part: write_record adds it last, and XlsxWriter numbers the parts
    sheet1.xml, sheet2.xml, … in the order the sheets were added. (Found by position, not by
    content: a description may hold any text.)"""
    numbers = [
        int(match.group(1))
        for name in package.namelist()
        if (match := re.fullmatch(r"xl/worksheets/sheet([0-9]+)\.xml", name))
    ]
    return f"xl/worksheets/sheet{max(numbers)}.xml" if numbers else None


def seal(path: str | Path, spec: NetworkSpec, training_json: str | None) -> None:
    """Record in the workbook a digest of each of its parts as written.

    Whether a workbook is untouched is then decided from the file alone (untouched()), not by
    rendering it again, whose bytes depend on the machine (the diagram PNG on its fonts and
    matplotlib). The record sheet's own part cannot hold its own digest; the record it holds
    is covered by a digest of its JSON. The package is rewritten part by part, streaming.
    """
    path = Path(path)
    marker = SEAL_PLACEHOLDER.encode()
    record = _record_digest(spec.to_json(), training_json)
    with zipfile.ZipFile(path) as package:
        record_part = _record_part(package)
        if record_part is None or marker not in package.read(record_part)[:4096]:
            raise RecordError(f"{path}: the record sheet's seal cell is missing")
        digests = _part_digests(package, record_part)
        # per-part digests name what changed; beyond a cell's 32,767 characters, only the sum
        text = json.dumps({"all": _combined(digests, record), "parts": digests}, separators=(",", ":"))
        if len(text) > 32_000:
            text = json.dumps({"all": _combined(digests, record)}, separators=(",", ":"))
        sealed = path.with_name(path.name + ".seal")
        try:
            with zipfile.ZipFile(sealed, "w") as target:
                for info in package.infolist():
                    with package.open(info) as source, target.open(info, "w") as sink:
                        if info.filename == record_part:
                            sink.write(source.read().replace(marker, text.encode(), 1))
                            continue
                        while chunk := source.read(2**20):
                            sink.write(chunk)
            os.replace(sealed, path)
        finally:
            sealed.unlink(missing_ok=True)


def untouched(path: str | Path, record: WorkbookRecord) -> str | None:
    """None if the workbook's parts are those seal() recorded; else what changed.

    Raises:
        RecordError: the workbook has no seal (made before seals); decide otherwise.
    """
    if record.seal is None:
        raise RecordError(f"{path} has no seal")
    with zipfile.ZipFile(path) as package:
        record_part = _record_part(package)
        digests = _part_digests(package, record_part)
    if _combined(digests, record.seal["record"]) == record.seal["all"]:
        return None
    recorded = record.seal.get("parts")
    if isinstance(recorded, dict):
        changed = sorted(
            set(digests) ^ set(recorded) | {n for n in digests if n in recorded and digests[n] != recorded[n]}
        )
        if changed:
            return ", ".join(changed[:3]) + (" and more" if len(changed) > 3 else "")
    return "its record"
