"""The edits an annotation makes to one of the student's worksheets: a marked cell's format (its
`s` attribute, and nothing else of it), a cell created where a marked one is absent, the
<legacyDrawing> that shows the comments, the print setting that prints them, and the selected-tab
flag taken off (the `check` sheet is the one selected now).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from xlsxwriter.utility import xl_cell_to_rowcol

from sheetgen.analyse.feedback.xmlparts import (
    REL_NS,
    Edit,
    Node,
    StopScan,
    XmlPartError,
    declared_prefix,
    insert_children,
    insert_in_order,
    prefix,
    prefixed,
    scan,
    set_attribute,
)

# the children of <worksheet>, in the schema's order
ORDER = [
    "sheetPr",
    "dimension",
    "sheetViews",
    "sheetFormatPr",
    "cols",
    "sheetData",
    "sheetCalcPr",
    "sheetProtection",
    "protectedRanges",
    "scenarios",
    "autoFilter",
    "sortState",
    "dataConsolidate",
    "customSheetViews",
    "mergeCells",
    "phoneticPr",
    "conditionalFormatting",
    "dataValidations",
    "hyperlinks",
    "printOptions",
    "pageMargins",
    "pageSetup",
    "headerFooter",
    "rowBreaks",
    "colBreaks",
    "customProperties",
    "cellWatches",
    "ignoredErrors",
    "smartTags",
    "drawing",
    "legacyDrawing",
    "legacyDrawingHF",
    "drawingHF",
    "picture",
    "oleObjects",
    "controls",
    "webPublishItems",
    "tableParts",
    "extLst",
]

# Which value of the print setting prints the comments. LibreOffice reads only "asDisplayed" as
# "print the comments" (it lists them after the sheet); Excel prints them where they are shown.
PRINT_COMMENTS = "asDisplayed"


def cell_position(ref: str) -> tuple[int, int]:
    """(row, column), 1-based, of an A1 reference."""
    row, col = xl_cell_to_rowcol(ref)
    return row + 1, col + 1


@dataclass
class _Gaps:
    """Streaming bookkeeping of one level (rows in sheetData, or cells in a row): which of the
    wanted positions are present, and where an absent one would be inserted (before the first
    element past it), from elements given in order with their positions explicit or implied."""

    wanted: list[int]  # sorted
    last: int = 0  # the position of the previous element
    next_wanted: int = 0  # index into wanted of the first not yet passed

    def keep(self, position: int) -> bool:
        """Whether the element at `position` is wanted or follows an absent wanted one."""
        keep = False
        while self.next_wanted < len(self.wanted) and self.wanted[self.next_wanted] <= position:
            keep = True  # wanted here, or passed over (absent): this element follows it
            self.next_wanted += 1
        self.last = position
        return keep


@dataclass
class SheetCells:
    """A worksheet's elements an annotation needs, found in one pass."""

    data: bytes
    root: Node
    rows: dict[int, Node] = field(default_factory=dict)  # recorded rows by number
    cells: dict[int, list[tuple[int, Node]]] = field(default_factory=dict)  # row -> [(col, cell)]

    @property
    def prefix(self) -> str:
        return prefix(self.data, self.root)

    def child(self, name: str) -> Node | None:
        return self.root.child(name)

    def cell(self, row: int, col: int) -> Node | None:
        return next((node for c, node in self.cells.get(row, []) if c == col), None)


def read_sheet(data: bytes, refs: set[str], part: str) -> SheetCells:
    """Find the rows and cells of `refs` in a worksheet (and the rows and cells an absent one
    would go before), with the sheet's top-level elements, views and column formats."""
    positions = sorted({cell_position(ref) for ref in refs})
    rows = _Gaps(sorted({row for row, _ in positions}))
    columns_of: dict[int, list[int]] = {}
    for row, col in positions:
        columns_of.setdefault(row, []).append(col)
    cells = _Gaps([])

    def keep(chain: list[Node], name: str, attrib: dict) -> bool:
        nonlocal cells
        depth, parent = len(chain), chain[-1].name
        if depth == 1:
            return True
        if chain[1].name in ("sheetViews", "cols", "AlternateContent"):
            return depth <= 3
        if parent == "sheetData" and name == "row":
            number = _number(attrib.get("r")) or rows.last + 1
            attrib["_row"] = str(number)  # the number as found (r may be left out)
            cells = _Gaps(columns_of.get(number, []))
            return rows.keep(number)
        if parent == "row" and name == "c":
            ref = attrib.get("r")
            col = cell_position(ref)[1] if ref else cells.last + 1
            attrib["_col"] = str(col)
            return cells.keep(col)
        return False

    root = scan(data, keep, part)
    found = SheetCells(data, root)
    sheet_data = root.child("sheetData")
    if sheet_data is None:
        raise XmlPartError(f"{part} has no <sheetData>, which every worksheet has")
    for row in sheet_data.children:
        number = int(row.attrib["_row"])
        found.rows[number] = row
        found.cells[number] = [(int(c.attrib["_col"]), c) for c in row.children if "_col" in c.attrib]
    return found


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def read_views(data: bytes, part: str) -> Node:
    """A worksheet's root with its sheetViews, read only as far as the cells begin."""

    def keep(chain: list[Node], name: str, attrib: dict) -> bool:
        if len(chain) == 1 and name == "sheetData":
            raise StopScan
        return len(chain) == 1 or (len(chain) == 2 and chain[1].name == "sheetViews")

    return scan(data, keep, part)


