"""What machine this is, as benchmarks and run records name it: the CPU's model and the cores
this process may use. Standard library only, so a benchmark of a command that never imports
torch does not import it either."""

from __future__ import annotations

import os
import platform


def cpu_name() -> str:
    """The CPU model as lscpu names it (from /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may run on (its affinity, where the system says), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)
