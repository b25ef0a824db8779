"""Comments on a worksheet's cells, as Excel stores them: the text in a comments part, and a
legacy VML drawing with one hidden note shape per comment (what Excel and LibreOffice draw when
the cell is pointed at). A sheet that has comments already keeps them: ours are appended to its
parts, and a cell that carries one already gets ours added below the student's text.
"""

from __future__ import annotations

import re

from xlsxwriter.utility import xl_cell_to_rowcol

from sheetgen.analyse.feedback.package import (
    COMMENTS,
    COMMENTS_TYPE,
    VML_DRAWING,
    VML_TYPE,
    Package,
)
from sheetgen.analyse.feedback.worksheet import SheetCells, comment_edits, legacy_drawing_id
from sheetgen.analyse.feedback.xmlparts import (
    MAIN_NS,
    Edit,
    append_children,
    insert_children,
    prefix,
    prefixed,
    scan,
    text,
    xstring,
)

AUTHOR = "sheetgen check"

_SHAPE_ID = re.compile(rb"_x0000_s(\d+)")
_IDMAP = re.compile(rb"""<o:idmap\b[^>]*\bdata\s*=\s*["']([\d,\s]*)["']""")
_NOTE_SHAPETYPE = b'id="_x0000_t202"'
_SHAPETYPE = (
    '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
    'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
    '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
)


def add_comments(package: Package, sheet_part: str, found: SheetCells, notes: dict[str, str]) -> list[Edit]:
    """Put `notes` (A1 ref -> text) on a worksheet's cells; returns the edits its own XML needs
    (the <legacyDrawing> and print setting), which the caller makes with its other edits."""
    related = {r.type: r for r in package.relationships(sheet_part) if not r.external}
    drawings = {r.id: r for r in package.relationships(sheet_part) if r.type == VML_DRAWING}
    comments_part = related[COMMENTS].target if COMMENTS in related else None
    drawing_rid = legacy_drawing_id(found)
    vml_part = drawings[drawing_rid].target if drawing_rid in drawings else None

    if comments_part is None or not package.has(comments_part):
        comments_part = package.free_name("xl/comments{}.xml")
        package.add(comments_part, _new_comments())
        package.add_relationship(sheet_part, COMMENTS, comments_part)
        package.add_content_type(comments_part, COMMENTS_TYPE)
    existing = _append_comments(package, comments_part, notes)

    new_drawing = None
    if vml_part is None or not package.has(vml_part):
        vml_part = package.free_name("xl/drawings/vmlDrawing{}.vml")
        package.add(vml_part, _new_vml(_free_idmap(package)))
        new_drawing = package.add_relationship(sheet_part, VML_DRAWING, vml_part)
        package.add_content_type(vml_part, VML_TYPE)
    _append_shapes(package, vml_part, [ref for ref in notes if ref not in existing])
    return comment_edits(found, new_drawing)


def _new_comments() -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<comments xmlns="{MAIN_NS}"><authors/><commentList/></comments>'
    ).encode()


def _run(body: str) -> str:
    """A run of comment text in the size and font Excel gives notes."""
    return (
        '<r><rPr><sz val="9"/><rFont val="Tahoma"/></rPr>'
        f'<t xml:space="preserve">{text(xstring(body))}</t></r>'
    )


