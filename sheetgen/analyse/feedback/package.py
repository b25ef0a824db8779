"""An .xlsx package read as its parts, changed part by part, and written again with every part
it did not change exactly as it was.

The package is the student's: only the parts an annotation must change are rewritten (through
xmlparts' edits), new parts are added after the old ones, and every other part is written back
with its bytes, name, order, date and compression method unchanged.
"""

from __future__ import annotations

import copy
import posixpath
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from sheetgen.analyse.feedback.xmlparts import Edit, Node, attribute, insert_children, prefix, scan, splice
from sheetgen.files import atomic_path

CONTENT_TYPES = "[Content_Types].xml"
PACKAGE_RELS = "_rels/.rels"
RELATIONSHIPS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
OFFICE_DOCUMENT = _TYPE + "officeDocument"
WORKSHEET = _TYPE + "worksheet"
STYLES = _TYPE + "styles"
COMMENTS = _TYPE + "comments"
VML_DRAWING = _TYPE + "vmlDrawing"

WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
STYLES_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
COMMENTS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
VML_TYPE = "application/vnd.openxmlformats-officedocument.vmlDrawing"

# the date new parts carry: a fixed one, so that the same report gives the same bytes
_NEW_PART_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP64_EXTRA = 0x0001


class PackageError(ValueError):
    """The package lacks a part an .xlsx must have, or holds one that cannot be read."""


@dataclass(frozen=True)
class Relationship:
    id: str
    type: str
    target: str
    external: bool


def rels_name(part: str) -> str:
    """The relationships part of a part: xl/workbook.xml -> xl/_rels/workbook.xml.rels."""
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def relative(source: str, target: str) -> str:
    """A relationship's target written relative to the source part's folder."""
    return posixpath.relpath(target, posixpath.dirname(source) or ".")


class Package:
    """The parts of an .xlsx, with the changes made to it so far."""

    def __init__(self, path: Path):
        self.path = path
        try:
            with zipfile.ZipFile(path) as archive:
                self._infos = archive.infolist()
                self._data = {info.filename: archive.read(info) for info in self._infos}
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as exc:
            raise PackageError(f"{path} cannot be read as a zip package ({exc})") from None
        if len(self._data) != len(self._infos):
            raise PackageError(f"{path} holds two parts of the same name")
        self._lower = {name.lower(): name for name in self._data}
        self.changed: set[str] = set()
        self.added: list[str] = []

    # reading ------------------------------------------------------------------------------

    def part_names(self) -> list[str]:
        return [info.filename for info in self._infos] + self.added

    def has(self, part: str) -> bool:
        return part.lower() in self._lower

    def read(self, part: str) -> bytes:
        try:
            return self._data[self._lower[part.lower()]]
        except KeyError:
            raise PackageError(f"{self.path} has no part {part}") from None

    def relationships(self, source: str) -> list[Relationship]:
        """The relationships of a part ("" for the package's own), targets resolved to part
        names (external ones as written)."""
        name = PACKAGE_RELS if source == "" else rels_name(source)
        if not self.has(name):
            return []
        data = self.read(name)
        root = scan(data, lambda chain, tag, attrib: len(chain) == 1, name)
        out = []
        for node in root.all("Relationship"):
            external = node.attrib.get("TargetMode") == "External"
            target = node.attrib.get("Target", "")
            out.append(
                Relationship(
                    node.attrib.get("Id", ""),
                    node.attrib.get("Type", ""),
                    target if external else self.resolve(source, target),
                    external,
                )
            )
        return out

    @staticmethod
    def resolve(source: str, target: str) -> str:
        """The part a relative (or /-absolute) target names, seen from `source`."""
        target = unquote(target)  # a target is a URI: "sheet%201.xml" names "sheet 1.xml"
        if target.startswith("/"):
            return posixpath.normpath(target.lstrip("/"))
        return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))

    def free_name(self, pattern: str) -> str:
        """The first part name of the pattern ("xl/comments{}.xml") not taken, from 1."""
        number = 1
        while self.has(pattern.format(number)) or pattern.format(number) in self.added:
            number += 1
        return pattern.format(number)

    # changing ------------------------------------------------------------------------------

    def replace(self, part: str, data: bytes) -> None:
        name = self._lower.get(part.lower())
        if name is None:
            raise PackageError(f"{self.path} has no part {part}")
        if data != self._data[name]:
            self._data[name] = data
            if name not in self.added:
                self.changed.add(name)

    def edit(self, part: str, edits: list[Edit]) -> None:
        if edits:
            self.replace(part, splice(self.read(part), edits))

    def add(self, part: str, data: bytes) -> None:
        if self.has(part):
            raise PackageError(f"{self.path} already has a part {part}")
        self._data[part] = data
        self._lower[part.lower()] = part
        self.added.append(part)

    def add_relationship(self, source: str, type_: str, target_part: str) -> str:
        """Relate `source` to a part; returns the new relationship's id."""
        name = rels_name(source)
        taken = {r.id for r in self.relationships(source)}
        number = len(taken) + 1
        while f"rId{number}" in taken:
            number += 1
        rid = f"rId{number}"
        target = relative(source, target_part)
        if not self.has(name):
            self.add(
                name,
                (
                    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    f'<Relationships xmlns="{RELATIONSHIPS_NS}">'
                    f'<Relationship Id="{rid}" Type="{type_}" Target="{attribute(target)}"/>'
                    "</Relationships>"
                ).encode(),
            )
            return rid
        data = self.read(name)
        root = scan(data, lambda chain, tag, attrib: False, name)
        element = f'<Relationship Id="{rid}" Type="{type_}" Target="{attribute(target)}"/>'
        self._insert(name, data, root, _with_prefix(data, root, element))
        return rid

    def add_content_type(self, part: str, content_type: str) -> None:
        data = self.read(CONTENT_TYPES)
        root = scan(data, lambda chain, tag, attrib: False, CONTENT_TYPES)
        element = f'<Override PartName="/{attribute(part)}" ContentType="{content_type}"/>'
        self._insert(CONTENT_TYPES, data, root, _with_prefix(data, root, element))

    def _insert(self, part: str, data: bytes, root: Node, text: bytes) -> None:
        self.edit(part, insert_children(data, root, text))

    # writing -------------------------------------------------------------------------------

    def write(self, out: Path) -> Path:
        """Write the package to `out` atomically: the old parts in their order, each as it was
        unless changed, then the new ones."""
        with atomic_path(out) as temporary:
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for info in self._infos:
                    archive.writestr(_copied(info), self._data[info.filename])
                for name in self.added:
                    info = zipfile.ZipInfo(name, _NEW_PART_DATE)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    archive.writestr(info, self._data[name])
        return out


def _with_prefix(data: bytes, root: Node, element: str) -> bytes:
    """An element to insert under `root`, written with the prefix the root is written with."""
    name_prefix = prefix(data, root)
    if name_prefix:
        element = element.replace("<", "<" + name_prefix, 1)
    return element.encode()


def _copied(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A part's zip entry for writing again: its name, date, attributes and compression as they
    were; a Zip64 extra field is left for zipfile to write again where it is needed."""
    entry = copy.copy(info)
    entry.extra = _without_zip64(info.extra)
    return entry


def _without_zip64(extra: bytes) -> bytes:
    out, position = b"", 0
    while position + 4 <= len(extra):
        kind, size = struct.unpack("<HH", extra[position : position + 4])
        if kind != _ZIP64_EXTRA:
            out += extra[position : position + 4 + size]
        position += 4 + size
    return out
