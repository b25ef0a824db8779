"""Recalculate a workbook in LibreOffice headless, so its numbers come from an engine that is not
ours.

LibreOffice normally trusts the cached values in an .xlsx; a throwaway profile whose settings
force recalculation on load (OOXMLRecalcMode = 0, "always") makes it compute every formula.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from sheetgen.files import signals_unwind

INSTALL_HINT = "sudo apt-get install -y libreoffice-calc-nogui"

_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop>
</item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop>
</item>
</oor:items>
"""


class RecalcError(RuntimeError):
    """LibreOffice is missing or could not recalculate the workbook."""


def find_soffice() -> str | None:
    """Path of LibreOffice's soffice, or None."""
    for name in ("soffice", "libreoffice"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _convert(
    soffice: str, sources: list[Path], out_dir: Path, target: str, profile: Path, timeout: float
) -> list[Path]:
    """Convert every source in one LibreOffice start (starting it is most of the cost)."""
    command = [
        soffice,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--convert-to",
        target,
        "--outdir",
        str(out_dir),
        *map(str, sources),
    ]
    # its temporary files (lu*.tmp) inside the profile too: stopped at once, LibreOffice leaves
    # them behind, and they go with our temporary folder
    env = {**os.environ, "HOME": str(profile), "TMPDIR": str(profile / "tmp")}
    what = sources[0] if len(sources) == 1 else f"{len(sources)} workbooks"
    # soffice is a launcher that starts soffice.bin, which does the work: in a session of their
    # own, the two are one process group, ended together whatever stops us (Ctrl-C, SIGTERM, a
    # timeout), so that no LibreOffice is left running, or holding our temporary folder
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_group(process)
        raise RecalcError(f"LibreOffice took more than {timeout:.0f} s on {what}") from None
    except BaseException:
        _end_group(process)
        raise
    _end_group(process)  # a helper it started and left behind, if any
    results = [out_dir / (source.stem + "." + target.split(":")[0]) for source in sources]
    missing = [source for source, result in zip(sources, results) if not result.exists()]
    if process.returncode != 0 or missing:
        detail = (stderr or stdout).strip().splitlines()
        raise RecalcError(
            f"LibreOffice could not convert {missing[0] if missing else what}: "
            f"{detail[-1] if detail else 'exit ' + str(process.returncode)}"
        )
    return results


def _end_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """End every process of LibreOffice's group: SIGTERM, then SIGKILL after `grace` seconds."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, signum)
        except (ProcessLookupError, PermissionError):
            break  # the group is gone (or, for a launcher that already exited, reused: leave it)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(process.pid):
            break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def recalculate(path: str | Path, out_dir: str | Path, timeout: float = 600) -> Path:
    """Recalculate every formula of `path` in LibreOffice and save the result as .xlsx.

    Args:
        path: the workbook.
        out_dir: folder for the recalculated copy (named like the original).
        timeout: seconds before giving up.

    Returns:
        Path of the recalculated copy; read it with openpyxl(data_only=True).

    Raises:
        RecalcError: LibreOffice is not installed, or failed.
    """
    return _run(path, out_dir, "xlsx:Calc MS Excel 2007 XML", timeout)


def to_pdf(path: str | Path, out_dir: str | Path, timeout: float = 600) -> Path:
    """Render a workbook to PDF with LibreOffice (recalculating first), for a look at it."""
    return _run(path, out_dir, "pdf", timeout)


def to_pdf_many(paths, out_dir: str | Path, timeout: float = 600) -> list[Path]:
    """to_pdf() for several workbooks in one LibreOffice run (file names must differ)."""
    return _run(paths, out_dir, "pdf", timeout)


def recalculate_many(paths, out_dir: str | Path, timeout: float = 600) -> list[Path]:
    """recalculate() for several workbooks in one LibreOffice run, which is much faster.

    Args:
        paths: the workbooks; their file names must differ, as the copies keep them.
        out_dir: folder for the recalculated copies.
        timeout: seconds before giving up on the whole run.

    Returns:
        Paths of the recalculated copies, in the order of `paths`.

    Raises:
        RecalcError: LibreOffice is not installed, or failed.
        ValueError: two workbooks have the same file name.
    """
    return _run(paths, out_dir, "xlsx:Calc MS Excel 2007 XML", timeout)


def _run(paths, out_dir, target: str, timeout: float):
    single = isinstance(paths, (str, Path))
    sources = [Path(p).resolve() for p in ([paths] if single else paths)]
    names = [source.stem for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(
            "recalculate_many: two workbooks share a file name; the copies would overwrite each other"
        )
    soffice = find_soffice()
    if soffice is None:
        raise RecalcError(f"LibreOffice is not installed; install it with: {INSTALL_HINT}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # SIGTERM and SIGHUP unwind like Ctrl-C: LibreOffice is ended and the folder removed
    with signals_unwind(), tempfile.TemporaryDirectory(prefix="sheetgen-lo-") as temp:
        profile = Path(temp) / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "tmp").mkdir()
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE)
        # Converting into a scratch folder first keeps a same-named source safe.
        scratch = Path(temp) / "out"
        scratch.mkdir()
        finals = []
        for result in _convert(soffice, sources, scratch, target, profile, timeout):
            final = out_dir / result.name
            shutil.move(str(result), final)
            finals.append(final)
        return finals[0] if single else finals
