"""Bad input, hostile files, full disks and interruptions end in one clear line and a non-zero
exit (or a correct result), with nothing lost, nothing left behind and memory bounded. One test
(or table) per case; every hostile file is made here."""

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from mnist_fixtures import mnist_data_dir, mnist_run  # noqa: F401

from sheetgen.cli import main
from sheetgen.runs.mnist_sheets import MODEL_SHEET
from tests.run_fixtures import write_run_dir

ROOT = Path(__file__).resolve().parents[1]
SEED = (ROOT / "templates" / "seed.toml").read_text()


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def part_texts(path):
    with zipfile.ZipFile(path) as package:
        return {name: package.read(name).decode("utf-8", "replace") for name in package.namelist()}


def template(tmp_path, text, name="t.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# Case 1: outputs that are not regular files, and names that are not .xlsx -----------------


@pytest.mark.parametrize(
    "make, kind",
    [
        (lambda p: os.mkfifo(p), "a device, FIFO or socket"),
        (lambda p: os.symlink(p.parent / "elsewhere.xlsx", p), "a symbolic link"),
    ],
)
def test_case1_only_a_regular_file_is_replaced(tmp_path, make, kind):
    target = tmp_path / "out.xlsx"
    make(target)
    result = run("build", "-o", target)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot write {target}: it is {kind}, not a regular file; "
        "only a regular file is ever replaced\n"
    )
    assert not target.is_file() or target.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx"]


def test_case1_dev_null_is_not_replaced():
    result = run("build", "-o", "/dev/null")
    assert result.exit_code == 1
    assert result.output == (
        "Error: cannot write /dev/null: it is a device, FIFO or socket, not "
        "a regular file; only a regular file is ever replaced\n"
    )
    assert Path("/dev/null").is_char_device()


@pytest.mark.parametrize("name", ["notes.csv", "book.xlsm", "book"])
def test_case1_a_workbook_must_be_named_xlsx(tmp_path, name):
    target = tmp_path / name
    result = run("build", "-o", target)
    assert result.exit_code == 1
    suffix = target.suffix or "nothing"
    assert result.output == (
        f"Error: cannot write {target}: a workbook's name must end in .xlsx, not {suffix!r}\n"
    )
    assert list(tmp_path.iterdir()) == []


# Case 2: text from templates and run dirs is text, never a formula or a link --------------

HOSTILE_TEXTS = [
    '=HYPERLINK("http://evil.example","click")',
    "=cmd|'/c calc'!A1",
    "external:c:/secret.xlsx",
    "http://evil.example/x",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_case2_template_description_is_written_as_text(tmp_path, text):
    path = template(
        tmp_path, re.sub(r'(?m)^description = ".*"$', lambda _: f"description = {json.dumps(text)}", SEED)
    )
    out = tmp_path / "b.xlsx"
    result = run("build", "--template", path, "--lr", "0.5", "--iterations", "3", "-o", out)
    assert result.exit_code == 0, result.output
    written = openpyxl.load_workbook(out)["Network"]["B2"]
    assert (written.value, written.data_type) == (text, "s")
    parts = part_texts(out)
    assert "<f>" not in parts["xl/worksheets/sheet1.xml"]
    assert not any("<hyperlink" in body or "relationships/hyperlink" in body for body in parts.values())


@pytest.mark.parametrize("text", HOSTILE_TEXTS + ['a "quoted" name', "x" * 300])
def test_case2_template_name_in_a_title_formula_stays_text(tmp_path, text):
    """A learning-rate sheet's title is a formula that names η through its cell; the network's
    name goes into it as a string literal, quotes doubled, so it stays text (a long name is
    cut to 100 characters, well within a formula's 8,192)."""
    named = re.sub(r'(?m)^name = ".*"$', lambda _: f"name = {json.dumps(text)}", SEED, count=1)
    path = template(tmp_path, named)
    out = tmp_path / "b.xlsx"
    result = run("build", "--template", path, "--lr", "0.5", "--iterations", "3", "-o", out)
    assert result.exit_code == 0, result.output
    formula = openpyxl.load_workbook(out)["lr 0.5"]["B1"].value
    assert re.sub(r'"(?:[^"]|"")*"', "", formula) == "=&$B$5&"  # nothing outside the literals
    shown = text if len(text) <= 100 else text[:99] + "…"
    cached = openpyxl.load_workbook(out, data_only=True)["lr 0.5"]["B1"].value
    assert cached == f"Backpropagation with η = 0.5: {shown}, 3 updates"


@pytest.mark.slow
def test_case2_run_dir_layer_text_is_written_as_text(tmp_path):
    run_dir = write_run_dir(tmp_path / "run")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["layers"][0]["name"] = HOSTILE_TEXTS[1]
    summary["layers"][1]["description"] = HOSTILE_TEXTS[0]
    summary["layers"][2]["name"] = HOSTILE_TEXTS[2]
    (run_dir / "summary.json").write_text(json.dumps(summary))
    out = tmp_path / "b.xlsx"
    result = run("export", run_dir, "--workbook", out)
    assert result.exit_code == 0, result.output
    model = openpyxl.load_workbook(out)[MODEL_SHEET]
    cells = {(c.value, c.data_type) for row in model.iter_rows() for c in row if c.value}
    assert {(HOSTILE_TEXTS[1], "s"), (HOSTILE_TEXTS[0], "s"), (HOSTILE_TEXTS[2], "s")} <= cells
    parts = part_texts(out)
    formulas = [f.split("</f>")[0] for body in parts.values() for f in body.split("<f>")[1:]]
    assert formulas and not any("cmd|" in f or "HYPERLINK" in f for f in formulas)
    assert not any("<hyperlink" in body or "relationships/hyperlink" in body for body in parts.values())


# Case 3: sizes a spreadsheet (or memory) cannot hold, refused from the spec alone ----------

WIDE = """name = "wide"
description = "3,000 hidden units"
loss = "half_squared_error"
[data]
inputs = [[0, 1]]
targets = [[1]]
[init]
seed = 1
scale = 0.5
[[layers]]
name = "h"
units = 3000
activation = "sigmoid"
weights = "random"
[[layers]]
name = "o"
units = 1
activation = "sigmoid"
weights = "random"
"""


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--iterations", "1048548"],
            "Error: this workbook would hold 207,612,702 formulas (6 learning rates × 1,048,549 rows "
            "× 33 columns); sheetgen builds at most 1,500,000, which `sheetgen verify` recalculates "
            "in about 1 GiB of memory: use fewer iterations, learning rates or units\n",
        ),
        (
            ["--lr", "1", "--iterations", "45454"],
            "Error: this workbook would hold 1,500,015 formulas (1 learning rate × 45,455 rows × 33 "
            "columns); sheetgen builds at most 1,500,000, which `sheetgen verify` recalculates in "
            "about 1 GiB of memory: use fewer iterations, learning rates or units\n",
        ),
        (
            [arg for i in range(300) for arg in ("--lr", str(0.01 * (i + 1)))],
            "Error: 300 learning rates: the Overview chart holds at most 255 series (one per learning "
            "rate); give fewer\n",
        ),
    ],
)
def test_case3_sizes_beyond_a_spreadsheet_are_refused_up_front(tmp_path, args, message):
    out = tmp_path / "b.xlsx"
    started = time.monotonic()
    result = run("build", *args, "-o", out)
    assert result.output == message
    assert result.exit_code == 1
    assert time.monotonic() - started < 10  # refused from the spec, not after the work
    assert list(tmp_path.iterdir()) == []


