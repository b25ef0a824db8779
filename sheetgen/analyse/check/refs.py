"""Cell references inside a hand-made formula: what a formula reads, so that a table is read
through its formulas (η is the cell the weight update multiplies the gradient by) rather than
through whatever labels happen to sit near it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

# A1 references, optionally sheet-qualified ('My sheet'!$B$2 or Sheet1!B2); not a function
# name that looks like one (LOG10( ), not part of a longer word, not inside a number.
_REFERENCE = re.compile(
    r"(?<![A-Za-z0-9_.$'])"
    r"(?:(?P<sheet>'(?:[^']|'')+'|[A-Za-z_][A-Za-z0-9_.]*)!)?"
    r"(?P<col_abs>\$?)(?P<col>[A-Za-z]{1,3})(?P<row_abs>\$?)(?P<row>[1-9]\d{0,6})"
    r"(?![A-Za-z0-9_(!])"
)
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.$])(\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"(?![A-Za-z0-9_(])"
)
_STRING = re.compile(r'"(?:[^"]|"")*"')


@dataclass(frozen=True)
class Reference:
    """One cell a formula reads: 0-based row and column, on `sheet` (None: the same sheet)."""

    sheet: str | None
    row: int
    col: int
    text: str  # as written, e.g. "$G$31"
    absolute_row: bool
    absolute_col: bool


def references(formula) -> tuple[Reference, ...]:
    """Every cell a formula reads, in the order written; () for a constant. A range (U3:V3,
    as SUM(U3:V3) reads it) gives each of its cells, up to a few hundred."""
    if not isinstance(formula, str) or not formula.startswith("="):
        return ()
    return _references(formula)


# A range larger than this is read as its two corners only: no training table sums more.
_LARGEST_RANGE = 400


@functools.lru_cache(maxsize=2**16)
def _references(formula: str) -> tuple[Reference, ...]:
    text = _STRING.sub('""', formula)
    matches = list(_REFERENCE.finditer(text))
    out = []
    skip = False
    for i, match in enumerate(matches):
        if skip:
            skip = False
            continue
        first = _reference(match)
        following = matches[i + 1] if i + 1 < len(matches) else None
        if following is not None and text[match.end() : following.start()] == ":":
            last = _reference(following)
            rows = range(min(first.row, last.row), max(first.row, last.row) + 1)
            cols = range(min(first.col, last.col), max(first.col, last.col) + 1)
            if len(rows) * len(cols) <= _LARGEST_RANGE:
                for row in rows:
                    for col in cols:
                        out.append(
                            Reference(
                                first.sheet,
                                row,
                                col,
                                xl_rowcol_to_cell(row, col, first.absolute_row, first.absolute_col),
                                first.absolute_row,
                                first.absolute_col,
                            )
                        )
                skip = True
                continue
        out.append(first)
    return tuple(out)


def _reference(match) -> Reference:
    sheet = match["sheet"]
    if sheet and sheet.startswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    row, col = xl_cell_to_rowcol(match["col"].upper() + match["row"])
    return Reference(sheet, row, col, match[0], bool(match["row_abs"]), bool(match["col_abs"]))


def literals(formula) -> list[float]:
    """The numbers typed into a formula (=E3-0.5*X3 gives [0.5]), references left out."""
    if not isinstance(formula, str) or not formula.startswith("="):
        return []
    text = _REFERENCE.sub(" ", _STRING.sub('""', formula))
    return [float(m[1]) for m in _NUMBER.finditer(text)]


def shape(formula, row: int) -> str | None:
    """The formula with its relative rows written relative to `row` (R1C1-like), so a
    filled-down formula has the same shape on every row: "=E33-$G$31*X33" on row 33 (0-based
    32) and "=E34-$G$31*X34" on the next both give "=E[0]-$G$31*X[0]"."""
    if not isinstance(formula, str) or not formula.startswith("="):
        return None

    def relative(match):
        if match["row_abs"]:
            return match[0]
        prefix = match[0][: match.start("col") - match.start()]
        return f"{prefix}{match['col'].upper()}[{int(match['row']) - 1 - row}]"

    return _REFERENCE.sub(relative, formula.replace(" ", ""))
