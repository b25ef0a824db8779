"""Network pictures already drawn, kept in the user's cache folder so that matplotlib is not
imported for a network drawn before.

Importing matplotlib and drawing the default network take about 0.7 s, a third of `sheetgen
build` before this cache (profiled). A picture depends only on the network's shape
(diagram.network_shape) and on the code and libraries that draw it, so it is kept under a key
made of exactly those. The cache can never make a workbook differ from one drawn afresh:

- the key is the SHA-256 of the shape's JSON, of every source file of sheetgen.workbook and of
  the versions of sheetgen, matplotlib, Pillow (which writes the PNG) and NumPy; changing any of
  them gives another key;
- an entry is used only if it is a regular file of at most MAX_ENTRY_BYTES, is valid JSON,
  names its own key and holds a PNG with the SHA-256 it records; anything else is drawn again
  and written over;
- an entry is written whole or not at all (files.atomic_path), so no reader sees half of one;
- a cache folder that cannot be made, read or written is no error: the picture is drawn.

The folder is `pictures` in sheetgen.files.user_cache_dir() (set SHEETGEN_CACHE_DIR to move
it); it holds at most MAX_ENTRIES pictures, the least recently used going first.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import math
import os
import stat
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from sheetgen import __version__
from sheetgen.files import atomic_path, user_cache_dir

FORMAT = 1  # of an entry; part of the key
MAX_ENTRIES = 64  # about 60 KB each for the shipped templates
MAX_ENTRY_BYTES = 8 * 2**20
_DRAWING_LIBRARIES = ("matplotlib", "pillow", "numpy")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Drawn:
    """A picture as drawn: the PNG and the figure's size in inches (the PNG's pixels are
    rounded, and the workbook needs the size exactly as matplotlib had it)."""

    png: bytes
    width_inches: float
    height_inches: float


def folder() -> Path:
    """Where the pictures are kept."""
    return user_cache_dir() / "pictures"


def _code_digest() -> str:
    """SHA-256 over every source file of sheetgen.workbook, with their names."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def key(shape_json: str) -> str | None:
    """The key of the picture of a network shape (diagram.network_shape's JSON); None where
    the code or a library's version cannot be read, and the picture is not cached."""
    try:
        versions = [f"{name}={metadata.version(name)}" for name in _DRAWING_LIBRARIES]
        code = _code_digest()
    except (OSError, metadata.PackageNotFoundError):
        return None
    text = "\n".join([f"format={FORMAT}", f"sheetgen={__version__}", *versions, code, shape_json])
    return hashlib.sha256(text.encode()).hexdigest()


def _entry(key: str) -> Path:
    return folder() / f"{key}.json"


def load(key: str) -> Drawn | None:
    """The picture kept under `key`, or None where there is none or it fails any check."""
    path = _entry(key)
    try:
        status = os.lstat(path)
        if not stat.S_ISREG(status.st_mode) or status.st_size > MAX_ENTRY_BYTES:
            return None
        entry = json.loads(path.read_bytes())
        png = base64.b64decode(entry["png"], validate=True)
        width, height = float(entry["width_inches"]), float(entry["height_inches"])
        valid = (
            entry["format"] == FORMAT
            and entry["key"] == key
            and hashlib.sha256(png).hexdigest() == entry["png_sha256"]
            and png.startswith(_PNG_SIGNATURE)
            and all(math.isfinite(x) and x > 0 for x in (width, height))
        )
    except (OSError, ValueError, KeyError, TypeError, binascii.Error, RecursionError):
        return None
    if not valid:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return Drawn(png, width, height)


def store(key: str, drawn: Drawn) -> None:
    """Keep `drawn` under `key`; quietly nothing where the cache folder cannot be written."""
    entry = {
        "format": FORMAT,
        "key": key,
        "width_inches": drawn.width_inches,
        "height_inches": drawn.height_inches,
        "png_sha256": hashlib.sha256(drawn.png).hexdigest(),
        "png": base64.b64encode(drawn.png).decode("ascii"),
    }
    try:
        folder().mkdir(parents=True, exist_ok=True)
        with atomic_path(_entry(key)) as temporary:
            temporary.write_text(json.dumps(entry), encoding="ascii")
        _prune()
    except OSError:
        pass


def _prune() -> None:
    """Remove the least recently used entries beyond MAX_ENTRIES."""
    entries = []
    for path in folder().glob("*.json"):
        if len(path.stem) != 64:  # not an entry (another build's temporary file)
            continue
        with contextlib.suppress(OSError):
            entries.append((path.stat().st_mtime_ns, path))
    entries.sort(reverse=True)
    for _, path in entries[MAX_ENTRIES:]:
        with contextlib.suppress(OSError):
            path.unlink()
