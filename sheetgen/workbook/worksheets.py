"""A worksheet that writes formulas as given, for sheets whose formulas need no rewriting.

XlsxWriter's write_formula searches each formula with some 30 regular expressions for Excel's
newer function names (XLOOKUP, FILTER, ...), which the file must spell with an _xlfn. prefix.
sheetgen's formulas call only functions Excel has always had, so on a learning-rate sheet of
the default workbook the search finds nothing and takes about a third of `sheetgen build`
(0.75 s of 2 s, profiled). A sheet whose formulas the search would leave alone is written
with PlainFormulaWorksheet instead; what gets written is the same either way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from xlsxwriter.worksheet import Worksheet

_STOCK = Worksheet()  # XlsxWriter's own rewriting, to ask what it would do to a formula


class PlainFormulaWorksheet(Worksheet):
    """A worksheet whose formulas are written as given (less the leading '=')."""

    def _prepare_formula(self, formula, expand_future_functions=False):
        return formula[1:] if formula.startswith("=") else formula


@functools.lru_cache(maxsize=4096)  # each learning-rate sheet of a workbook asks the same
def written_as_given(formula: str) -> bool:
    """Whether XlsxWriter writes `formula` unchanged but for its leading '=' (no function of
    it needs a prefix), also with its future-function option on."""
    plain = formula[1:] if formula.startswith("=") else formula
    return _STOCK._prepare_formula(formula) == plain and (
        _STOCK._prepare_formula(formula, expand_future_functions=True) == plain
    )


def worksheet_class(formulas: Iterable[str]) -> type[Worksheet]:
    """PlainFormulaWorksheet where every formula is written as given, else XlsxWriter's own.

    Args:
        formulas: one formula of each shape the sheet holds. Formulas that differ only in
            their row numbers are the same to XlsxWriter's search, which looks for function
            names.
    """
    if all(written_as_given(f) for f in formulas):
        return PlainFormulaWorksheet
    return Worksheet
