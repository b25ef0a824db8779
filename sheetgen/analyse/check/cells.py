"""A located table's cells as the later stages read them: each line's numbers step by step, its
formulas, and what each formula reads, as lines of the table (and how many steps back) or as
cells outside it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from sheetgen.analyse.check.locate import Located
from sheetgen.analyse.check.read import Book
from sheetgen.analyse.check.refs import Reference, references
from sheetgen.analyse.compare import as_number


@dataclass(frozen=True)
class Source:
    """Where a number a formula reads comes from: a line of the table `offset` steps away, a
    cell outside the table, or a number typed into the formula."""

    kind: str  # "line", "cell" or "literal"
    line: int | None = None
    offset: int = 0
    sheet: str | None = None
    row: int = -1
    col: int = -1
    value: float = math.nan

    @property
    def identity(self) -> tuple:
        if self.kind == "line":
            return ("line", self.line)
        if self.kind == "cell":
            return ("cell", self.sheet, self.row, self.col)
        return ("literal", self.value)


class Cells:
    """The numbers, formulas and references of a located table's lines."""

    def __init__(self, table: Located, book: Book):
        self.table = table
        self.book = book
        self.sheet = book.sheets[table.sheet]
        self.steps = table.steps
        self.where: dict[tuple[int, int], tuple[int, int]] = {}
        for i, line in enumerate(table.lines):
            for s, cell in enumerate(line.cells):
                self.where[cell] = (i, s)
        self.raw = [[self.sheet.value(*cell) for cell in line.cells] for line in table.lines]
        self.values = [np.array([as_number(v) for v in raw]) for raw in self.raw]
        self._sources: dict[tuple[int, int], list[Source]] = {}

    def formula(self, line: int, step: int):
        text = self.sheet.formula(*self.table.lines[line].cells[step])
        return text if isinstance(text, str) and text.startswith("=") else None

    def has_formulas(self, line: int) -> bool:
        return any(self.formula(line, s) is not None for s in range(self.steps))

    def constant(self, line: int) -> bool:
        """The same number at every step (an input repeated down a column), to the last few
        bits (a column filled as a series may drift by those)."""
        values = self.values[line]
        if not np.all(np.isfinite(values)):
            return False
        return bool(np.all(np.abs(values - values[0]) <= 1e-12 * max(abs(values[0]), 1e-300)))

    def sources(self, line: int, step: int) -> list[Source]:
        """What the line's formula at a step reads, in the order written."""
        key = (line, step)
        if key not in self._sources:
            formula = self.formula(line, step)
            found = [self.source(ref, step) for ref in references(formula)]
            self._sources[key] = found
        return self._sources[key]

    def source(self, ref: Reference, step: int) -> Source:
        sheet = ref.sheet or self.table.sheet
        if sheet == self.table.sheet and (ref.row, ref.col) in self.where:
            line, there = self.where[(ref.row, ref.col)]
            return Source("line", line=line, offset=there - step)
        target = self.book.sheets.get(sheet)
        value = as_number(target.value(ref.row, ref.col)) if target is not None else math.nan
        return Source("cell", sheet=sheet, row=ref.row, col=ref.col, value=value)

    def value_of(self, source: Source, step: int = 0) -> np.ndarray | float:
        """A source's value at every step (a line's own values shifted by its offset)."""
        if source.kind == "line":
            return self.values[source.line]
        return source.value

    def products(self, line: int, step: int) -> list[tuple[int, int]]:
        """The pairs of references a formula multiplies directly (E4*C4, (E30*C30)), as
        indices into sources(line, step)."""
        formula = self.formula(line, step)
        if formula is None or ":" in formula:  # a range: no products of single cells to pair
            return []
        return _products(formula)


_PLACEHOLDER = re.compile(r"#(\d+)#")


def _products(formula: str) -> list[tuple[int, int]]:
    from sheetgen.analyse.check.refs import _REFERENCE, _STRING

    count = iter(range(10_000))
    text = _STRING.sub('""', formula)
    # one placeholder per reference, as references() counts them (a range is left out)
    marked = _REFERENCE.sub(lambda m: f"#{next(count)}#", text).replace(" ", "").replace("$", "")
    pairs = []
    for match in re.finditer(r"\(?#(\d+)#\)?\*\(?#(\d+)#\)?", marked):
        before = marked[: match.start()]
        after = marked[match.end() :]
        # a product inside a longer product (a*b*c) is not a term of a sum
        if before.endswith(("*", "/", "^")) or after.startswith(("*", "/", "^")):
            continue
        pairs.append((int(match[1]), int(match[2])))
    return pairs