def unselect(data: bytes, root: Node) -> list[Edit]:
    """Edits that take the selected-tab flag off every view of a sheet (two selected sheets
    would open grouped, and typing into one would change both)."""
    views = root.child("sheetViews")
    if views is None:
        return []
    return [
        set_attribute(data, view, "tabSelected", None)
        for view in views.all("sheetView")
        if view.attrib.get("tabSelected") in ("1", "true")
    ]


def base_format(found: SheetCells, row: int, col: int) -> int:
    """The format a cell shows now: its own, or for an absent cell its row's (when the row has
    one) or its column's."""
    cell = found.cell(row, col)
    if cell is not None:
        return _number(cell.attrib.get("s")) or 0
    row_node = found.rows.get(row)
    if row_node is not None and row_node.attrib.get("customFormat") in ("1", "true"):
        return _number(row_node.attrib.get("s")) or 0
    cols = found.child("cols")
    for col_node in cols.all("col") if cols is not None else []:
        low, high = _number(col_node.attrib.get("min")) or 0, _number(col_node.attrib.get("max")) or 0
        if low <= col <= high:
            return _number(col_node.attrib.get("style")) or 0
    return 0


def format_edits(found: SheetCells, formats: dict[str, int]) -> list[Edit]:
    """Edits that give each cell (A1 ref -> format index) its format: the `s` attribute of a
    cell that exists; a new empty cell, in order, where it does not (and its row, if absent)."""
    data, pre = found.data, found.prefix
    edits: list[Edit] = []
    appended: dict[int, tuple[Node, list[str]]] = {}  # element -> what goes at its end, in order
    new_rows: dict[int, list[str]] = {}
    for ref, xf in sorted(formats.items(), key=lambda item: cell_position(item[0])):
        row, col = cell_position(ref)
        cell = found.cell(row, col)
        if cell is not None:
            edits.append(set_attribute(data, cell, "s", str(xf)))
            continue
        element = prefixed(f'<c r="{ref}" s="{xf}"/>', pre)
        if row not in found.rows:
            new_rows.setdefault(row, []).append(element)
            continue
        later = [node for c, node in found.cells[row] if c > col]
        if later:
            edits.append(Edit(later[0].start, later[0].start, element.encode()))
        else:
            appended.setdefault(id(found.rows[row]), (found.rows[row], []))[1].append(element)
    sheet_data = found.child("sheetData")
    numbers = sorted(found.rows)
    for row, elements in sorted(new_rows.items()):
        element = prefixed(f'<row r="{row}">', pre) + "".join(elements) + prefixed("</row>", pre)
        later = numbers[bisect.bisect_right(numbers, row) :]
        if later:
            start = found.rows[later[0]].start
            edits.append(Edit(start, start, element.encode()))
        else:
            appended.setdefault(id(sheet_data), (sheet_data, []))[1].append(element)
    for node, texts in appended.values():
        edits += insert_children(data, node, "".join(texts).encode())
    return edits


def comment_edits(found: SheetCells, drawing_id: str | None) -> list[Edit]:
    """Edits that show comments: a <legacyDrawing> naming the VML drawing (`drawing_id`, None
    when the sheet has one already) and the print setting that prints them."""
    data, root, pre = found.data, found.root, found.prefix
    edits: list[Edit] = []
    # pageSetup first: where both go at the end of the sheet, it must come before legacyDrawing
    page_setup = root.child("pageSetup")
    if page_setup is not None:
        edits.append(set_attribute(data, page_setup, "cellComments", PRINT_COMMENTS))
    else:
        element = prefixed(f'<pageSetup cellComments="{PRINT_COMMENTS}"/>', pre)
        edits += insert_in_order(data, root, "pageSetup", element.encode(), ORDER)
    if drawing_id is not None:
        bound = declared_prefix(data, root, REL_NS)
        declare = "" if bound else f' xmlns:r="{REL_NS}"'
        element = prefixed(f'<legacyDrawing{declare} {bound or "r"}:id="{drawing_id}"/>', pre)
        edits += insert_in_order(data, root, "legacyDrawing", element.encode(), ORDER)
    return edits


def legacy_drawing_id(found: SheetCells) -> str | None:
    """The relationship id of the sheet's VML drawing, None if it has none."""
    node = found.child("legacyDrawing")
    return None if node is None else node.attrib.get(f"{{{REL_NS}}}id")