def test_case3_a_network_wider_than_xfd_is_refused(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(WIDE)
    result = run("build", "--template", path, "-o", tmp_path / "b.xlsx")
    assert result.exit_code == 1
    assert result.output.startswith("Error: this network needs ")
    assert result.output.endswith(
        " columns per sheet, but a sheet has 16,384 (A to XFD); use fewer units or layers\n"
    )
    assert not (tmp_path / "b.xlsx").exists()


# Case 4: nothing but the message -------------------------------------------------------------


def test_case4_no_numpy_warnings_before_the_error(tmp_path):
    text = SEED.replace('activation = "sigmoid"', 'activation = "identity"').replace(
        "inputs = [[0.05, 0.10]]", "inputs = [[5, 10]]"
    )
    path = template(tmp_path, text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sheetgen",
            "build",
            "--template",
            str(path),
            "--lr",
            "50",
            "-o",
            str(tmp_path / "b.xlsx"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: learning rate 50: ")
    assert "Warning" not in done.stderr


# Case 5: no leftovers after Ctrl-C, SIGTERM or SIGHUP ---------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_case5_signals_leave_nothing_behind(tmp_path, signum):
    scratch, out_dir = tmp_path / "tmp", tmp_path / "out"
    scratch.mkdir()
    out_dir.mkdir()
    target = out_dir / "b.xlsx"
    target.write_bytes(b"the previous workbook")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sheetgen",
            "build",
            "--lr",
            "0.5",
            "--iterations",
            "20000",
            "-o",
            str(target),
        ],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a test run started in the background inherits SIGINT ignored, and Python then never
        # turns Ctrl-C into KeyboardInterrupt: give the build the terminal's default, as a user's has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    # wait until XlsxWriter has scratch files (files: its folder alone may be a moment old, not
    # yet known to the code that removes it) and the temporary workbook exists
    while not (any(p.is_file() for p in scratch.rglob("*")) and len(list(out_dir.iterdir())) > 1):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert stderr.strip().splitlines()[-1] == "Aborted!", stderr  # the whole of it, if not
    assert "Traceback" not in stderr
    assert list(scratch.iterdir()) == []
    assert [p.name for p in out_dir.iterdir()] == ["b.xlsx"]
    assert target.read_bytes() == b"the previous workbook"


# Cases 6 and 7: hostile XML and decompression amplification in check and verify -------------

SHEET_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
)
DTD_SHEETS = {
    "xxe": b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&e;</t></is></c></row>'
    b"</sheetData></worksheet>",
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "lol">'
    + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + i]), bytes([97 + i]) * 0 + (b"&" + bytes([97 + i]) + b";") * 10)
        for i in range(9)
    )
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&j;</t></is></c></row>'
    b"</sheetData></worksheet>",
    "quadratic blow-up": b'<?xml version="1.0"?><!DOCTYPE worksheet [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]><worksheet xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>'
    + b"&a;" * 50_000
    + b"</t></is></c></row></sheetData></worksheet>",
}


def hostile_workbook(path, sheet, compresslevel=6, sheetgens=False):
    """A real workbook (openpyxl's; with sheetgens, one sheetgen built, with a record) whose
    first sheet (sheetgen's: its learning-rate sheet) is replaced by `sheet`: bytes, or an
    iterable of byte chunks streamed into the zip."""
    plain = path.with_name("plain-" + path.name)
    if sheetgens:
        assert run("build", "--lr", "0.5", "--iterations", "3", "-o", plain).exit_code == 0
    else:
        openpyxl.Workbook().save(plain)
    replaced = "xl/worksheets/sheet3.xml" if sheetgens else "xl/worksheets/sheet1.xml"
    with (
        zipfile.ZipFile(plain) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as target,
    ):
        for info in source.infolist():
            if info.filename != replaced:
                target.writestr(info, source.read(info.filename))
                continue
            with target.open(info.filename, "w", force_zip64=True) as stream:
                for chunk in [sheet] if isinstance(sheet, bytes) else sheet:
                    stream.write(chunk)
    plain.unlink()
    return path


def peak_of(*command):
    """Exit status, output and peak RSS (MiB) of a command and everything it started."""
    measure = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(done.returncode); print(done.stdout + done.stderr, end=''); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure, sys.executable, "-m", "sheetgen", *map(str, command)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.splitlines()
    return int(lines[0]), "\n".join(lines[1:-1]) + "\n", float(lines[-1])


@pytest.mark.parametrize("command", ["check", "verify"])
@pytest.mark.parametrize("kind", [*DTD_SHEETS, "NUL bytes"])
def test_case6_hostile_xml_is_one_line_and_exit_2(tmp_path, command, kind, monkeypatch):
    sheet = DTD_SHEETS.get(kind, SHEET_HEAD + b"<sheetData>\0</sheetData></worksheet>")
    path = hostile_workbook(tmp_path / "hostile.xlsx", sheet)
    monkeypatch.setattr("sheetgen.analyse.recalc.find_soffice", lambda: pytest.fail("LibreOffice ran"))
    result = run(command, path)
    why = (
        "holds NUL bytes, which XML forbids"
        if kind == "NUL bytes"
        else "declares an XML document type (entities), which no workbook needs"
    )
    assert result.output == (
        f"Error: {path} is not a readable workbook: part xl/worksheets/sheet1.xml {why}\n"
    )
    assert result.exit_code == 2
    assert "root:" not in result.output


@pytest.mark.parametrize("kind", ["xxe", "billion laughs"])
def test_case6_openpyxl_parses_with_defusedxml(tmp_path, kind):
    """Behind the guard, openpyxl itself refuses entities because defusedxml is installed."""
    import defusedxml

    path = hostile_workbook(tmp_path / "hostile.xlsx", DTD_SHEETS[kind])
    with pytest.raises(ValueError) as caught:  # at load, or once the sheet is read
        book = openpyxl.load_workbook(path, read_only=True)
        list(book.worksheets[0].iter_rows(values_only=True))
    error = caught.value
    cause = error if isinstance(error, defusedxml.DefusedXmlException) else error.__cause__
    assert isinstance(cause, defusedxml.DefusedXmlException)


def rows_at_xfd(count=1_048_576, per_chunk=4096):
    yield SHEET_HEAD + b"<sheetData>"
    for start in range(1, count + 1, per_chunk):
        yield b"".join(
            b'<row r="%d"><c r="XFD%d"><v>1</v></c></row>' % (r, r)
            for r in range(start, min(start + per_chunk, count + 1))
        )
    yield b"</sheetData></worksheet>"


