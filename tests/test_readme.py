"""README's tour, run as a new user runs it: every `$ ` command of its console blocks, in order,
in a folder of its own, with its output held to what README shows; then its Python examples.

README shows real output. Numbers may differ in their last printed digit (another LibreOffice or
NumPy), and rounding noise below 1e-12 (verify's tolerance) is noise. A line `…` in README
stands for any number of lines. Two comments in README, invisible when it is rendered, say what
a block needs that is not a command:

    <!-- readme-test: set "SHEET"!CELL to VALUE in FILE and save it recalculated -->
        the edit a user makes in Excel or LibreOffice before the block's commands;
    <!-- readme-test: numbers vary -->
        any number stands for any number (training on the tests' tiny MNIST, not the real one).

`pip install` lines are left out: the tests run where the package is installed.
"""

from __future__ import annotations

import doctest
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from conftest import ROOT, require_libreoffice
from mnist_fixtures import write_tiny_mnist

from sheetgen.analyse.recalc import recalculate

README = ROOT / "README.md"
ELLIPSIS = "…"
DIRECTIVE = re.compile(r"<!-- readme-test: (.+?) -->")
EDIT = re.compile(
    r'set "(?P<sheet>[^"]+)"!(?P<cell>[A-Z]+[0-9]+) to (?P<value>\S+) in (?P<path>\S+)'
    r" and save it recalculated"
)
NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
NOISE = 1e-12  # numbers both smaller than this are rounding noise (verify's tolerance)


@dataclass
class Command:
    line: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    directives: list[str]
    commands: list[Command]


