"""The workbook part of a package: its sheets (name, part, position) and the edits that put a new
sheet first and select it.

Putting a sheet first moves every other sheet one place on, so whatever names a sheet by its
position moves with it: a defined name's localSheetId (print areas, names local to a sheet) and
the view's active and first tabs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sheetgen.analyse.feedback.package import OFFICE_DOCUMENT, WORKSHEET, Package, PackageError
from sheetgen.analyse.feedback.xmlparts import (
    MAIN_NS,
    REL_NS,
    Edit,
    Node,
    attribute,
    declared_prefix,
    prefix,
    scan,
    set_attribute,
    with_attribute,
    xstring,
)

_SHEET_NAME_LIMIT = 31  # characters Excel allows in a sheet's name


@dataclass(frozen=True)
class Sheet:
    name: str
    part: str | None  # None for a chart sheet or a sheet whose part is missing
    node: Node


class Book:
    """The workbook part and its sheets, in tab order."""

    def __init__(self, package: Package):
        self.package = package
        documents = [r for r in package.relationships("") if r.type == OFFICE_DOCUMENT and not r.external]
        if not documents:
            raise PackageError(f"{package.path} has no workbook part (no officeDocument relationship)")
        self.part = documents[0].target
        self.data = package.read(self.part)

        def keep(chain, name, attrib):
            return len(chain) == 1 or (
                len(chain) == 2 and chain[1].name in ("sheets", "bookViews", "definedNames")
            )

        self.root = scan(self.data, keep, self.part)
        if self.root.name != "workbook":
            raise PackageError(f"{package.path}: {self.part} is not a workbook")
        targets = {r.id: r.target for r in package.relationships(self.part) if r.type == WORKSHEET}
        sheets = self.root.child("sheets")
        if sheets is None or not sheets.children:
            raise PackageError(f"{package.path} has no sheets")
        self.sheets = [
            Sheet(node.attrib.get("name", ""), targets.get(node.attrib.get(f"{{{REL_NS}}}id", "")), node)
            for node in sheets.all("sheet")
        ]

    @property
    def strict(self) -> bool:
        """Whether the workbook is written in Strict Open XML (other namespaces throughout)."""
        return self.root.namespace != MAIN_NS

    def free_sheet_name(self, wanted: str) -> str:
        """`wanted`, or "wanted 2", "wanted 3"… where a sheet is called that (case aside)."""
        taken = {sheet.name.lower() for sheet in self.sheets}
        name, number = wanted, 1
        while name.lower() in taken:
            number += 1
            name = f"{wanted} {number}"[:_SHEET_NAME_LIMIT]
        return name

    def insert_first(self, name: str, rid: str) -> list[Edit]:
        """Edits that put a sheet first in the tab order, make it the active tab, and move
        everything that names a sheet by position one place on."""
        data = self.data
        first = self.sheets[0].node
        bound = declared_prefix(data, self.root, REL_NS)  # openpyxl declares it on each <sheet>
        declare = "" if bound else f' xmlns:r="{REL_NS}"'
        sheet_id = 1 + max(int(s.node.attrib.get("sheetId", "0") or 0) for s in self.sheets)
        element = (
            f'<{prefix(data, first)}sheet{declare} name="{attribute(xstring(name))}" '
            f'sheetId="{sheet_id}" {bound or "r"}:id="{rid}"/>'
        )
        edits = [Edit(first.start, first.start, element.encode())]
        views = self.root.child("bookViews")
        for view in views.all("workbookView") if views is not None else []:
            tag_bytes = data[view.start : view.open_end]
            tag_bytes = with_attribute(tag_bytes, "activeTab", "0")
            if "firstSheet" in view.attrib:
                tag_bytes = with_attribute(tag_bytes, "firstSheet", "0")
            edits.append(Edit(view.start, view.open_end, tag_bytes))
        names = self.root.child("definedNames")
        for defined in names.all("definedName") if names is not None else []:
            local = defined.attrib.get("localSheetId")
            if local is not None and local.isdigit():
                edits.append(set_attribute(data, defined, "localSheetId", str(int(local) + 1)))
        return edits
