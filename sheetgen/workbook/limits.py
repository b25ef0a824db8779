"""How big a workbook sheetgen agrees to build, decided from the spec alone before any work.

A spreadsheet holds 16,384 columns (A to XFD) and 1,048,576 rows; an Excel chart holds 255
series. The file itself is streamed, but the build holds every engine trace (8 bytes a cell of
the workbook) and, while one learning rate trains and its sheet is written, that rate's
per-iteration arrays and cached values: measured 4.1 KB per row of the default network's 33
columns in engine.train (428 MiB peak at 100,000 iterations), so about 160 bytes a cell of one
sheet, rounded up. The estimate below is conservative: 6 rates x 20,000 iterations estimates
218 MiB and measured 144 MiB peak; at the limit, 1 rate x 178,544 iterations (5,891,985
formulas) estimates 1,024 MiB and measured 738 MiB peak (benchmarks/bench_limit.py).
"""

from __future__ import annotations

from sheetgen.workbook.layout import SheetLayout
from sheetgen.workbook.spec import MAX_ITERATIONS, NetworkSpec, SpecError

MAX_COLUMNS = 16_384  # XFD, the last column of a sheet
MAX_CHART_SERIES = 255  # series in one Excel chart: the Overview has one per rate
MAX_BUILD_BYTES = 2**30  # estimated peak; default network: 144,208 iterations at 6 rates
BASE_BYTES = 80 * 2**20  # Python, NumPy, XlsxWriter, matplotlib
TRACE_BYTES_PER_CELL = 8  # every sheet's trace, kept for the whole build
SHEET_BYTES_PER_CELL = 160  # one sheet at a time: the engine's per-iteration arrays, the lists


def check_build_size(spec: NetworkSpec) -> None:
    """Refuse a build that a spreadsheet cannot hold or that would not fit in memory.

    Raises:
        SpecError: the sheet needs more than 16,384 columns or 1,048,576 rows, the Overview
            chart more than 255 series, or the build an estimated MAX_BUILD_BYTES of memory.
    """
    if len(spec.learning_rates) > MAX_CHART_SERIES:
        raise SpecError(
            f"{len(spec.learning_rates)} learning rates: the Overview chart holds "
            f"at most {MAX_CHART_SERIES} series (one per learning rate); give fewer"
        )
    layout = SheetLayout.for_spec(spec)
    columns = max(len(layout.quantities), max(layout.input_col.values(), default=0) + 1)
    if columns > MAX_COLUMNS:
        raise SpecError(
            f"this network needs {columns:,} columns per sheet, but a sheet has "
            f"{MAX_COLUMNS:,} (A to XFD); use fewer units or layers"
        )
    if spec.iterations > MAX_ITERATIONS:  # a NetworkSpec made directly, not by spec_from_dict
        raise SpecError(
            f"{spec.iterations:,} iterations need more rows than a sheet's "
            f"1,048,576; at most {MAX_ITERATIONS:,}"
        )
    rows = spec.iterations + 1
    sheet_cells = rows * (len(layout.quantities) - 1)
    cells = sheet_cells * len(spec.learning_rates)
    estimate = BASE_BYTES + TRACE_BYTES_PER_CELL * cells + SHEET_BYTES_PER_CELL * sheet_cells
    if estimate > MAX_BUILD_BYTES:
        rates = len(spec.learning_rates)
        raise SpecError(
            f"this workbook would need about {estimate / 2**20:,.0f} MiB of memory "
            f"to build ({rates} learning rate{'' if rates == 1 else 's'} × "
            f"{rows:,} rows × "
            f"{len(layout.quantities) - 1} columns, {cells:,} formula cells); "
            f"sheetgen builds at most {MAX_BUILD_BYTES / 2**20:,.0f} MiB: use fewer "
            "iterations, learning rates or units"
        )