def console_blocks(text: str) -> list[Block]:
    """README's ```console blocks in order, each with the readme-test comments right above it."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        if lines[i].strip() != "```console":
            i += 1
            continue
        directives, j = [], i - 1
        while j >= 0 and DIRECTIVE.fullmatch(lines[j].strip()):
            directives.insert(0, DIRECTIVE.fullmatch(lines[j].strip()).group(1))
            j -= 1
        commands, i = [], i + 1
        while lines[i].strip() != "```":
            if lines[i].startswith("$ "):
                commands.append(Command(lines[i][2:]))
            else:
                commands[-1].expected.append(lines[i])
            i += 1
        blocks.append(Block(directives, commands))
        i += 1
    return blocks


def python_examples(text: str) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", text, flags=re.S))


# --- comparing output ------------------------------------------------------------------------


def _last_digit(number: str) -> Decimal:
    """One unit in the last printed digit of a number as README shows it."""
    return Decimal(1).scaleb(Decimal(number.replace(",", "")).as_tuple().exponent)


def numbers_agree(shown: str, got: str) -> bool:
    a, b = Decimal(shown.replace(",", "")), Decimal(got.replace(",", ""))
    if abs(a) < Decimal(NOISE) and abs(b) < Decimal(NOISE):
        return True
    return abs(a - b) <= 2 * _last_digit(shown)


def lines_agree(shown: str, got: str, any_number: bool) -> bool:
    if NUMBER.split(shown) != NUMBER.split(got):  # the words around the numbers
        return False
    pairs = zip(NUMBER.findall(shown), NUMBER.findall(got))
    return any_number or all(numbers_agree(a, b) for a, b in pairs)


def output_agrees(shown: list[str], got: list[str], any_number: bool) -> str | None:
    """None when the output is what README shows; else the first line that is not."""
    got = [line.split("\r")[-1].rstrip() for line in got]
    shown = [line.rstrip() for line in shown]
    while got and not got[-1]:
        got.pop()
    at = 0
    for k, line in enumerate(shown):
        if line == ELLIPSIS:
            continue
        if k > 0 and shown[k - 1] == ELLIPSIS:
            while at < len(got) and not lines_agree(line, got[at], any_number):
                at += 1
        if at >= len(got) or not lines_agree(line, got[at], any_number):
            near = got[at] if at < len(got) else "(no more output)"
            return f"README shows {line!r}\n    the command gave {near!r}"
        at += 1
    if shown and shown[-1] != ELLIPSIS and at < len(got):
        return f"the command gave more than README shows, from {got[at]!r}"
    return None


@pytest.mark.parametrize(
    "shown, got, any_number, agrees",
    [
        (["E 8.528e-05"], ["E 8.529e-05"], False, True),  # the last digit
        (["E 8.528e-05"], ["E 8.538e-05"], False, False),
        (["w1  3.3e-15  0"], ["w1  4.9e-15  2.2e-16"], False, True),  # noise is noise
        (["3,333 cells"], ["3,334 cells"], False, True),
        (["3,333 cells"], ["3,433 cells"], False, False),
        (["OK: 2 files"], ["WRONG: 2 files"], False, False),  # the words must agree
        (["a", ELLIPSIS, "z"], ["a", "b", "c", "z"], False, True),
        (["a", ELLIPSIS, "z"], ["a", "b", "c"], False, False),
        (["a"], ["a", "b"], False, False),  # more than README shows
        (["acc 98.90%"], ["acc 41.00%"], True, True),
        (["acc 98.90%"], ["loss 41.00%"], True, False),
        (["epoch 1"], ["\rbar 10%\r\repoch 1"], False, True),  # a progress bar's carriage returns
    ],
)
def test_output_comparison(shown, got, any_number, agrees):
    assert (output_agrees(shown, got, any_number) is None) is agrees


def test_readme_has_a_tour_and_every_block_is_read():
    blocks = console_blocks(README.read_text())
    commands = [c.line for b in blocks for c in b.commands]
    for needed in ("sheetgen build", "sheetgen verify", "sheetgen check", "sheetgen mnist train"):
        assert any(c.startswith(needed) for c in commands), needed
    for block in blocks:
        for directive in block.directives:
            assert directive == "numbers vary" or EDIT.fullmatch(directive), directive


# --- running the tour ----------------------------------------------------------------------


def _edit_and_recalculate(directive: str, folder: Path) -> None:
    """What a user does in Excel or LibreOffice: type a value into a cell and save, which
    recalculates the workbook (openpyxl edits; LibreOffice recalculates and saves)."""
    edit = EDIT.fullmatch(directive)
    path = folder / edit["path"]
    book = openpyxl.load_workbook(path)
    book[edit["sheet"]][edit["cell"]] = float(edit["value"])
    with tempfile.TemporaryDirectory() as temp:
        edited = Path(temp) / path.name
        book.save(edited)
        shutil.copyfile(recalculate(edited, Path(temp) / "recalculated"), path)


def _run(command: str, folder: Path, env: dict) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "sheetgen", f"README's tour runs sheetgen commands only: {command}"
    done = subprocess.run(
        [sys.executable, "-m", "sheetgen", *words[1:]],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # in the order a terminal shows them (unbuffered, below)
        text=True,
        timeout=900,
    )
    assert "Traceback" not in done.stdout, done.stdout
    return done.stdout.splitlines()


@pytest.mark.slow
@pytest.mark.libreoffice
def test_readme_tour_gives_what_readme_shows(tmp_path):
    require_libreoffice()
    text = README.read_text()
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    cache = tmp_path / "cache"
    write_tiny_mnist(cache / "mnist")  # where `mnist train` looks by default
    env = {**os.environ, "SHEETGEN_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}

    for block in console_blocks(text):
        for directive in block.directives:
            if directive != "numbers vary":
                _edit_and_recalculate(directive, tmp_path)
        for command in block.commands:
            if command.line.startswith("pip "):
                continue
            got = _run(command.line, tmp_path, env)
            problem = output_agrees(command.expected, got, "numbers vary" in block.directives)
            assert problem is None, f"$ {command.line}\n    {problem}\n\n" + "\n".join(got)

    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        examples = doctest.DocTestParser().get_doctest(python_examples(text), {}, "README", "README.md", 0)
        runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
        runner.run(examples)
    finally:
        os.chdir(here)
    assert runner.failures == 0 and runner.tries >= 5