def digit_string(size=2**30, chunk=2**22):
    yield SHEET_HEAD + b'<sheetData><row r="1"><c r="A1"><v>'
    for _ in range(size // chunk):
        yield b"1" * chunk
    yield b"</v></c></row></sheetData></worksheet>"


def unreferenced_cells(rows, columns):
    import base64
    import random

    noise = random.Random(11)
    yield SHEET_HEAD + b"<sheetData>"
    for _ in range(rows):
        yield b"<row>" + b"<c/>" * columns + b"</row><!--" + base64.b64encode(noise.randbytes(120)) + b"-->"
    yield b"</sheetData></worksheet>"


AMPLIFIED = {
    # 1,048,576 rows with one cell in column XFD: 43 MB of XML, 17 billion cells to a reader
    "a cell at XFD on every row": (
        lambda: rows_at_xfd(),
        "xl/worksheets/sheet1.xml spans 1,048,576 rows × 16,384 columns (17,179,869,184 "
        "cells); sheetgen reads at most 10,000,000",
    ),
    # a declared used range of the whole sheet, one cell of content
    "a whole-sheet dimension": (
        lambda: (
            SHEET_HEAD + b'<dimension ref="A1:XFD1048576"/><sheetData><row r="1">'
            b'<c r="A1"><v>1</v></c></row></sheetData></worksheet>'
        ),
        "xl/worksheets/sheet1.xml declares a used range of 1,048,576 rows × 16,384 columns "
        "(17,179,869,184 cells); sheetgen reads at most 10,000,000",
    ),
    # a part of 1 GiB (a single digit string) packed into about 1 MB
    "a 1 GiB digit string": (
        lambda: digit_string(),
        f"part xl/worksheets/sheet1.xml unpacks to {2**30 + 206:,} bytes; sheetgen reads at "
        "most 67,108,864 (64 MiB) per part",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", AMPLIFIED)
@pytest.mark.parametrize("command", ["check", "verify"])
def test_case7_amplification_is_refused_under_500_mb(tmp_path, kind, command):
    make, why = AMPLIFIED[kind]
    path = hostile_workbook(tmp_path / "amplified.xlsx", make(), compresslevel=1)
    status, output, peak = peak_of(command, path)
    assert output == f"Error: {path} is not a readable workbook: {why}\n"
    assert status == 2
    print(f"{command} on {kind}: peak RSS {peak:.0f} MiB")  # shown with pytest -s
    assert peak < 500, f"peak RSS {peak:.0f} MiB"


@pytest.mark.slow
def test_case7_verify_refuses_before_libreoffice_sees_the_file(tmp_path, monkeypatch):
    path = hostile_workbook(tmp_path / "amplified.xlsx", digit_string(), compresslevel=1)
    assert path.stat().st_size < 8 * 2**20
    monkeypatch.setattr("sheetgen.analyse.verify.recalculate", lambda *a: pytest.fail("LibreOffice ran"))
    result = run("verify", path)
    assert result.exit_code == 2
    assert "sheetgen reads at most 67,108,864 (64 MiB) per part" in result.output
    assert result.output.count("\n") == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["check", "verify"])
def test_case7_cells_without_references_are_counted_as_they_are_read(tmp_path, monkeypatch, command):
    """Cells without an r attribute escape guard_workbook's scan; load_grids counts them.

    At the real limit (10,000,000) openpyxl takes over a minute to get there, so the limit is
    lowered here; the file packs no better than 100:1, so only the count can refuse it.
    """
    from sheetgen.workbook.limits import package_limits
    from sheetgen.workbook.spec import load_spec

    monkeypatch.setattr("sheetgen.untrusted.MAX_CELLS", 100_000)
    # verify reads nothing but the record of a workbook without one: this one has a record
    path = hostile_workbook(
        tmp_path / "unreferenced.xlsx", unreferenced_cells(60, 2_000), sheetgens=command == "verify"
    )
    monkeypatch.setattr("sheetgen.analyse.verify.recalculate", lambda *a: pytest.fail("LibreOffice ran"))
    # verify: the limit for any workbook, and what the record's learning-rate sheet may hold
    limit = package_limits(load_spec().with_training([0.5], 3)).cells if command == "verify" else 100_000
    result = run(command, path)
    assert result.output == (
        f"Error: {path} is not a readable workbook: its sheets hold more "
        f"than {limit:,} cells; sheetgen reads at most that\n"
    )
    assert result.exit_code == 2


# Case 8: a --workbook that is not a workbook -------------------------------------------------


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("notes.txt", b"my notes", "cannot write {path}: a workbook's name must end in .xlsx, not '.txt'"),
        ("sheet.ods", None, "cannot write {path}: a workbook's name must end in .xlsx, not '.ods'"),
        (
            "notes.xlsx",
            b"my notes",
            "{path} is not a readable workbook: not a zip package (File is not a zip file)",
        ),
    ],
)
def test_case8_export_to_something_not_a_workbook(tmp_path, name, content, message):
    run_dir = write_run_dir(tmp_path / "run")
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name.endswith(".ods"):
        with zipfile.ZipFile(path, "w") as ods:
            ods.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
    before = path.read_bytes()
    result = run("export", run_dir, "--workbook", path)
    assert result.output == "Error: " + message.format(path=path) + "\n"
    assert result.exit_code == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "run"])


def test_case8_mnist_train_to_something_not_a_workbook(tmp_path):
    from mnist.cli import cli

    path = tmp_path / "notes.txt"
    path.write_text("my notes")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--data-dir",
            str(tmp_path / "no-data"),
            "--out",
            str(tmp_path / "run"),
            "--no-download",
            "--quiet",
            "--device",
            "cpu",
            "--workbook",
            str(path),
        ],
    )
    assert result.output == (f"Error: cannot write {path}: a workbook's name must end in .xlsx, not '.txt'\n")
    assert result.exit_code == 1
    assert path.read_text() == "my notes"
    assert not (tmp_path / "run").exists()


# Case 9: hostile run dirs are refused whole, before anything is written ----------------------


def _evaluation(run_dir, change):
    path = run_dir / "evaluation.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


RUN_DAMAGE = [
    (
        "binary metrics.csv",
        lambda d: (d / "metrics.csv").write_bytes(bytes(range(256)) * 40),
        "cannot read {run}/metrics.csv: it is not UTF-8 text",
    ),
    (
        "0_26 in metrics.csv",
        lambda d: (d / "metrics.csv").write_text(
            (d / "metrics.csv").read_text().replace("\n1,", "\n0_1,", 1)
        ),
        "{run}/metrics.csv line 2 holds a value that is not a number",
    ),
    (
        "a 2x2 confusion matrix",
        lambda d: _evaluation(d, lambda e: e.update(confusion=[[1, 2], [3, 4]])),
        "{run}: summary.json or evaluation.json is malformed (the confusion matrix must be "
        "10×10 (true digit × predicted digit))",
    ),
    (
        "a ragged confusion matrix",
        lambda d: _evaluation(d, lambda e: e["confusion"][3].pop()),
        "{run}: summary.json or evaluation.json is malformed (the confusion matrix must be "
        "10×10 (true digit × predicted digit))",
    ),
    (
        "counts of 10^20",
        lambda d: _evaluation(d, lambda e: e["confusion"][0].__setitem__(0, 10**20)),
        "{run}: summary.json or evaluation.json is malformed (a confusion-matrix count must be "
        "a whole number from 0 to 1,000,000,000, not 100000000000000000000)",
    ),
    (
        "a digit 11",
        lambda d: _evaluation(d, lambda e: e["misclassified"][0].__setitem__("true", 11)),
        "{run}: summary.json or evaluation.json is malformed (misclassified digit 0 true digit "
        "must be a whole number from 0 to 9, not 11)",
    ),
    (
        "a layer name that is a list",
        lambda d: (d / "summary.json").write_text(
            (d / "summary.json").read_text().replace('"normalize"', '["x"]')
        ),
        "{run}: summary.json or evaluation.json is malformed (a layer's name must be text of at "
        "most 1,000 characters)",
    ),
]


