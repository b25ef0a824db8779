"""Circular references in a table: a weight update that reads its own step's gradient, which is
computed from that weight. A spreadsheet cannot compute such cells: LibreOffice shows Err:522,
Excel warns and shows 0 or the last value it calculated. The circle is named as the mistake,
and what it breaks follows from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sheetgen.analyse.check.cells import Cells
from sheetgen.analyse.check.recognise import Table
from sheetgen.analyse.check.recompute import CONSTANT_KINDS
from sheetgen.workbook.quantities import Key


@dataclass
class Circle:
    """A circular reference in a table: its first step and the line blamed for it."""

    step: int  # the table's step where it first appears
    line: int
    key: Key
    path: list[tuple[int, int]]  # the cells from the blamed one round to it again
    steps: list[int]  # every step where the blamed cell is on a circle
    followers: set[Key] = field(default_factory=set)


def _cycle_from(cells: Cells, line: int, step: int, limit: int = 5000) -> list[tuple[int, int]] | None:
    """The cells from a line's cell back to it through the table's formulas of the same step,
    or None. A table's steps read only the steps before, so a circle stays within one step;
    reading no further keeps this to a step's few dozen cells."""
    start = (line, step)
    parents: dict[tuple[int, int], tuple[int, int] | None] = {start: None}
    stack = [start]
    while stack and len(parents) < limit:
        here = stack.pop()
        for source in cells.sources(*here):
            if source.kind != "line" or source.offset != 0:
                continue
            there = (source.line, here[1])
            if there == start:
                path = [here]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return [cells.table.lines[i].cells[s] for i, s in path[::-1]]
            if there not in parents:
                parents[there] = here
                stack.append(there)
    return None


def find_circle(table: Table, cells: Cells, until: int) -> Circle | None:
    """The first circular reference among a table's cells down to step `until`, blaming a
    weight on the circle if there is one (weights are the lines meant to read another step),
    else its first line."""
    order = sorted(
        ((line, key) for line, key in table.keys.items() if key[0] not in CONSTANT_KINDS),
        key=lambda item: (item[1][0] != "w", item[0]),
    )
    for step in range(min(until + 1, table.steps)):
        for line, key in order:
            path = _cycle_from(cells, line, step)
            if path is None:
                continue
            steps = [s for s in range(step, table.steps) if _cycle_from(cells, line, s, 500) is not None]
            return Circle(step, line, key, path, steps)
    return None
