"""The files a run writes: the run dir only ever holds complete files, even after a kill, and
nothing is left in the temporary folder.

The mechanism is sheetgen's (sheetgen.files.atomic_path); these are the shapes the training
loop calls it in. torch's own writers (torch.save, torch.export.save) write into memory first
and the bytes are written here: writing a file themselves, they fail on a full disk with a
RuntimeError, or abort the whole process from C++, where Python's write gives an OSError that
becomes one line.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from sheetgen.files import atomic_path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temp)`` on a temporary file beside ``path``, then rename it over ``path``."""
    with atomic_path(path) as temporary:
        write(temporary)


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temp: temp.write_bytes(data))


def write_serialised(path: Path, save: Callable[[io.BytesIO], None]) -> None:
    """Call ``save(buffer)`` on an in-memory buffer (torch.save, torch.export.save), then write
    its bytes atomically to ``path``."""
    buffer = io.BytesIO()
    save(buffer)
    write_bytes(path, buffer.getvalue())


@contextlib.contextmanager
def private_compiler_cache() -> Iterator[None]:
    """Point torch's compiler cache at a folder of our own for the block, removed afterwards.

    Parts of torch's compiler (dynamo, inductor), imported by torchvision and by torch.export,
    make their cache folder, TMPDIR/torchinductor_USER, as they are imported, and training
    never writes to it: every run would leave an empty folder in the temporary folder. A cache
    folder the user chose (TORCHINDUCTOR_CACHE_DIR) is left as it is.
    """
    if "TORCHINDUCTOR_CACHE_DIR" in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="sheetgen-torch-") as folder:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
        try:
            yield
        finally:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