@pytest.mark.parametrize("kind, damage, message", RUN_DAMAGE, ids=[r[0] for r in RUN_DAMAGE])
def test_case9_hostile_run_dirs_change_nothing(tmp_path, kind, damage, message):
    run_dir = write_run_dir(tmp_path / "run")
    path = tmp_path / "backprop.xlsx"
    assert run("build", "--lr", "0.5", "--iterations", "5", "-o", path).exit_code == 0
    before = path.read_bytes()
    damage(run_dir)
    files = sorted(p.name for p in run_dir.iterdir())
    result = run("export", run_dir, "--workbook", path)
    assert result.output == "Error: " + message.format(run=run_dir) + "\n"
    assert result.exit_code == 1
    assert path.read_bytes() == before
    assert sorted(p.name for p in run_dir.iterdir()) == files  # no plots either


# Case 10: checkpoints that load but are malformed --------------------------------------------


def _checkpoint_damage():
    def config(change):
        return lambda state: change(state["config"])

    def shrink_weight(state):
        name = next(k for k, v in state["model"].items() if v.ndim == 4)
        state["model"][name] = state["model"][name][:1]

    def past_the_schedule(state):
        state["metrics"] = state["metrics"][:1]  # epoch 2 to go, but the schedule is spent

    return [
        (
            "epochs as text",
            config(lambda c: c.update(epochs="2")),
            "holds malformed settings (setting epochs is '2', not a whole number)",
        ),
        (
            "lr as a list",
            config(lambda c: c.update(lr=[0.1])),
            "holds malformed settings (setting lr is '[0.1]', not a number)",
        ),
        ("no model", lambda s: s.pop("model"), "is malformed (its model is missing or not a dict)"),
        ("a weight of the wrong shape", shrink_weight, "does not fit the model (Error(s) in "),
        (
            "optimizer state of another model",
            lambda s: s["optimizer"].update(param_groups=[]),
            "does not fit the model (",
        ),
        (
            "metrics that are not rows",
            lambda s: s.update(metrics=["x", "y"]),
            "does not fit the model (metrics row 1 is not epoch 1's metrics)",
        ),
        (
            "a schedule past its steps",
            past_the_schedule,
            "is malformed (its schedule is at step 8 after 1 epochs of 4 steps)",
        ),
    ]


def changed_checkpoint(mnist_run, tmp_path, change):
    """A copy of the finished tiny run whose checkpoint `change` altered; its path."""
    import shutil

    import torch

    result, _ = mnist_run
    run_dir = tmp_path / "run"
    shutil.copytree(result.run_dir, run_dir)
    checkpoint = run_dir / "checkpoint.pt"
    state = torch.load(checkpoint, weights_only=True)
    change(state)
    torch.save(state, checkpoint)
    return checkpoint


def resume(run_dir, data_dir):
    """`sheetgen mnist train --resume` of run_dir, on the CPU, in this process."""
    from mnist.cli import cli

    return CliRunner().invoke(
        cli,
        ["train", "--out", str(run_dir), "--resume", "--quiet", "--data-dir", str(data_dir)]
        + ["--no-download", "--device", "cpu"],
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, damage, message", _checkpoint_damage(), ids=[d[0] for d in _checkpoint_damage()]
)
def test_case10_malformed_checkpoints_are_one_line(
    mnist_run, mnist_data_dir, tmp_path, kind, damage, message
):
    checkpoint = changed_checkpoint(mnist_run, tmp_path, damage)
    run_dir = checkpoint.parent
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    done = resume(run_dir, mnist_data_dir)
    assert done.exit_code == 1, done.output
    assert done.output.startswith(f"Error: cannot resume: {checkpoint} {message}")
    assert done.output.endswith("; start a new run\n") and done.output.count("\n") == 1
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


# Case 13: smaller things -------------------------------------------------------------------


def test_case13_a_full_disk_on_close_is_one_line(tmp_path, monkeypatch):
    def full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("xlsxwriter.workbook.Workbook._store_workbook", full)
    out = tmp_path / "b.xlsx"
    out.write_bytes(b"previous")
    result = run("build", "--lr", "0.5", "--iterations", "3", "-o", out)
    assert result.output == f"Error: cannot write {out}: No space left on device\n"
    assert result.exit_code == 1
    assert [p.name for p in tmp_path.iterdir()] == ["b.xlsx"] and out.read_bytes() == b"previous"


@pytest.mark.slow
def test_case13_an_unreadable_run_dir_after_an_epoch_does_not_stop_training(tmp_path):
    from sheetgen.runs.export import TrainingExport

    run_dir = write_run_dir(tmp_path / "run")
    warnings = []
    export = TrainingExport(tmp_path / "b.xlsx", warn=warnings.append)
    export.start()
    (run_dir / "metrics.csv").write_bytes(b"\xff\xfe garbage")
    export.after_epoch(run_dir)  # no exception: training goes on
    export.after_epoch(run_dir)
    assert warnings == [
        f"warning: cannot read {run_dir / 'metrics.csv'}: it is not UTF-8 text; "
        "training goes on, and the workbook is written again after each epoch "
        "and at the end"
    ]
    write_run_dir(run_dir)  # readable again: the next epoch writes the workbook
    export.after_epoch(run_dir)
    assert (tmp_path / "b.xlsx").is_file()


def test_case13_replace_keeps_the_mode_fsyncs_first_and_leaves_the_umask(tmp_path, monkeypatch):
    out = tmp_path / "b.xlsx"
    out.write_bytes(b"previous")
    out.chmod(0o600)
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr("sheetgen.files.os.umask", lambda *a: pytest.fail("umask changed"))
    monkeypatch.setattr("sheetgen.files.os.fsync", lambda fd: events.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(
        "sheetgen.files.os.replace",  # os itself: the seal's rename counts too
        lambda a, b: events.append(("replace", Path(b))) or real_replace(a, b),
    )
    result = run("build", "--lr", "0.5", "--iterations", "3", "-o", out)
    assert result.exit_code == 0, result.output
    assert events[-2:] == ["fsync", ("replace", out)]  # the file is on disk before it is named
    assert out.stat().st_mode & 0o777 == 0o600


def test_case13_a_softmax_output_excel_cannot_store_is_refused():
    import numpy as np

    from sheetgen.workbook.engine import Forward, NumericalError, _check_range
    from sheetgen.workbook.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "s",
            "loss": "cross_entropy",
            "data": {"inputs": [[1.0, 0.0]], "targets": [[1.0, 0.0]]},
            "layers": [
                {"name": "o", "units": 2, "activation": "softmax", "weights": [[0.1, 0.2], [0.3, 0.4]]}
            ],
        }
    )
    tiny = Forward(nets=(np.array([[0.0, 700.0]]),), acts=(np.array([[1e-310, 1.0]]),))
    with pytest.raises(
        NumericalError, match="a softmax output of layer 'o' falls below 2.2e-308 at iteration 3"
    ):
        _check_range(spec, tiny, 0.5, 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, expected",
    [
        (["--lr", "0.5", "--iterations", "1"], "1 learning rate × 1 iteration, "),
        (["--lr", "0.5", "--lr", "1", "--iterations", "2"], "2 learning rates × 2 iterations, "),
    ],
)
def test_case13_counts_of_one_are_singular(tmp_path, args, expected):
    out = tmp_path / "b.xlsx"
    result = run("build", *args, "-o", out)
    assert result.output.startswith(f"wrote {out}: {expected}")
    run_dir = write_run_dir(tmp_path / "run", epochs=1)
    result = run("export", run_dir, "--workbook", out)
    assert result.exit_code == 0, result.output
    assert "(1 epoch, final test accuracy" in result.output


