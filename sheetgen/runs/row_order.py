"""A sheet's cells collected in any order and written in row order.

The workbook is written in XlsxWriter's constant_memory mode, which writes a row out as soon as
a later one is started; the live CNN sheets are easier to build layer by layer, so their cells
are collected here first.
"""

from __future__ import annotations

from collections import defaultdict


class RowOrderCells:
    """Calls to a worksheet's write methods, held back and made in row order by flush()."""

    def __init__(self, ws, filler=None):
        """filler: a format for a blank cell in a row that has a height but no cells, which
        constant_memory mode would otherwise not write (leaving the row its default height)."""
        self.ws = ws
        self.filler = filler
        self.rows: dict[int, list] = defaultdict(list)
        self.heights: dict[int, float] = {}
        self.formulas = 0

    def put(self, row: int, col: int, method: str, *args) -> None:
        """ws.<method>(row, col, *args), later; a merge_range's other corner comes in args."""
        self.rows[row].append((col, method, args))
        if method == "write_formula":
            self.formulas += 1

    def flush(self) -> int:
        """Make the calls, top to bottom and left to right (in the order given within a cell),
        setting each row's height first; return how many formulas were written."""
        for row in sorted(set(self.rows) | set(self.heights)):
            if row in self.heights:
                self.ws.set_row(row, self.heights[row])
                if row not in self.rows and self.filler is not None:
                    self.ws.write_blank(row, 0, None, self.filler)
            for col, method, args in sorted(self.rows.get(row, ()), key=lambda c: c[0]):
                getattr(self.ws, method)(row, col, *args)
        return self.formulas
