"""Atomic file writes: a run dir only ever holds complete files, even after a kill."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp)`` on a temp file beside ``path``, then rename it over ``path``.

    The temp name keeps the file's suffix (torch.export insists on ``.pt2``), and the rename
    happens in the same directory, so readers see the old file or the new one, never half.
    """
    path = Path(path)
    temp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        write(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