def _append_comments(package: Package, part: str, notes: dict[str, str]) -> set[str]:
    """Add the notes to a comments part; returns the refs that had a comment already (the
    student's text stays, ours follows it)."""
    data = package.read(part)

    def keep(chain, name, attrib):
        depth = len(chain)
        return (
            depth == 1
            or (depth == 2 and chain[1].name in ("authors", "commentList"))
            or (depth == 3 and chain[1].name == "commentList")
        )

    root = scan(data, keep, part)
    pre = prefix(data, root)
    edits: list[Edit] = []
    authors = root.child("authors")
    names = [data[a.open_end : a.close_start].decode() for a in authors.all("author")] if authors else []
    if AUTHOR in names:
        author = names.index(AUTHOR)
    else:
        author = len(names)
        element = prefixed(f"<author>{AUTHOR}</author>", pre).encode()
        if authors is None:
            edits.append(
                Edit(
                    root.open_end,
                    root.open_end,
                    prefixed("<authors>", pre).encode() + element + prefixed("</authors>", pre).encode(),
                )
            )
        else:
            edits += insert_children(data, authors, element)
    comment_list = root.child("commentList")
    present = {c.attrib.get("ref", ""): c for c in comment_list.all("comment")} if comment_list else {}
    existing = set()
    new = []
    for ref, body in notes.items():
        comment = present.get(ref)
        if comment is not None and comment.child("text") is not None:
            existing.add(ref)
            edits += insert_children(data, comment.child("text"), prefixed(_run("\n\n" + body), pre).encode())
        else:
            new.append(
                prefixed(f'<comment ref="{ref}" authorId="{author}"><text>{_run(body)}</text></comment>', pre)
            )
    if new:
        if comment_list is None:
            edits += append_children(
                data,
                root,
                (prefixed("<commentList>", pre) + "".join(new) + prefixed("</commentList>", pre)).encode(),
                {},
            )
        else:
            edits += insert_children(data, comment_list, "".join(new).encode())
    package.edit(part, edits)
    return existing


def _free_idmap(package: Package) -> int:
    """A shape-id block no VML drawing of the package uses (each drawing's shapes are numbered
    in blocks of 1024 it declares in <o:idmap data=...>)."""
    used = {0}
    for name in package.part_names():
        if name.lower().endswith(".vml"):
            for match in _IDMAP.finditer(package.read(name)):
                used |= {int(n) for n in re.findall(rb"\d+", match.group(1))}
    return max(used) + 1


def _new_vml(block: int) -> bytes:
    return (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"'
        ' xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{block}"/></o:shapelayout>'
        f"{_SHAPETYPE}</xml>"
    ).encode()


def _append_shapes(package: Package, part: str, refs: list[str]) -> None:
    """A hidden note shape per ref, appended to the drawing (VML is not always well-formed XML,
    so it is appended to, never parsed)."""
    if not refs:
        return
    data = package.read(part)
    close = data.rfind(b"</xml>")
    if close < 0:
        raise ValueError(f"{part} is not a VML drawing (no </xml>)")
    blocks = [int(n) for m in _IDMAP.finditer(data) for n in re.findall(rb"\d+", m.group(1))] or [1]
    taken = [int(n) for n in _SHAPE_ID.findall(data)]
    next_id = max([min(blocks) * 1024, *taken]) + 1
    shapes = "" if _NOTE_SHAPETYPE in data else _SHAPETYPE
    for number, ref in enumerate(refs):
        shapes += _shape(next_id + number, ref)
    package.replace(part, data[:close] + shapes.encode() + data[close:])


def _shape(shape_id: int, ref: str) -> str:
    """A hidden note beside its cell, three columns wide and five rows tall, as Excel places
    one (Anchor: left column, offset, top row, offset, right column, offset, bottom row,
    offset)."""
    row, col = xl_cell_to_rowcol(ref)
    top = max(row - 1, 0)
    anchor = f"{col + 1}, 15, {top}, 10, {col + 4}, 15, {top + 5}, 4"
    return (
        f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" '
        "style='position:absolute;margin-left:60pt;margin-top:2pt;width:180pt;height:80pt;"
        'z-index:1;visibility:hidden\' fillcolor="#ffffe1" o:insetmode="auto">'
        '<v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
        '<v:path o:connecttype="none"/>'
        "<v:textbox style='mso-direction-alt:auto'><div style='text-align:left'></div></v:textbox>"
        '<x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
        f"<x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>"
        f"<x:Row>{row}</x:Row><x:Column>{col}</x:Column></x:ClientData></v:shape>"
    )
