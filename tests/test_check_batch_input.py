"""A class's folder as it comes: files and folders that may not be read, file names that are not
UTF-8 or hold a newline or a terminal's escape sequence. Each is reported on its own line and
counted, the rest still checked; the JSON stays valid UTF-8 and the terminal is not driven."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from sheetgen.cli import _json, _printable
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "backprop-by-hand.xlsx"


@pytest.mark.parametrize(
    "text, shown",
    [
        ("plain name.xlsx", "plain name.xlsx"),
        ("new\nline.xlsx", "new\\nline.xlsx"),
        ("red\x1b[31m.xlsx", "red\\x1b[31m.xlsx"),
        (os.fsdecode(b"bad\xff.xlsx"), "bad\\xff.xlsx"),
        ("tab\tkept ∂E/∂w1 η", "tab\tkept ∂E/∂w1 η"),
        ("\x9b\x7f", "\\x9b\\x7f"),
    ],
)
def test_printable_escapes_what_would_split_a_line_or_drive_a_terminal(text, shown):
    assert _printable(text) == shown


def test_json_is_valid_utf8_and_gives_the_name_back():
    name = os.fsdecode(b"bad\xff.xlsx")
    text = _json({"file": name, "η": 0.5})
    assert json.loads(text.encode("utf-8").decode("utf-8")) == {"file": name, "η": 0.5}


def _check(args, cwd, drop_file_permissions: bool = False):
    command = [sys.executable, "-m", "sheetgen", "check", *args]
    if drop_file_permissions and os.geteuid() == 0:
        # root reads anything; without these two capabilities it meets permissions as anyone
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=cwd, capture_output=True, env=env, timeout=300)


def _can_drop_permissions() -> str | None:
    if os.geteuid() != 0:
        return None
    if shutil.which("setpriv") is None:
        return "running as root without setpriv (util-linux): root reads every file"
    probe = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "true"], capture_output=True
    )
    return None if probe.returncode == 0 else "running as root where setpriv cannot drop capabilities"


@pytest.mark.slow
def test_what_may_not_be_read_is_reported_and_counted(tmp_path):
    if reason := _can_drop_permissions():
        pytest.skip(reason)
    folder = tmp_path / "class"
    (folder / "locked").mkdir(parents=True)
    shutil.copyfile(EXAMPLE, folder / "anna.xlsx")
    shutil.copyfile(EXAMPLE, folder / "locked" / "ben.xlsx")
    shutil.copyfile(EXAMPLE, folder / "secret.xlsx")
    (folder / "secret.xlsx").chmod(0)
    (folder / "locked").chmod(0)
    try:
        done = _check(["class"], tmp_path, drop_file_permissions=True)
        out = done.stdout.decode()
        assert b"Traceback" not in done.stderr, done.stderr
        assert "OK     class/anna.xlsx" in out
        assert "ERROR  class/secret.xlsx: class/secret.xlsx cannot be read: Permission denied" in out
        assert "ERROR  class/locked: folder class/locked cannot be read: Permission denied" in out
        summary = "3 files: 1 right, 0 wrong or not fully checked, 2 could not be checked"
        assert out.splitlines()[-1] == summary
        assert done.returncode == 2

        # named on the command line: the readable one is still checked
        done = _check(["class/anna.xlsx", "class/secret.xlsx"], tmp_path, drop_file_permissions=True)
        out = done.stdout.decode()
        assert "OK     class/anna.xlsx" in out and "class/secret.xlsx cannot be read" in out
        assert done.returncode == 2

        done = _check(["class/secret.xlsx"], tmp_path, drop_file_permissions=True)
        assert done.returncode == 2
        assert done.stderr.decode().strip() == "Error: class/secret.xlsx cannot be read: Permission denied"
    finally:
        (folder / "locked").chmod(0o755)
        (folder / "secret.xlsx").chmod(0o644)


@pytest.mark.slow
def test_file_names_that_are_not_text(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    names = [b"bad\xff.xlsx", b"new\nline.xlsx", b"red\x1b[31m.xlsx"]
    try:
        for name in names:
            shutil.copyfile(EXAMPLE, os.path.join(os.fsencode(folder), name))
    except OSError as exc:  # a file system that refuses such names has nothing to test
        pytest.skip(f"this file system refuses such names: {exc}")

    done = _check(["class"], tmp_path)
    out = done.stdout.decode("utf-8")  # strictly: valid UTF-8
    lines = out.splitlines()
    assert len(lines) == 4 and "\x1b" not in out, out
    assert lines[0].startswith("OK     class/bad\\xff.xlsx")
    assert lines[1].startswith("OK     class/new\\nline.xlsx")
    assert lines[2].startswith("OK     class/red\\x1b[31m.xlsx")
    assert done.returncode == 0

    done = _check(["class", "--json"], tmp_path)
    data = json.loads(done.stdout.decode("utf-8"))
    assert sorted(os.fsencode(d["file"]) for d in data) == sorted(b"class/" + n for n in names)
    assert all(d["ok"] for d in data)
