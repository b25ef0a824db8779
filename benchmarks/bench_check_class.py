"""How fast `sheetgen check` goes through a class: 300 submissions checked, annotated and
reported as a teacher runs it.

    python benchmarks/bench_check_class.py                      # 300 submissions, 3 runs
    python benchmarks/bench_check_class.py --size 60 --repeats 1

The class is made from the tests' hand-made workbooks (tests/handmade.py, saved with cached
values and a picture as Excel saves them, tests/excel_saved.py), copied and varied: two layouts
(one table under a block of inputs; three tables on two sheets), η from 0.1 to 2, and none or
one of four mistakes a class makes (another unit's slope, an update's sign, a missing ½, a
slope where the other belongs from the first row). Every twentieth is saved without cached
values, as some programs save, so LibreOffice converts it first (check batches those).

Each run is the whole command, `python -m sheetgen check CLASS --annotate OUT --report
class.xlsx`, timed from outside: start-up, reading, checking, LibreOffice, the annotated copies
and the report. It runs with check's default (one process per usable core) and with --jobs 1,
idle and with one core kept busy by a plain Python loop (users' machines are rarely idle);
the load average is printed beside each. Prints medians, files per second, the machine.
Target: 300 submissions in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from busy import busy_cores
from excel_saved import picture, write_excel_saved
from handmade import layout_block, layout_several, write_workbook

from sheetgen.machine import cpu_name, usable_cores

TARGET_SECONDS, TARGET_SIZE = 60.0, 300
ETAS = (0.1, 0.2, 0.5, 0.8, 1.0, 2.0)
# mistakes as the tests plant them: a column's formula from a given row on
BLOCK_MISTAKES = (
    {},
    {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 3)},  # a_h1's slope where a_h2's belongs
    {"w5": ("{w5@p}+{eta}*{g5@p}", 1)},  # the update's sign
    {"E1": ("({t1}-{ao1})^2", 0)},  # the ½ missing
    {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 0)},
)
SEVERAL_MISTAKES = ({}, {"w5": ("{w5@p}+{eta}*{g5@p}", 1)}, {"E1": ("({t1}-{ao1})^2", 0)})


def make_class(folder: Path, size: int) -> None:
    folder.mkdir(parents=True)
    png = picture(folder.parent / "picture.png")
    for n in range(size):
        path = folder / f"student-{n:03d}.xlsx"
        if n % 2 == 0:
            sheets = layout_block(BLOCK_MISTAKES[n // 2 % len(BLOCK_MISTAKES)])
        else:
            sheets = layout_several(SEVERAL_MISTAKES[n // 2 % len(SEVERAL_MISTAKES)])
        for plans in sheets.values():
            for plan in plans:
                plan.eta = ETAS[n % len(ETAS)] if len(sheets) == 1 else plan.eta
        layout = "block" if len(sheets) == 1 else "several"
        if n % 20 == 19:
            write_workbook(path, layout, sheets)  # no cached values: LibreOffice converts it
        else:
            write_excel_saved(path, layout, sheets, png)


def one_run(folder: Path, out: Path, jobs: int | None) -> tuple[float, str]:
    command = [sys.executable, "-m", "sheetgen", "check", str(folder)]
    command += ["--annotate", str(out / "checked"), "--report", str(out / "class.xlsx")]
    if jobs is not None:
        command += ["--jobs", str(jobs)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"check failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    summary = next(line for line in done.stdout.splitlines() if " files: " in line)
    return seconds, summary


def runs(folder: Path, work: Path, jobs: int | None, repeats: int, busy: bool) -> tuple[list[float], str]:
    with busy_cores(1 if busy else 0):
        times, summary = [], ""
        for r in range(repeats):
            out = work / f"out-{jobs}-{busy}-{r}"
            out.mkdir()
            seconds, summary = one_run(folder, out, jobs)
            times.append(seconds)
        return times, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=TARGET_SIZE, help="submissions in the class")
    parser.add_argument("--repeats", type=int, default=3, help="runs per condition (median)")
    args = parser.parse_args()
    cores = usable_cores()
    print(f"machine: {cpu_name()}, {cores} usable cores; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="bench-check-class-") as temp:
        work = Path(temp)
        started = time.perf_counter()
        make_class(work / "class", args.size)
        print(f"made {args.size} submissions in {time.perf_counter() - started:.1f} s")
        for busy in (False, True):
            for jobs in (None, 1):
                load = os.getloadavg()[0]
                times, summary = runs(work / "class", work, jobs, args.repeats, busy)
                median = statistics.median(times)
                label = f"--jobs {jobs}" if jobs else f"default ({cores} processes)"
                condition = "one core kept busy" if busy else "no load added"
                print(
                    f"{label}, {condition}: median {median:.1f} s over {len(times)} runs "
                    f"({', '.join(f'{t:.1f}' for t in times)}), {args.size / median:.1f} files/s; "
                    f"load average {load:.1f} before"
                    + (f" (target < {TARGET_SECONDS:.0f} s for {TARGET_SIZE})" if jobs is None else "")
                )
        print(f"last summary line: {summary}")


if __name__ == "__main__":
    main()
