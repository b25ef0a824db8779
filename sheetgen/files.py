"""Atomic file replacement: an existing file is only ever replaced by a complete one; and
where sheetgen keeps files of its own (the user's cache folder)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

# What a workbook we write may be called: XlsxWriter writes .xlsx packages only, and Excel
# refuses a file whose extension does not match its content.
WORKBOOK_SUFFIXES = (".xlsx",)


class OutputError(OSError):
    """The output cannot be written where it was asked for; the message says why."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived while a file was being written; it unwinds like Ctrl-C so
    that every temporary file is removed on the way out."""


def user_cache_dir() -> Path:
    """sheetgen's folder in the per-user cache: $SHEETGEN_CACHE_DIR where it is set, else
    ~/.cache/sheetgen ($XDG_CACHE_HOME on Linux), ~/Library/Caches/sheetgen on macOS,
    %LOCALAPPDATA%\\sheetgen on Windows. Nothing is created."""
    chosen = os.environ.get("SHEETGEN_CACHE_DIR")
    if chosen:
        return Path(chosen).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sheetgen"


def check_workbook_suffix(path: str | Path) -> None:
    """Refuse a workbook name whose extension is not .xlsx (xlsx bytes in notes.csv mislead).

    Raises:
        OutputError: the name ends otherwise.
    """
    path = Path(path)
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        raise OutputError(
            f"cannot write {path}: a workbook's name must end in .xlsx, not {path.suffix or 'nothing'!r}"
        )


def check_replaceable(target: str | Path) -> os.stat_result | None:
    """The status of an existing regular file at `target`, None if nothing is there.

    Only a regular file is ever replaced: renaming over /dev/null, a FIFO or a link would
    destroy something that is not ours.

    Raises:
        OutputError: `target` is a folder, a link, a device, a FIFO or a socket.
    """
    target = Path(target)
    try:
        status = os.lstat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
    if stat.S_ISREG(status.st_mode):
        return status
    if stat.S_ISDIR(status.st_mode):
        raise OutputError(f"cannot write {target}: it is a folder; give a file name")
    kind = "a symbolic link" if stat.S_ISLNK(status.st_mode) else "a device, FIFO or socket"
    raise OutputError(
        f"cannot write {target}: it is {kind}, not a regular file; only a regular file is ever replaced"
    )


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into a Terminated exception for the duration of the block.

    Their default action kills the process on the spot, leaving temporary files behind;
    as an exception they run every cleanup on the way out. Only the main thread can set
    handlers, so elsewhere the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def unwind(signum, frame):
        raise Terminated(f"stopped by {signal.Signals(signum).name}")

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        previous[signum] = signal.signal(signum, unwind)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back; the default
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


# The longest temporary name: file systems allow 255 bytes a name, and a temporary file's name
# gets more appended on the way (the workbook's seal writes NAME.seal beside it).
MAX_TEMPORARY_NAME_BYTES = 200


def temporary_name(target: Path) -> str:
    """.STEM.xxxxxxxx.tmpSUFFIX, for a temporary file beside `target`: hidden, recognisably the
    target's, and keeping its suffix (torch.export insists on .pt2). A long stem is cut, not
    the user's name: a legal 250-byte name must still be writable."""
    random, suffix = secrets.token_hex(4), f".tmp{target.suffix}"
    room = MAX_TEMPORARY_NAME_BYTES - len(os.fsencode(f"..{random}{suffix}"))
    stem = target.stem
    while len(os.fsencode(stem)) > room:  # whole characters, never half of one
        stem = stem[:-1]
    return f".{stem}.{random}{suffix}"


def _create_beside(target: Path, folder: Path) -> Path:
    """A new empty file beside `target`, made with the permissions a new file normally gets.

    O_CREAT applies the process umask itself, so the umask is never read by setting it (which
    would change it for every thread for a moment).
    """
    for _ in range(100):
        name = folder / temporary_name(target)
        try:
            handle = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return name
    raise FileExistsError(f"no free temporary name in {folder}")


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success rename it onto `target`.

    The temporary file lives in the target's folder so the final rename is atomic; it is
    flushed to disk before the rename, so a crash leaves the old file or the new one, and it
    takes the replaced file's permissions. If the body raises (Ctrl-C, SIGTERM and SIGHUP
    included), the temporary file is removed and `target` is left as it was.

    Raises:
        OutputError: the folder is missing or not writable, or the target exists and is not
            a regular file.
    """
    target = Path(target)
    folder = target.parent if str(target.parent) else Path(".")
    existing = check_replaceable(target)
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: folder {folder} does not exist")
    with signals_unwind():
        try:
            temporary = _create_beside(target, folder)
        except OSError as exc:
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        try:
            yield temporary
            if existing is not None:
                os.chmod(temporary, stat.S_IMODE(existing.st_mode))
            _fsync(temporary)
            check_replaceable(target)  # it may have become something else meanwhile
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
