"""What an annotation marks, read from check's findings: per sheet, the cells where a mistake
starts (filled red, with a comment saying what the cell gives and should give) and the cells
that follow from one (shaded lighter).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SheetMarks:
    """One sheet's marks: A1 ref -> comment text where a mistake starts; refs that follow."""

    starts: dict[str, str] = field(default_factory=dict)
    follows: set[str] = field(default_factory=set)

    @property
    def refs(self) -> set[str]:
        return set(self.starts) | self.follows


def cells_from(refs: list[str], first: str) -> list[str]:
    """A finding's cells from `first` on (just `first` where the finding lists no cells)."""
    return refs[refs.index(first) :] if first in refs else [first]


def shown(value) -> str:
    """A cell's value as check prints it: ten significant digits."""
    if isinstance(value, float):
        return f"{value:.10g}"
    return "empty" if value is None else str(value)


def note(column) -> str:
    """The comment on the cell where a mistake starts: what the cell computes, what it gives,
    what it should give, and the mistake's name."""
    should = shown(column.expected) if column.expected is not None else "not known"
    return "\n".join(
        [
            f"sheetgen check: {column.label} goes wrong here.",
            f"This cell gives {shown(column.value)}; it should be {should}.",
            f"Mistake: {(column.mistake or 'not one check knows by name').rstrip('.')}.",
            "The cells shaded light red follow from it.",
        ]
    )


def marks_of(report) -> dict[str, SheetMarks]:
    """Every sheet's marks from a CheckReport (tables in order; a cell where a mistake starts
    is never also shaded as following)."""
    marks: dict[str, SheetMarks] = {}
    for table in report.tables:
        sheet = marks.setdefault(table.sheet, SheetMarks())
        for column in table.columns:
            if not column.first_cell:
                continue
            if column.status == "wrong":
                sheet.starts[column.first_cell] = note(column)
                sheet.follows.update(cells_from(column.refs, column.first_cell)[1:])
            elif column.status == "follows":
                sheet.follows.update(cells_from(column.refs, column.first_cell))
    for sheet in marks.values():
        sheet.follows -= set(sheet.starts)
    return {name: sheet for name, sheet in marks.items() if sheet.refs}
