"""benchmarks/lo_recalc.py, which bench_live.py runs for LibreOffice's recalculation time: one
LibreOffice process, calculateAll() timed, wall and CPU seconds that cannot come out negative."""

import json
import subprocess
import sys

import pytest

from sheetgen.analyse.recalc import find_soffice
from tests.conftest import ROOT, require_libreoffice


def uno_python():
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            if subprocess.run([python, "-c", "import uno"], capture_output=True).returncode == 0:
                return python
        except OSError:
            continue
    pytest.skip("no Python with LibreOffice's uno module (python3-uno)")


@pytest.mark.libreoffice
def test_recalculation_is_timed_inside_libreoffice(seed_workbook):
    require_libreoffice()
    done = subprocess.run(
        [uno_python(), str(ROOT / "benchmarks" / "lo_recalc.py"), find_soffice(), str(seed_workbook), "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    times = json.loads(done.stdout)
    assert len(times["wall"]) == 3 and all(0 < t < 60 for t in times["wall"])
    if sys.platform == "linux":
        # LibreOffice's threads: a main thread alone would show microseconds
        assert len(times["cpu"]) == 3 and all(0 < t < 60 for t in times["cpu"])
        assert sum(times["cpu"]) > 0.05 * sum(times["wall"])
