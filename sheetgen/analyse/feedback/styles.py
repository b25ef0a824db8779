"""The cell formats an annotation adds to the student's styles part.

A marked cell keeps everything its format had (font, border, number format, alignment,
protection) and gets a fill: its format (an <xf> of cellXfs) is copied with the new fill, and
the cell is pointed at the copy. The `check` sheet gets a bold font, a link font and a number
format of its own. Everything is appended, so every index the workbook already uses keeps its
meaning.
"""

from __future__ import annotations

from sheetgen.analyse.feedback.package import STYLES, STYLES_TYPE, Package
from sheetgen.analyse.feedback.xmlparts import (
    MAIN_NS,
    Edit,
    Node,
    append_children,
    attribute,
    insert_in_order,
    prefix,
    prefixed,
    scan,
    with_attribute,
)

# the children of <styleSheet>, in the schema's order
ORDER = [
    "numFmts",
    "fonts",
    "fills",
    "borders",
    "cellStyleXfs",
    "cellXfs",
    "cellStyles",
    "dxfs",
    "tableStyles",
    "colors",
    "extLst",
]

# What each collection holds where a styles part lacks it: the defaults Excel assumes (the
# first two fills are reserved), so that the indexes the annotation appends start right.
_DEFAULTS = {
    "numFmts": '<numFmts count="0"/>',
    "fonts": '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>',
    "fills": (
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
    ),
    "borders": '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>',
    "cellStyleXfs": (
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    ),
    "cellXfs": '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>',
}
_EMPTY_STYLES = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{MAIN_NS}"/>'
# the collections an annotation appends to
_GROWN = ("numFmts", "fonts", "fills", "cellXfs")

# A clear red where a mistake starts; Excel's own light red for the cells that follow from it.
MISTAKE_FILL = "FFFF5A5A"
FOLLOWS_FILL = "FFFFC7CE"
LINK_COLOUR = "FF0563C1"
# the check sheet's values: ten significant digits, as check prints them
VALUE_FORMAT = "0.000000000E+00"


class StyleSheet:
    """The workbook's styles part, and the formats added to it (written by finish())."""

    def __init__(self, package: Package, workbook_part: str):
        self.package = package
        related = [r for r in package.relationships(workbook_part) if r.type == STYLES and not r.external]
        if related and package.has(related[0].target):
            self.part = related[0].target
        else:  # a package without styles (Excel always writes them; a few tools do not)
            self.part = (
                "xl/styles.xml" if not package.has("xl/styles.xml") else package.free_name("xl/styles{}.xml")
            )
            package.add(
                self.part,
                _EMPTY_STYLES.encode(),
            )
            package.add_relationship(workbook_part, STYLES, self.part)
            package.add_content_type(self.part, STYLES_TYPE)
        self._complete()
        self.data = package.read(self.part)
        self.root = scan(self.data, _keep, self.part)
        self.prefix = prefix(self.data, self.root)
        self.counts = {name: len(self.root.child(name).children) for name in _GROWN}
        self.formats = self.root.child("cellXfs").children
        self._added: dict[str, list[str]] = {name: [] for name in _GROWN}
        self._fills: dict[str, int] = {}
        self._copies: dict[tuple[int, int], int] = {}

    def _complete(self) -> None:
        """Give the part each collection the annotation needs, with Excel's defaults."""
        data = self.package.read(self.part)
        root = scan(data, lambda chain, tag, attrib: len(chain) == 1, self.part)
        edits: list[Edit] = []
        for name, default in _DEFAULTS.items():
            if root.child(name) is None:
                edits += insert_in_order(
                    data, root, name, prefixed(default, prefix(data, root)).encode(), ORDER
                )
        self.package.edit(self.part, edits)

    def filled(self, base: int, colour: str) -> int:
        """The index of a format like cellXfs[base] (0 where base is none of them) with a solid
        fill of `colour` (ARGB hex)."""
        if not 0 <= base < len(self.formats):
            base = 0
        key = (base, self._fill(colour))
        if key not in self._copies:
            node = self.formats[base]
            tag = self.data[node.start : node.open_end]
            tag = with_attribute(with_attribute(tag, "fillId", str(key[1])), "applyFill", "1")
            self._copies[key] = self._add("cellXfs", (tag + self.data[node.open_end : node.end]).decode())
        return self._copies[key]

    def plain(self, *, bold: bool = False, link: bool = False, number: bool = False) -> int:
        """A new format for the check sheet: the default font, bold or a link's, or the check
        sheet's number format."""
        font = self._font(bold=bold, link=link) if (bold or link) else 0
        number_format = self._number_format(VALUE_FORMAT) if number else 0
        return self._add(
            "cellXfs",
            f'<xf numFmtId="{number_format}" fontId="{font}" fillId="0" borderId="0" xfId="0"'
            + (' applyFont="1"' if font else "")
            + (' applyNumberFormat="1"' if number else "")
            + "/>",
        )

    def _fill(self, colour: str) -> int:
        if colour not in self._fills:
            self._fills[colour] = self._add(
                "fills",
                f'<fill><patternFill patternType="solid"><fgColor rgb="{colour}"/>'
                '<bgColor indexed="64"/></patternFill></fill>',
            )
        return self._fills[colour]

    def _font(self, *, bold: bool, link: bool) -> int:
        """The default font's size and name, bold or blue and underlined; its children in the
        order the Open XML SDK's validator insists on."""
        fonts = self.root.child("fonts").children
        size = name = None
        if fonts:
            size = next((c.attrib.get("val") for c in fonts[0].children if c.name == "sz"), None)
            name = next((c.attrib.get("val") for c in fonts[0].children if c.name == "name"), None)
        return self._add(
            "fonts",
            "<font>"
            + ("<b/>" if bold else "")
            + ('<u val="single"/>' if link else "")
            + f'<sz val="{attribute(size or "11")}"/>'
            + (f'<color rgb="{LINK_COLOUR}"/>' if link else "")
            + f'<name val="{attribute(name or "Calibri")}"/></font>',
        )

    def _number_format(self, code: str) -> int:
        # custom formats are numbered from 164; take the first above every one in use
        taken = [c.attrib.get("numFmtId", "0") for c in self.root.child("numFmts").children]
        number = max([163, *(int(t) for t in taken if t.isdigit())]) + 1 + len(self._added["numFmts"])
        self._add("numFmts", f'<numFmt numFmtId="{number}" formatCode="{attribute(code)}"/>')
        return number

    def _add(self, collection: str, xml: str) -> int:
        """Append an item to a collection; returns its index."""
        items = self._added[collection]
        items.append(prefixed(xml, self.prefix))
        return self.counts[collection] + len(items) - 1

    def finish(self) -> None:
        """Write the added items into the styles part, with the collections' counts."""
        edits: list[Edit] = []
        for collection, items in self._added.items():
            if items:
                count = str(self.counts[collection] + len(items))
                node = self.root.child(collection)
                edits += append_children(self.data, node, "".join(items).encode(), {"count": count})
        self.package.edit(self.part, edits)


def _keep(chain: list[Node], name: str, attrib: dict) -> bool:
    """The collections, the items of those the annotation reads, and the first font's parts."""
    if len(chain) == 1:
        return name in ORDER
    if len(chain) == 2:
        return chain[1].name in _GROWN
    return chain[1].name == "fonts" and len(chain) == 3 and len(chain[1].children) == 1
