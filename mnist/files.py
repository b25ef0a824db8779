"""Atomic file writes for the run dir: it only ever holds complete files, even after a kill.

The mechanism is sheetgen's (sheetgen.files.atomic_path); these are the two shapes the
training loop calls it in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sheetgen.files import atomic_path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp)`` on a temporary file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as temporary:
        write(temporary)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
