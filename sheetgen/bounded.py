"""Text from elsewhere, read with bounds before it is parsed: a file that must be a regular file
of bounded size (a template), JSON whose nesting is bounded (a workbook's record, a run dir's
files), and numbers only in plain ASCII decimal digits (options, a run's metrics.csv).
Workbooks have their own guard, sheetgen/untrusted.py.

Python's float() and int() accept more than decimal numbers: "1_0" is 10, "٣" (an
Arabic-Indic three) is 3, "１" (a full-width one) is 1, and "nan" and "infinity" are floats.
A mistyped value must be refused, not read as another number.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path


class RefusedFile(ValueError):
    """A file refused before it is read: not a regular file, or larger than allowed. The message
    says why without naming the file, so that the caller names it as the user gave it."""


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`, never blocking on what is not one.

    The file is opened without blocking (a FIFO with no writer would otherwise wait forever)
    and its status taken from the open file, so what is checked is what is read; a device such
    as /dev/zero, which reports no size and never ends, is refused before a byte is read.

    Raises:
        FileNotFoundError: nothing is there.
        RefusedFile: a folder, a FIFO, a device or a socket, or more than `max_bytes`.
        OSError: it cannot be opened or read (permissions, I/O).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    handle = os.open(path, flags)
    try:
        mode, size = (status := os.fstat(handle)).st_mode, status.st_size
        if stat.S_ISDIR(mode):
            raise RefusedFile("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise RefusedFile("is not a regular file (it is a device, FIFO or socket)")
        too_large = f"holds more than {max_bytes:,} bytes; sheetgen reads at most that"
        if size > max_bytes:
            raise RefusedFile(too_large)
        with os.fdopen(os.dup(handle), "rb") as stream:
            data = stream.read(max_bytes + 1)  # it may have grown since fstat
        if len(data) > max_bytes:
            raise RefusedFile(too_large)
        return data
    finally:
        os.close(handle)


MAX_JSON_DEPTH = 32  # arrays and objects inside each other; sheetgen's own JSON nests 8 deep
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deeply the arrays and objects of a JSON text nest, counted without parsing it (a
    bracket inside a string does not count); malformed JSON gets a number json.loads refuses."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def load_json(text: str, max_depth: int = MAX_JSON_DEPTH):
    """json.loads for a text from elsewhere, whose nesting is bounded before it is parsed
    (json.loads recurses once per level, and a text of ten thousand brackets exhausts the
    stack).

    Raises:
        ValueError: the text nests more than `max_depth` deep, or is not JSON.
    """
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"its JSON nests {depth:,} levels deep; sheetgen reads at most {max_depth}")
    return json.loads(text)


_PLAIN_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_INT = re.compile(r"[+-]?[0-9]+")


def plain_float(text: str) -> float | None:
    """The float that `text` spells in plain ASCII decimal, or None when it spells none."""
    return float(text) if _PLAIN_FLOAT.fullmatch(text) else None


def plain_int(text: str) -> int | None:
    """The whole number that `text` spells in plain ASCII digits, or None when it spells none
    (or has more digits than Python converts, 4,300)."""
    if not _PLAIN_INT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        return None
