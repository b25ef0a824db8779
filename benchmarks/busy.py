"""Load for the benchmarks' "busy machine" figures: plain Python busy loops, one per core asked
for, each ending by itself once its parent (the benchmark) is gone, so a killed benchmark
leaves nothing spinning."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

BUSY_LOOP = (
    "import os\n"
    "parent = os.getppid()\n"
    "while os.getppid() == parent:\n"
    "    for _ in range(1_000_000):\n"
    "        pass\n"
)


@contextlib.contextmanager
def busy_cores(count: int):
    """`count` cores kept busy while the block runs (none for 0)."""
    loops = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    try:
        if loops:
            time.sleep(0.5)  # let the scheduler see them before anything is timed
        yield
    finally:
        for loop in loops:
            loop.terminate()
        for loop in loops:
            loop.wait()