@pytest.mark.slow
def test_case13_one_epoch_charts_span_an_axis(tmp_path):
    run_dir = write_run_dir(tmp_path / "run", epochs=1)
    out = tmp_path / "b.xlsx"
    assert run("export", run_dir, "--workbook", out).exit_code == 0
    charts = [
        body for name, body in part_texts(out).items() if name.startswith("xl/charts/") and "MNIST" in body
    ]
    assert len(charts) == 2
    for chart in charts:
        assert '<c:max val="2"/>' in chart and '<c:min val="0"/>' in chart


# Case 11: verify at the README's benchmark size ----------------------------------------------


@pytest.fixture(scope="module")
def long_workbook(tmp_path_factory):
    from tests.conftest import require_libreoffice

    require_libreoffice()
    path = tmp_path_factory.mktemp("long") / "long.xlsx"
    result = run("build", "--lr", "0.1", "--lr", "0.5", "--lr", "2", "--iterations", "2000", "-o", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.mark.libreoffice
def test_case11_a_correct_workbook_verifies_at_2000_iterations(long_workbook):
    """δ_o1 = (a - t)·a·(1 - a) becomes a difference of nearly equal numbers; LibreOffice gives
    0 where the engine has 4.2e-16. Judged by its terms, that agrees."""
    result = run("verify", long_workbook)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("OK: 198,108 computed cells agree")


@pytest.mark.libreoffice
def test_case11_a_mistake_at_row_1990_is_still_caught(long_workbook, tmp_path):
    """A flipped sign in one weight update, 1,990 rows down, on a sheet that has not converged."""
    path = tmp_path / "planted.xlsx"
    with zipfile.ZipFile(long_workbook) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet3.xml":  # 'lr 0.1'
                right = b"<f>B1989-$B$5*AA1989</f>"
                assert data.count(right) == 1
                data = data.replace(right, b"<f>B1989+$B$5*AA1989</f>")
            target.writestr(info, data)
    result = run("verify", path)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        "DIFFERS on 2 sheets: first at lr 0.1!B1990 (w1) =B1989+$B$5*AA1989: LibreOffice gives "
    )


# Case 14: a workbook built on another machine is not "edited by hand" -----------------------


