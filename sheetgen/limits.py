"""How big a workbook sheetgen agrees to build, decided from the spec alone before any work.

A spreadsheet holds 16,384 columns (A to XFD) and 1,048,576 rows; an Excel chart holds 255
series. The build keeps every engine trace in memory (about 17 bytes a formula cell, measured:
81 MiB peak at 396,198 cells, 144 MiB at 3,960,198), so the cells of one workbook are capped
where that stays a few hundred MiB.
"""

from __future__ import annotations

from sheetgen.layout import SheetLayout, max_iterations
from sheetgen.spec import NetworkSpec, SpecError

MAX_COLUMNS = 16_384          # XFD, the last column of a sheet
MAX_CHART_SERIES = 255        # series in one Excel chart: the Overview has one per rate
MAX_FORMULA_CELLS = 20_000_000  # about 350 MiB of traces; 6 rates x 100,000 rows of the seed


def check_build_size(spec: NetworkSpec) -> None:
    """Refuse a build that a spreadsheet cannot hold or that would not fit in memory.

    Raises:
        SpecError: the sheet needs more than 16,384 columns or 1,048,576 rows, the Overview
            chart more than 255 series, or the workbook more than MAX_FORMULA_CELLS cells.
    """
    if len(spec.learning_rates) > MAX_CHART_SERIES:
        raise SpecError(f"{len(spec.learning_rates)} learning rates: the Overview chart holds "
                        f"at most {MAX_CHART_SERIES} series (one per learning rate); give fewer")
    layout = SheetLayout.for_spec(spec)
    columns = max(len(layout.quantities), max(layout.input_col.values(), default=0) + 1)
    if columns > MAX_COLUMNS:
        raise SpecError(f"this network needs {columns:,} columns per sheet, but a sheet has "
                        f"{MAX_COLUMNS:,} (A to XFD); use fewer units or layers")
    if spec.iterations > max_iterations():
        raise SpecError(f"{spec.iterations:,} iterations need more rows than a sheet's "
                        f"1,048,576; at most {max_iterations():,}")
    rows = spec.iterations + 1
    cells = rows * (len(layout.quantities) - 1) * len(spec.learning_rates)
    if cells > MAX_FORMULA_CELLS:
        raise SpecError(f"this workbook would hold {cells:,} formula cells "
                        f"({len(spec.learning_rates)} learning rates × {rows:,} rows × "
                        f"{len(layout.quantities) - 1} columns); sheetgen builds at most "
                        f"{MAX_FORMULA_CELLS:,} (about 17 bytes of memory each): use fewer "
                        "iterations, learning rates or units")
