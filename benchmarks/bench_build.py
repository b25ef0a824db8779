"""How fast `sheetgen build` is: the everyday command as a user runs it, and a large workbook
against bare XlsxWriter writing the same cells.

    python benchmarks/bench_build.py                 # 6 learning rates x 2,000 iterations
    python benchmarks/bench_build.py --repeats 3 --iterations 500

The default build: `python -m sheetgen build -o FILE` as a whole process (start-up, imports,
engine, writing, the file replaced), timed from outside, --repeats times over the same file,
once with no load added and once with one core kept busy by a plain Python loop that the
benchmark starts and stops; the load average is printed beside each (other work on a shared
machine shows there). The network picture comes from the user's cache after the
first build (sheetgen/workbook/picture_cache.py), so the first build of a network is timed
apart, with an empty cache folder. Target: under 1.5 s.

The large workbook: the baseline gets every cell of sheetgen's own workbook (each formula with
its cached value, each number and label, read back from a file sheetgen built) and does nothing
but write them with XlsxWriter in constant_memory mode: no engine, no formula emitter, no
charts, no diagram. Each run is a fresh process, so its peak resident memory (VmHWM) is its
own; memory is flat when the peak does not grow with the number of rows. Target: sheetgen at
most as slow as the baseline (ratio <= 1.0).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from busy import busy_cores  # beside this script

from sheetgen.machine import cpu_name


def build_with_sheetgen(iterations: int, output: Path) -> float:
    from sheetgen.workbook.spec import load_spec
    from sheetgen.workbook.writer import build_workbook

    started = time.perf_counter()
    spec = load_spec().with_training(iterations=iterations)
    build_workbook(spec, output)
    return time.perf_counter() - started


def read_cells(workbook: Path, cells_file: Path) -> int:
    """Every cell of every sheet as (row, col, formula or value, cached value), pickled."""
    import openpyxl

    formulas = openpyxl.load_workbook(workbook, read_only=True)
    values = openpyxl.load_workbook(workbook, read_only=True, data_only=True)
    sheets, count = [], 0
    for name in formulas.sheetnames:
        cells = []
        for row_f, row_v in zip(formulas[name].iter_rows(), values[name].iter_rows()):
            for f, v in zip(row_f, row_v):
                content = f.value
                if content is None:
                    continue
                if hasattr(content, "text"):  # an array formula
                    content = "{" + content.text + "}"
                cells.append((f.row - 1, f.column - 1, content, v.value))
        sheets.append((name, cells))
        count += len(cells)
    cells_file.write_bytes(pickle.dumps(sheets))
    return count


def build_bare(cells_file: Path, output: Path) -> float:
    import xlsxwriter

    sheets = pickle.loads(cells_file.read_bytes())
    started = time.perf_counter()
    workbook = xlsxwriter.Workbook(str(output), {"constant_memory": True})
    for name, cells in sheets:
        ws = workbook.add_worksheet(name)
        write_formula, write = ws.write_formula, ws.write
        for row, col, content, cached in cells:
            if isinstance(content, str) and content.startswith("{="):
                ws.write_array_formula(row, col, row, col, content, None, cached)
            elif isinstance(content, str) and content.startswith("="):
                write_formula(row, col, content, None, cached)
            else:
                write(row, col, content)
    workbook.close()
    return time.perf_counter() - started


def child(args) -> None:
    output = Path(args.output)
    if args.child == "sheetgen":
        seconds = build_with_sheetgen(args.iterations, output)
    else:
        seconds = build_bare(Path(args.cells), output)
    print(json.dumps({"seconds": seconds, "peak_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over from the parent across fork and exec, which would report the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(kind: str, iterations: int, output: Path, cells: Path | None = None) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--iterations",
        str(iterations),
        "--output",
        str(output),
    ] + (["--cells", str(cells)] if cells else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BUILD_TARGET = 1.5  # seconds


def time_default_build(output: Path, cache: Path) -> float:
    """Wall seconds of one `python -m sheetgen build -o output`, the whole process."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "sheetgen", "build", "-o", str(output)],
        check=True,
        capture_output=True,
        cwd=ROOT,  # this checkout's sheetgen
        env={**os.environ, "SHEETGEN_CACHE_DIR": str(cache)},
    )
    return time.perf_counter() - started


def default_builds(folder: Path, repeats: int, busy: bool) -> tuple[float, list[float]]:
    """(the first build, with an empty picture cache; the builds after it), wall seconds,
    idle or with one core busy."""
    with busy_cores(1 if busy else 0):
        cache = folder / f"cache-{'busy' if busy else 'idle'}"
        output = folder / "backprop.xlsx"
        first = time_default_build(output, cache)
        return first, [time_default_build(output, cache) for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", choices=["sheetgen", "bare"])
    parser.add_argument("--output")
    parser.add_argument("--cells")
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        for busy in (False, True):
            load_before = os.getloadavg()[0]
            first, runs = default_builds(temp, args.repeats, busy)
            print(
                f"default build, {'one core kept busy' if busy else 'no load added'}: median "
                f"{statistics.median(runs):.2f} s over {args.repeats} runs (runs: "
                f"{', '.join(f'{r:.2f}' for r in runs)}); the network's first build, its picture "
                f"not yet cached: {first:.2f} s; load average {load_before:.1f} before, "
                f"{os.getloadavg()[0]:.1f} after (target < {DEFAULT_BUILD_TARGET} s)"
            )
        ours = temp / "sheetgen.xlsx"
        measure("sheetgen", args.iterations, ours)  # warm caches and make the cells to copy
        count = read_cells(ours, temp / "cells.pickle")
        print(
            f"workbook: 6 learning rates x {args.iterations:,} iterations, "
            f"{count:,} cells, {ours.stat().st_size / 2**20:.1f} MiB"
        )
        results = {"sheetgen": [], "bare": []}
        for _ in range(args.repeats):  # interleaved, so drift in the machine hits both
            results["sheetgen"].append(measure("sheetgen", args.iterations, ours))
            results["bare"].append(
                measure("bare", args.iterations, temp / "bare.xlsx", temp / "cells.pickle")
            )
        small = measure("sheetgen", max(1, args.iterations // 10), temp / "small.xlsx")
    median = {k: statistics.median(r["seconds"] for r in v) for k, v in results.items()}
    peak = {k: statistics.median(r["peak_mib"] for r in v) for k, v in results.items()}
    print(
        f"sheetgen build:   median {median['sheetgen']:.2f} s over {args.repeats} runs "
        f"(min {min(r['seconds'] for r in results['sheetgen']):.2f}), "
        f"peak RSS {peak['sheetgen']:.0f} MiB"
    )
    print(
        f"bare XlsxWriter:  median {median['bare']:.2f} s over {args.repeats} runs "
        f"(min {min(r['seconds'] for r in results['bare']):.2f}), "
        f"peak RSS {peak['bare']:.0f} MiB (holds the {count:,} cells in memory)"
    )
    print(f"ratio sheetgen / bare: {median['sheetgen'] / median['bare']:.2f}x (target <= 1.0x)")
    print(
        f"memory: sheetgen peak RSS {small['peak_mib']:.0f} MiB at "
        f"{max(1, args.iterations // 10):,} iterations, {peak['sheetgen']:.0f} MiB at "
        f"{args.iterations:,}"
    )


if __name__ == "__main__":
    main()