def _rezip(source_path, target_path, change):
    with (
        zipfile.ZipFile(source_path) as source,
        zipfile.ZipFile(target_path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info, change(info.filename, source.read(info.filename)))


@pytest.mark.slow
def test_case14_export_trusts_the_seal_not_a_rerender(tmp_path, monkeypatch):
    from sheetgen.record import package_parts
    from sheetgen.workbook.spec import load_spec
    from sheetgen.workbook.writer import build_workbook

    path = tmp_path / "laptop.xlsx"
    assert run("build", "--lr", "0.5", "--iterations", "10", "-o", path).exit_code == 0
    # this machine draws the diagram differently (other fonts, another matplotlib)
    from dataclasses import replace

    real_picture = __import__("sheetgen.workbook.diagram", fromlist=["network_picture"]).network_picture
    monkeypatch.setattr(
        "sheetgen.workbook.writer.network_picture",
        lambda spec: replace(real_picture(spec), png=real_picture(spec).png + b"\0other machine"),
    )
    again = tmp_path / "again.xlsx"
    build_workbook(load_spec().with_training([0.5], 10), again)
    assert package_parts(again) != package_parts(path)  # a re-render would call it edited
    result = run("export", write_run_dir(tmp_path / "run"), "--workbook", path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {path}: MNIST sheets for run run")


@pytest.mark.parametrize(
    "edit",
    [
        lambda name, data: (
            data.replace(b"<v>0.5</v>", b"<v>0.7</v>", 1) if name == "xl/worksheets/sheet3.xml" else data
        ),
        lambda name, data: (
            data.replace(b'"iterations":10', b'"iterations":11')
            if name == "xl/worksheets/sheet4.xml"
            else data
        ),
    ],
    ids=["an input cell", "the recorded spec"],
)
def test_case14_a_real_hand_edit_is_still_refused(tmp_path, edit):
    built = tmp_path / "built.xlsx"
    assert run("build", "--lr", "0.5", "--iterations", "10", "-o", built).exit_code == 0
    path = tmp_path / "edited.xlsx"
    _rezip(built, path, edit)
    from sheetgen.record import package_parts

    changed = [n for n, data in package_parts(path).items() if package_parts(built)[n] != data]
    assert len(changed) == 1  # the edit took, and only there
    edited = path.read_bytes()
    result = run("export", write_run_dir(tmp_path / "run"), "--workbook", path)
    assert result.output == (
        f"Error: {path} has changed since sheetgen wrote it (edited by "
        "hand); it is left as it is. Give another --workbook for the "
        "metrics, or rebuild it with `sheetgen build`\n"
    )
    assert result.exit_code == 1
    assert path.read_bytes() == edited


def test_case7_a_zip_directory_that_understates_a_part_is_refused(tmp_path, monkeypatch):
    """The directory says 1,000 bytes; the part unpacks to 80 MB. zipfile stops at the declared
    size and the CRC no longer matches, so neither openpyxl nor LibreOffice ever sees it."""
    import struct

    sheet = SHEET_HEAD + b"<sheetData>" + b"<row/>" * 13_000_000 + b"</sheetData></worksheet>"
    path = hostile_workbook(tmp_path / "understated.xlsx", [sheet])
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    at = 0
    while True:  # the part's entry in the central directory
        at = data.index(b"PK\x01\x02", at + 1)
        length = struct.unpack_from("<H", data, at + 28)[0]
        if bytes(data[at + 46 : at + 46 + length]) == name:
            break
    if struct.unpack_from("<I", data, at + 24)[0] == 0xFFFFFFFF:  # zip64: the size is in the extra
        struct.pack_into("<Q", data, at + 46 + length + 4, 1000)
    else:
        struct.pack_into("<I", data, at + 24, 1000)
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as package:
        assert package.getinfo(name.decode()).file_size == 1000
    monkeypatch.setattr("sheetgen.analyse.verify.recalculate", lambda *a: pytest.fail("LibreOffice ran"))
    for command in ("verify", "check"):
        result = run(command, path)
        assert result.exit_code == 2
        assert result.output == (
            f"Error: {path} is not a readable workbook: not a zip package "
            "(Bad CRC-32 for file 'xl/worksheets/sheet1.xml')\n"
        )


# Templates: a template is a small regular file, its nesting and sizes bounded before any work --


def sheetgen_in_child(*args, timeout=60, env=None):
    """`sheetgen ...` in a child process, so that what blocks or aborts cannot block or end the
    tests: exit status and output."""
    done = subprocess.run(
        [sys.executable, "-m", "sheetgen", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return done.returncode, done.stdout + done.stderr


def build_in_child(*args, timeout=60):
    return sheetgen_in_child("build", *args, timeout=timeout)


NESTED = [
    ("an array 5,000 deep", "v = " + "[" * 5000 + "]" * 5000),
    ("inline tables 5,000 deep", "v = " + "{a = " * 5000 + "1" + "}" * 5000),
]


@pytest.mark.parametrize("kind, line", NESTED, ids=[n[0] for n in NESTED])
def test_a_template_nested_too_deep_is_one_line(tmp_path, kind, line):
    path = template(tmp_path, line + "\n" + SEED)
    result = run("build", "--template", path, "-o", tmp_path / "b.xlsx")
    assert result.output == (
        f"Error: template {path} nests arrays or tables too deeply to read (a network's template "
        "needs a few levels)\n"
    )
    assert result.exit_code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.toml"]


RANDOM_HIDDEN = SEED.replace("weights = [[0.15, 0.20], [0.25, 0.30]]", 'weights = "random"') + (
    "\n[init]\nseed = 1\n"
)


ABSURD = [
    (
        "100,000,000 units",
        RANDOM_HIDDEN.replace("units = 2\nactivation", "units = 100000000\nactivation", 1),
        "layers[1] has 100,000,000 units × 2 inputs = 200,000,000 weights, a column each, but a "
        "sheet has 16,384 columns (A to XFD); use fewer units",
    ),
    (
        "2**63 - 1 units",
        RANDOM_HIDDEN.replace("units = 2\nactivation", "units = 9223372036854775807\nactivation", 1),
        "layers[1] has 9,223,372,036,854,775,807 units × 2 inputs = 18,446,744,073,709,551,614 "
        "weights, a column each, but a sheet has 16,384 columns (A to XFD); use fewer units",
    ),
    (
        "a scale of 1e308",
        RANDOM_HIDDEN + "scale = 1e308\n",
        "init.scale must be a positive number up to 1e+06, not 1e+308",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("kind, text, message", ABSURD, ids=[a[0] for a in ABSURD])
def test_absurd_sizes_in_a_template_are_refused_before_any_work(tmp_path, kind, text, message):
    path = template(tmp_path, text)
    status, output, peak = peak_of("build", "--template", path, "-o", tmp_path / "b.xlsx")
    assert output == f"Error: template {path}: {message}\n"
    assert status == 1
    print(f"{kind}: peak RSS {peak:.0f} MiB")  # shown with pytest -s
    assert peak < 500, f"peak RSS {peak:.0f} MiB"


@pytest.mark.parametrize(
    "make, why",
    [
        (lambda p: os.mkfifo(p), "is not a regular file (it is a device, FIFO or socket)"),
        (lambda p: p.mkdir(), "is a folder, not a file"),
        (
            lambda p: p.write_text("#" * 2**20 + "\n"),
            "holds more than 1,048,576 bytes; sheetgen reads at most that",
        ),
    ],
    ids=["a FIFO", "a folder", "1 MiB and a byte"],
)
def test_a_template_must_be_a_regular_file_of_at_most_1_mib(tmp_path, make, why):
    """Run in a child process: a FIFO with no writer would block a reader forever."""
    path = tmp_path / "t.toml"
    make(path)
    status, output = build_in_child("--template", path, "-o", tmp_path / "b.xlsx")
    assert output == f"Error: template {path} {why}\n"
    assert status == 1
    assert not (tmp_path / "b.xlsx").exists()


def test_dev_zero_as_a_template_is_refused_unread(tmp_path):
    status, output = build_in_child("--template", "/dev/zero", "-o", tmp_path / "b.xlsx")
    assert output == "Error: template /dev/zero is not a regular file (it is a device, FIFO or socket)\n"
    assert status == 1


# Output of build: long names, full disks --------------------------------------------------------


def test_a_legal_250_byte_output_name_is_written(tmp_path):
    """The temporary file beside it gets a shorter name, not the user's file."""
    name = "é" * 122 + "x.xlsx"  # 250 bytes in UTF-8, 128 characters
    assert len(name.encode()) == 250
    out = tmp_path / name
    result = run("build", "--lr", "0.5", "--iterations", "3", "-o", out)
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize(
    "name",
    ["b.xlsx", "é" * 125 + ".xlsx", "x" * 250 + ".xlsx", "model.pt2", "x" * 251 + ".pt2"],
    ids=["short", "multibyte", "250 bytes", ".pt2", "long .pt2"],
)
def test_temporary_names_keep_the_suffix_and_stay_short(name):
    from sheetgen.files import MAX_TEMPORARY_NAME_BYTES, temporary_name

    temporary = temporary_name(Path(name))
    stem, suffix = Path(name).stem, Path(name).suffix
    assert len(temporary.encode()) <= MAX_TEMPORARY_NAME_BYTES
    assert re.fullmatch(rf"\.(.*)\.[0-9a-f]{{8}}\.tmp{re.escape(suffix)}", temporary)
    kept = re.fullmatch(r"\.(.*)\.[0-9a-f]{8}\.tmp.*", temporary).group(1)
    assert stem.startswith(kept) and (kept == stem or len(kept.encode()) > 100)


@contextlib.contextmanager
def small_file_system(folder, size, read_only=False):
    """A tmpfs of `size` mounted at `folder`, to fill up (or read-only); skips the test where
    this process may not mount one (it needs root, as in CI)."""
    folder.mkdir()
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command here to make a small file system")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (it needs root): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


# 300 iterations make a 247 KiB workbook: at 200 KiB XlsxWriter's close fails; at 400 KiB the
# workbook fits but the seal's rewritten copy does not
@pytest.mark.slow
@pytest.mark.parametrize("size", ["200k", "400k"], ids=["on close", "on sealing"])
def test_a_build_onto_a_full_disk_is_one_line_and_leaves_the_old_workbook(tmp_path, size):
    with small_file_system(tmp_path / "disk", size) as disk:
        out = disk / "b.xlsx"
        out.write_bytes(b"the previous workbook")
        status, output = build_in_child("--lr", "0.5", "--iterations", "300", "-o", out)
        assert output == f"Error: cannot write {out}: No space left on device\n"  # no "Exception ignored"
        assert status == 1
        assert [p.name for p in disk.iterdir()] == ["b.xlsx"]
        assert out.read_bytes() == b"the previous workbook"


# Numbers as typed: only plain ASCII decimal digits ------------------------------------------------


@pytest.mark.parametrize("typed", ["1_0", "٣", "１", "0x1", " 2"])
def test_a_learning_rate_is_read_only_from_plain_decimal_digits(tmp_path, typed):
    result = run("build", "--lr", typed, "-o", tmp_path / "b.xlsx")
    assert result.output == f"Error: --lr {typed}: {typed!r} is not a number\n"
    assert result.exit_code == 1
    result = run("build", "--iterations", typed, "-o", tmp_path / "b.xlsx")
    assert result.output == f"Error: --iterations {typed} must be a whole number, not {typed!r}\n"
    assert result.exit_code == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "option, typed, wanted",
    [
        ("--lr", "1_0", "a plain decimal number (digits 0-9, with an optional sign, point and exponent)"),
        ("--lr", "٣", "a plain decimal number (digits 0-9, with an optional sign, point and exponent)"),
        ("--epochs", "1_0", "a whole number in plain ASCII digits"),
        ("--batch-size", "٦٤", "a whole number in plain ASCII digits"),
        ("--seed", "1e3", "a whole number in plain ASCII digits"),
        ("--threads", "２", "a whole number in plain ASCII digits"),
    ],
)
def test_mnist_numbers_are_read_only_from_plain_decimal_digits(tmp_path, option, typed, wanted):
    from mnist.cli import cli

    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "run"), option, typed])
    assert result.output == f"Error: {option} {typed}: {typed!r} is not {wanted}\n"
    assert result.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_plain_numbers_are_what_they_look_like():
    from sheetgen.bounded import plain_float, plain_int

    floats = {"0.5": 0.5, "-2": -2.0, "1e-3": 1e-3, ".5": 0.5, "5.": 5.0, "1_0": None, "nan": None, "٣": None}
    assert {text: plain_float(text) for text in floats} == floats
    ints = {"10": 10, "+3": 3, "1_0": None, "1.0": None, "٣": None, "9" * 5000: None}
    assert {text: plain_int(text) for text in ints} == ints


# MNIST training: full disks, run dirs that cannot be written, torch's cache folder --------------


def train_in_child(*args, env=None, timeout=300):
    """`sheetgen mnist train ...` on the CPU, one thread, in a child process."""
    options = ["--device", "cpu", "--quiet", "--no-download", "--threads", "1"]
    return sheetgen_in_child("mnist", "train", *options, *args, env=env, timeout=timeout)


def _kib(path):
    return -(-path.stat().st_size // 4096) * 4  # a tmpfs counts whole pages


@pytest.mark.slow
@pytest.mark.parametrize("full_at", ["checkpoint.pt", "model.pt2"])
def test_mnist_train_onto_a_full_disk_is_one_line_not_an_abort(mnist_run, mnist_data_dir, tmp_path, full_at):
    """torch's writers fail on a full disk with a RuntimeError (torch.save) or abort the process
    (torch.export.save); the run writes their bytes itself instead."""
    result, _ = mnist_run
    files = result.run_dir
    room = _kib(files / "summary.json") + 8  # the checkpoint does not fit
    if full_at == "model.pt2":  # the checkpoint fits, the exported model does not
        room += _kib(files / "checkpoint.pt")
    with small_file_system(tmp_path / "disk", f"{room}k") as disk:
        status, output = train_in_child("--data-dir", mnist_data_dir, "--out", disk / "run", "--epochs", "1")
        assert (
            output.splitlines()[-1]
            == f"Error: cannot write {disk / 'run' / full_at}: No space left on device"
        )
        assert status == 1, output  # not -6: no abort
        assert "Traceback" not in output
        assert not [p.name for p in (disk / "run").iterdir() if p.name.startswith(".")]  # no temporary files


@pytest.mark.slow
@pytest.mark.parametrize("where", ["a read-only file system", "under a regular file", "a regular file"])
def test_mnist_train_out_that_cannot_be_written_is_refused_before_the_data(tmp_path, where):
    """No data is loaded first: the data dir here does not even exist."""
    if where == "a read-only file system":
        context = small_file_system(tmp_path / "ro", "64k", read_only=True)
        problem = f"{tmp_path / 'ro'} is on a read-only file system"
    else:
        (tmp_path / "notes").write_text("my notes")
        context = contextlib.nullcontext(tmp_path / "notes")
        problem = f"{tmp_path / 'notes'} is a file, not a folder"
    with context as base:
        out = base if where == "a regular file" else base / "run"
        status, output = train_in_child("--data-dir", tmp_path / "no-data", "--out", out, timeout=120)
    assert output == f"Error: cannot write run dir {out}: {problem}; give another --out\n"
    assert status == 1


@pytest.mark.slow
def test_mnist_train_leaves_nothing_in_the_temporary_folder(mnist_data_dir, tmp_path):
    """torch's compiler makes its cache folder (torchinductor_USER) when torchvision or
    torch.export import it; the run points it at a folder of its own, removed at the end."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    status, output = train_in_child(
        "--data-dir",
        mnist_data_dir,
        "--out",
        tmp_path / "run",
        "--epochs",
        "1",
        env={**env, "TMPDIR": str(scratch)},
    )
    assert status == 0, output
    assert (tmp_path / "run" / "model.pt2").is_file()
    assert list(scratch.iterdir()) == []


# Checkpoints: the whole optimiser and schedule state, held to the run before the first step ----


def _first_buffer(state):
    return next(iter(state["optimizer"]["state"].values()))


def _checkpoint_misfits():
    def wrong_momentum_shape(state):
        entry = _first_buffer(state)
        entry["momentum_buffer"] = entry["momentum_buffer"].flatten()[:3].clone()

    def nan_momentum(state):
        _first_buffer(state)["momentum_buffer"][0] = float("nan")

    def nan_weight(state):
        name = next(k for k, v in state["model"].items() if v.is_floating_point() and v.ndim == 4)
        state["model"][name].view(-1)[0] = float("nan")

    def phases_not_a_list(state):
        state["scheduler"]["_schedule_phases"] = 7

    def phase_not_a_number(state):
        state["scheduler"]["_schedule_phases"][0]["end_step"] = "soon"

    def nan_metrics(state):
        state["metrics"][0]["test_loss"] = float("nan")

    def other_parameters(state):
        state["optimizer"]["param_groups"][0]["params"] = list(
            reversed(state["optimizer"]["param_groups"][0]["params"])
        )

    return [
        (
            "a momentum buffer of another shape",
            wrong_momentum_shape,
            "the optimiser's state of parameter 0 has a momentum buffer of shape (3,), not (8, 1, 3, 3)",
        ),
        (
            "a momentum buffer holding NaN",
            nan_momentum,
            "the optimiser's state of parameter 0 holds NaN or infinite values",
        ),
        ("a weight holding NaN", nan_weight, "model conv1.0.weight holds NaN or infinite values"),
        (
            "schedule phases that are not a list",
            phases_not_a_list,
            "the schedule _schedule_phases is not a list of 2",
        ),
        (
            "a schedule phase that is not a number",
            phase_not_a_number,
            "the schedule _schedule_phases[0] end_step is 'soon', not a finite number",
        ),
        ("metrics holding NaN", nan_metrics, "metrics row 1 holds NaN or infinite values"),
        (
            "the parameters in another order",
            other_parameters,
            "the optimiser's parameter groups list other parameters than the model's",
        ),
    ]


def one_epoch_to_go(state):
    """The finished run's checkpoint as after its first epoch (of 4 steps)."""
    state["metrics"] = state["metrics"][:1]
    state["scheduler"].update(last_epoch=4, _step_count=5)


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind, damage, reason", _checkpoint_misfits(), ids=[m[0] for m in _checkpoint_misfits()]
)
def test_resume_holds_the_whole_checkpoint_to_the_run_before_the_first_step(
    mnist_run, mnist_data_dir, tmp_path, kind, damage, reason
):
    checkpoint = changed_checkpoint(
        mnist_run, tmp_path, lambda state: (one_epoch_to_go(state), damage(state))
    )
    run_dir = checkpoint.parent
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    done = resume(run_dir, mnist_data_dir)
    assert done.output.startswith(f"Error: cannot resume: {checkpoint} does not fit the model ({reason}")
    assert done.output.endswith("); start a new run\n") and done.output.count("\n") == 1
    assert done.exit_code == 1
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.slow
def test_the_untouched_checkpoint_still_resumes(mnist_run, mnist_data_dir, tmp_path):
    """The checks above refuse only what is wrong: the same checkpoint, one epoch in, resumes."""
    checkpoint = changed_checkpoint(mnist_run, tmp_path, one_epoch_to_go)
    done = resume(checkpoint.parent, mnist_data_dir)
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[0].startswith("epoch  2/2")


# verify: records held to build's limits, whatever build writes read back, interruptions -------


def _record_edited(tmp_path, change):
    """A built workbook (1 learning rate, 3 iterations) whose record sheet's XML is changed."""
    built = tmp_path / "built.xlsx"
    assert run("build", "--lr", "0.5", "--iterations", "3", "-o", built).exit_code == 0
    path = tmp_path / "edited.xlsx"
    _rezip(built, path, lambda name, data: change(data) if name == "xl/worksheets/sheet4.xml" else data)
    return path


@pytest.mark.slow
def test_a_record_asking_for_more_than_build_allows_is_refused_before_work(tmp_path):
    path = _record_edited(tmp_path, lambda data: data.replace(b'"iterations":3', b'"iterations":1048548'))
    status, output, peak = peak_of("verify", path)
    assert output == (
        f"Error: {path}: its sheetgen record asks for a workbook beyond sheetgen's limits (this "
        "workbook would hold 34,602,117 formulas (1 learning rate × 1,048,549 rows × 33 columns); "
        "sheetgen builds at most 1,500,000, which `sheetgen verify` recalculates in about 1 GiB of "
        "memory: use fewer iterations, learning rates or units)\n"
    )
    assert status == 2
    print(f"verify of a record asking for 1,048,548 iterations: peak RSS {peak:.0f} MiB")
    assert peak < 500, f"peak RSS {peak:.0f} MiB"


def test_a_training_record_nested_30000_deep_is_one_line(tmp_path, monkeypatch):
    from sheetgen.workbook.spec import load_spec
    from sheetgen.workbook.writer import ExtraSheets, build_workbook

    path = tmp_path / "deep.xlsx"
    nested = "[" * 30_000 + "]" * 30_000
    build_workbook(load_spec().with_training([0.5], 3), path, extra=ExtraSheets((), lambda *_: None, nested))
    monkeypatch.setattr("sheetgen.analyse.verify.recalculate", lambda *a: pytest.fail("LibreOffice ran"))
    why = (
        "its sheetgen record cannot be read (its training record nests 30,000 levels deep; "
        "sheetgen reads at most 32)"
    )
    result = run("verify", path)
    assert result.output == f"Error: {path}: {why}\n"
    assert result.exit_code == 2
    result = run("export", write_run_dir(tmp_path / "run"), "--workbook", path)
    assert result.output == f"Error: {path}: {why}\n"
    assert result.exit_code == 1


def test_json_depth_is_counted_outside_strings():
    from sheetgen.bounded import json_depth, load_json

    table = [
        ("1", 0),
        ('"[[[["', 0),
        ('{"a": [1, {"b": []}]}', 4),
        ('["\\"[", [[]]]', 3),
        ("[" * 33 + "]" * 33, 33),
    ]
    assert [(text, json_depth(text)) for text, _ in table] == table
    with pytest.raises(ValueError, match="its JSON nests 33 levels deep; sheetgen reads at most 32"):
        load_json("[" * 33 + "]" * 33)
    assert load_json("[" * 32 + "]" * 32) == [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]


def _rename_record_sheet(source, path):
    """The same workbook with its record sheet renamed: no longer one of sheetgen's."""
    _rezip(
        source,
        path,
        lambda name, data: (
            data.replace(b'name="sheetgen"', b'name="notes"') if name == "xl/workbook.xml" else data
        ),
    )
    return path


@pytest.mark.libreoffice
def test_a_workbook_of_sheetgen_larger_than_any_other_may_be_still_verifies(
    long_workbook, tmp_path, monkeypatch
):
    """With the limits for any workbook lowered below this one's size, verify still reads it (and
    LibreOffice's copy): a workbook with a record is held to what its spec implies. The same
    file without its record is refused by the limits for any workbook."""
    monkeypatch.setattr("sheetgen.untrusted.MAX_PART_BYTES", 2**20)
    monkeypatch.setattr("sheetgen.untrusted.MAX_TOTAL_BYTES", 4 * 2**20)
    monkeypatch.setattr("sheetgen.untrusted.MAX_CELLS", 50_000)
    with zipfile.ZipFile(long_workbook) as package:
        assert max(i.file_size for i in package.infolist()) > 2**20  # beyond the lowered limits
    result = run("verify", long_workbook)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("OK: 198,108 computed cells agree")
    foreign = _rename_record_sheet(long_workbook, tmp_path / "foreign.xlsx")
    result = run("verify", foreign)
    assert re.fullmatch(
        rf"Error: {re.escape(str(foreign))} is not a readable workbook: part "
        r"xl/worksheets/sheet\d\.xml unpacks to [\d,]+ bytes; sheetgen reads at most 1,048,576 "
        r"\(1 MiB\) per part\n",
        result.output,
    )
    assert result.exit_code == 2


@pytest.mark.libreoffice
def test_verify_reads_back_a_25000_iteration_workbook_build_makes(tmp_path, monkeypatch):
    """LibreOffice's recalculated copy of it has a 73 MB sheet, beyond the 64 MiB a part of any
    workbook may unpack to; both packages stay within limits.package_limits."""
    from sheetgen.analyse import recalc
    from sheetgen.workbook.limits import package_limits
    from sheetgen.workbook.spec import load_spec

    path = tmp_path / "long.xlsx"
    assert run("build", "--lr", "0.5", "--iterations", "25000", "-o", path).exit_code == 0
    copies = []
    real = recalc.recalculate

    def recalculate(source, out_dir, timeout=600):
        copies.append(real(source, out_dir, timeout))
        copies.append({i.filename: i.file_size for i in zipfile.ZipFile(copies[-1]).infolist()})
        return copies[0]

    monkeypatch.setattr("sheetgen.analyse.verify.recalculate", recalculate)
    result = run("verify", path)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("OK: 825,036 computed cells agree")
    bounds = package_limits(load_spec().with_training([0.5], 25_000))
    with zipfile.ZipFile(path) as package:
        built = {i.filename: i.file_size for i in package.infolist()}
    for sizes in (built, copies[1]):
        assert max(sizes.values()) <= bounds.part_bytes and sum(sizes.values()) <= bounds.total_bytes
    assert max(copies[1].values()) > 64 * 2**20  # the case: beyond the limits for any workbook


def test_a_refused_recalculated_copy_is_named_by_the_users_file(tmp_path, monkeypatch):
    """The copy lives in a temporary folder that is gone by the time the message is read."""
    path = tmp_path / "b.xlsx"
    assert run("build", "--lr", "0.5", "--iterations", "3", "-o", path).exit_code == 0

    def hostile_copy(source, out_dir, timeout=600):
        return hostile_workbook(Path(out_dir) / "b.xlsx", DTD_SHEETS["xxe"])

    monkeypatch.setattr("sheetgen.analyse.verify.recalculate", hostile_copy)
    result = run("verify", path)
    assert result.output == (
        f"Error: LibreOffice's recalculated copy of {path} is not a readable workbook: part "
        "xl/worksheets/sheet1.xml declares an XML document type (entities), which no workbook needs\n"
    )
    assert result.exit_code == 2


def _processes_mentioning(text):
    """Pids of the processes whose command line holds `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.libreoffice
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_verify_stopped_while_libreoffice_runs_leaves_nothing(long_workbook, tmp_path, signum):
    """No temporary folder is left (sheetgen-lo-*, sheetgen-verify-*), and no LibreOffice runs on:
    it is started in a process group of its own, which is ended with verify."""
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("finding LibreOffice's processes needs /proc")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "sheetgen", "verify", str(long_workbook)],
        cwd=ROOT,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # as a terminal's user has
    )
    deadline = time.monotonic() + 120
    while not any(
        "soffice.bin" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        for pid in _processes_mentioning(str(scratch))
        if Path(f"/proc/{pid}/cmdline").exists()
    ):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "LibreOffice did not start"
        time.sleep(0.05)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert stderr.strip().splitlines()[-1] == "Aborted!", stderr
    assert "Traceback" not in stderr
    assert list(scratch.iterdir()) == []
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(scratch)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(scratch)) == []
