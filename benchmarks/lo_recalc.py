"""Time LibreOffice recalculating every formula of a workbook, inside one LibreOffice process.

    python3 benchmarks/lo_recalc.py SOFFICE WORKBOOK REPEATS     # a Python with LibreOffice's uno

Run by bench_live.py with a Python that can import LibreOffice's `uno` module (python3-uno on
Debian and Ubuntu; LibreOffice's own python elsewhere). It starts LibreOffice headless with a
throwaway profile that never recalculates on load, opens the workbook, and times
`calculateAll()` (a hard recalculation, what loading with recalculation forced does) REPEATS
times: wall seconds around the call and, on Linux, the CPU time LibreOffice's process spent in
it (from /proc). Start-up, loading and saving are not in the interval, so the figure is the
recalculation alone, not a difference of two whole runs. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uno  # LibreOffice's Python bridge: this script is run by a Python that has it

NEVER_RECALCULATE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>1</value></prop>
</item>
</oor:items>
"""


def cpu_seconds(pid: int) -> float | None:
    """CPU time of a process's threads so far, in nanoseconds' precision (Linux: each
    thread's /proc schedstat; the process's own covers its main thread only), or None."""
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except FileNotFoundError:  # a thread that ended meanwhile
                continue
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def office_process(launcher: int) -> int:
    """The pid of the process that does the work: the launcher (soffice, which execs oosplash)
    runs soffice.bin as its child, and starts it again after a fresh profile's first start."""
    try:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with open(entry / "stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == launcher and (entry / "comm").read_text().strip() == "soffice.bin":
                    return int(entry.name)
    except OSError:
        pass
    return launcher


def connect(pipe: str, deadline: float):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    while True:
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:  # NoConnectException (a UNO type) until LibreOffice listens
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main() -> int:
    soffice, workbook, repeats = sys.argv[1], Path(sys.argv[2]).resolve(), int(sys.argv[3])
    folder = Path(tempfile.mkdtemp(prefix="bench-recalc-"))
    (folder / "user").mkdir()
    (folder / "user" / "registrymodifications.xcu").write_text(NEVER_RECALCULATE)
    pipe = f"sheetgen_bench_{os.getpid()}"
    office = subprocess.Popen(
        [
            soffice,
            f"-env:UserInstallation={folder.as_uri()}",
            "--headless",
            "--invisible",
            "--norestore",
            "--nolockcheck",
            f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HOME": str(folder)},
    )
    try:
        context = connect(pipe, time.monotonic() + 120)
        desktop = context.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", context)
        hidden = uno.createUnoStruct("com.sun.star.beans.PropertyValue")
        hidden.Name, hidden.Value = "Hidden", True
        document = desktop.loadComponentFromURL(workbook.as_uri(), "_blank", 0, (hidden,))
        worker = office_process(office.pid)
        walls, cpus = [], []
        for _ in range(repeats):
            cpu_before, started = cpu_seconds(worker), time.perf_counter()
            document.calculateAll()
            walls.append(time.perf_counter() - started)
            cpu_after = cpu_seconds(worker)
            if cpu_before is not None and cpu_after is not None:
                cpus.append(cpu_after - cpu_before)
        document.close(True)
        try:
            desktop.terminate()
        except Exception:  # noqa: BLE001 - the bridge drops as LibreOffice exits
            pass
        office.wait(timeout=60)
    finally:
        if office.poll() is None:
            office.kill()
            office.wait()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({"wall": walls, "cpu": cpus or None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
