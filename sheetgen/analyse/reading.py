"""Reading a workbook back: each sheet as a grid of values or of formulas. (The spec that
sheetgen recorded in the workbooks it builds is read from the grids by
sheetgen.record.record_from_grids.)

openpyxl gives a cell either its formula or the value the file cached for it, never both, so a
workbook is read twice. Grids are plain lists of rows (0-based, as the layout counts), read in
openpyxl's read-only mode, which streams even a large workbook quickly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from sheetgen import untrusted

# NoSpecError is raised by sheetgen.record.record_from_grids; callers catch it from here too.
from sheetgen.record import NoSpecError  # noqa: F401

# defined beside the guard that raises most of them; re-exported for the readers here
from sheetgen.untrusted import RefusedWorkbook, WorkbookError

Grid = list[tuple]


def load_grids(
    path: str | Path, formulas: bool, limits: untrusted.Limits | None = None, *, shown_as: str | None = None
) -> dict[str, Grid]:
    """Every sheet of a workbook as a grid: its formulas (and constants), or its cached values.

    Args:
        path: the .xlsx file.
        formulas: True for formulas as text ("=B28-$B$5*AA28"), False for cached values
            (None where a formula cell has none, as in files that openpyxl saved).
        limits: how large it may be (sheetgen.untrusted); None: the limits for any workbook.
        shown_as: how messages name the file (the user's, for a copy made from it).

    Raises:
        WorkbookError: the file is missing, is not a readable .xlsx workbook, or exceeds the
            limits (checked before anything is parsed).
    """
    import openpyxl  # only what reads workbooks back needs it at import

    path = Path(path)
    limits = limits or untrusted.foreign_limits()
    shown = str(path) if shown_as is None else shown_as
    # sizes, DTDs and encodings, before any XML is parsed
    untrusted.guard_workbook(path, limits, shown_as=shown)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about parts it drops (sparklines, shapes); none hold a cell
            warnings.simplefilter("ignore", UserWarning)
            book = openpyxl.load_workbook(path, read_only=True, data_only=not formulas)
    except Exception as exc:  # noqa: BLE001 - any failure on someone else's file is theirs
        raise _unreadable(shown, exc) from None
    try:
        # A stale <dimension> (common in hand-made files) would cut rows short; read them all.
        grids, cells = {}, 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # parsed lazily, sheet by sheet
            for ws in book.worksheets:
                ws.reset_dimensions()
                grid = grids[ws.title] = []
                for row in ws.iter_rows(values_only=True):
                    cells += len(row)
                    if cells > limits.cells:  # cells without references escape guard_workbook
                        raise RefusedWorkbook(
                            f"{shown} is not a readable workbook: its sheets hold more than "
                            f"{limits.cells:,} cells; sheetgen reads at most that"
                        )
                    grid.append(tuple(row))
        return grids
    except WorkbookError:
        raise
    except Exception as exc:  # noqa: BLE001 - a sheet's XML is parsed only as it is read
        raise _unreadable(shown, exc) from None
    finally:
        book.close()


def _unreadable(shown: str, exc: Exception) -> WorkbookError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if not reason or type(exc).__module__.startswith("defusedxml"):
        reason = f"{type(exc).__name__} {reason}".strip()
    return WorkbookError(f"{shown} is not a readable workbook: {reason.splitlines()[0][:200]}")


def cell(grid: Grid, row: int, col: int):
    """The value at a 0-based row and column, None outside the grid."""
    if 0 <= row < len(grid) and 0 <= col < len(grid[row]):
        return grid[row][col]
    return None


def uncached_formulas(formula_grids: dict[str, Grid], value_grids: dict[str, Grid]) -> int:
    """How many formula cells have no cached value (files saved by openpyxl have none)."""
    missing = 0
    for name, grid in formula_grids.items():
        values = value_grids.get(name, [])
        for r, row in enumerate(grid):
            for c, text in enumerate(row):
                if isinstance(text, str) and text.startswith("=") and cell(values, r, c) is None:
                    missing += 1
    return missing
