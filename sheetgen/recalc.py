"""Recalculate a workbook in LibreOffice headless, so its numbers come from an engine that is not
ours.

LibreOffice normally trusts the cached values in an .xlsx; a throwaway profile whose settings
force recalculation on load (OOXMLRecalcMode = 0, "always") makes it compute every formula.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

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


def _convert(soffice: str, source: Path, out_dir: Path, target: str, profile: Path,
             timeout: float) -> Path:
    command = [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
               "--norestore", "--nolockcheck", "--convert-to", target, "--outdir",
               str(out_dir), str(source)]
    env = {**os.environ, "HOME": str(profile)}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise RecalcError(f"LibreOffice took more than {timeout:.0f} s on {source}") from None
    result = out_dir / (source.stem + "." + target.split(":")[0])
    if done.returncode != 0 or not result.exists():
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise RecalcError(f"LibreOffice could not convert {source}: "
                          f"{detail[-1] if detail else 'exit ' + str(done.returncode)}")
    return result


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


def _run(path, out_dir, target: str, timeout: float) -> Path:
    soffice = find_soffice()
    if soffice is None:
        raise RecalcError(f"LibreOffice is not installed; install it with: {INSTALL_HINT}")
    source = Path(path).resolve()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sheetgen-lo-") as temp:
        profile = Path(temp) / "profile"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE)
        # Converting into a scratch folder first keeps a same-named source safe.
        scratch = Path(temp) / "out"
        scratch.mkdir()
        result = _convert(soffice, source, scratch, target, profile, timeout)
        final = out_dir / result.name
        shutil.move(str(result), final)
        return final
