"""Peak memory of a build at the size limit, against the estimate sheetgen/workbook/limits.py refuses by.

    python benchmarks/bench_limit.py                     # 1 learning rate, the largest allowed
    python benchmarks/bench_limit.py --rates 6 --iterations 20000

Builds the default network in this process (a fresh one: run it alone) and prints the
formulas, the seconds, the peak resident memory (ru_maxrss) and limits.py's estimate, which
must stay above the peak for the limit to mean what docs/untrusted-input.md says.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's sheetgen

from sheetgen.workbook import limits
from sheetgen.workbook.layout import SheetLayout
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook


def largest_allowed(spec) -> int:
    """The most iterations limits.check_build_size accepts for spec's learning rates."""
    low, high = 1, 1_048_548
    while low < high:
        middle = (low + high + 1) // 2
        try:
            limits.check_build_size(spec.with_training(None, middle))
            low = middle
        except Exception:  # noqa: BLE001 - SpecError: too large
            high = middle - 1
    return low


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, default=1, help="learning rates (1 to 6)")
    parser.add_argument("--iterations", type=int, help="default: the largest allowed")
    args = parser.parse_args()
    spec = load_spec()
    spec = spec.with_training(list(spec.learning_rates[-args.rates :]), None)
    iterations = args.iterations or largest_allowed(spec)
    spec = spec.with_training(None, iterations)
    columns = len(SheetLayout.for_spec(spec).quantities) - 1
    sheet_cells = (iterations + 1) * columns
    estimate = (
        limits.BASE_BYTES
        + limits.TRACE_BYTES_PER_CELL * sheet_cells * args.rates
        + limits.SHEET_BYTES_PER_CELL * sheet_cells
    )
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        report = build_workbook(spec, Path(folder) / "limit.xlsx")
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.processor() or platform.machine()}; Python {platform.python_version()}")
    print(
        f"build: {args.rates} learning rate(s) x {iterations:,} iterations, "
        f"{report.formulas:,} formulas, {seconds:.0f} s"
    )
    print(
        f"peak RSS {peak:,.0f} MiB; limits.py estimate {estimate / 2**20:,.0f} MiB "
        f"(limit {limits.MAX_BUILD_BYTES / 2**20:,.0f} MiB)"
    )


if __name__ == "__main__":
    main()
