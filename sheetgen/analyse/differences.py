"""What a comparison of a workbook's cells finds: a differing cell, a column's largest errors, a
sheet's columns. Shared by verify (the backprop sheets) and verify_live (the live CNN sheet),
so that neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetgen.analyse.compare import format_error


@dataclass(frozen=True)
class Difference:
    """One cell whose value is not what it should be."""

    sheet: str
    cell: str
    label: str
    formula: str | None
    got: object
    expected: object
    got_source: str  # "LibreOffice gives", "the cached value is"
    expected_source: str  # "the reference engine gives", "LibreOffice gives"
    error: float

    def describe(self) -> str:
        formula = f" {self.formula}" if self.formula else ""
        return (
            f"{self.sheet}!{self.cell} ({self.label}){formula}: {self.got_source} "
            f"{show_value(self.got)}, {self.expected_source} {show_value(self.expected)} "
            f"(relative error {format_error(self.error)})"
        )


@dataclass(frozen=True)
class ColumnCheck:
    """One column of a sheet: how far LibreOffice is from the engine and the cache from both."""

    label: str
    cells: int
    engine_error: float  # LibreOffice's recalculation against the reference engine
    cached_error: float | None  # the file's cached values against LibreOffice; None: none cached


@dataclass(frozen=True)
class SheetCheck:
    """One sheet's columns, the first differing cell if any, and notes (edited inputs)."""

    sheet: str
    columns: tuple[ColumnCheck, ...]
    differences: tuple[Difference, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def cells(self) -> int:
        return sum(c.cells for c in self.columns)


def show_value(value) -> str:
    """A cell's value as a report shows it: floats to 15 significant digits, text quoted."""
    if isinstance(value, float):
        return f"{value:.15g}"
    if value is None:
        return "nothing (empty)"
    return repr(value) if isinstance(value, str) else str(value)
