"""Atomic file replacement: an existing file is only ever replaced by a complete one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputError(OSError):
    """The output cannot be written where it was asked for; the message says why."""


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`.

    The temporary file lives in the target's folder so the final rename is atomic. If the
    body raises, the temporary file is removed and `target` is left as it was.

    Raises:
        OutputError: the folder is missing or not writable, or the target is a folder.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder; give a file name")
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")
    try:
        # the temporary name keeps the suffix: torch.export insists on .pt2
        handle, name = tempfile.mkstemp(dir=folder, prefix=f".{target.stem}.",
                                        suffix=f".tmp{target.suffix}")
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        # mkstemp makes the file private; give it the permissions a new file normally gets
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
