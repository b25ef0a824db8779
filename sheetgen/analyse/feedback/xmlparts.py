"""Where elements sit in an XML part, and edits spliced into its bytes.

An annotated copy changes a few attributes and inserts a few elements; everything else of a part
must stay as the student's spreadsheet program wrote it (namespace prefixes, the mc:Ignorable
declarations Excel relies on, whitespace, element order). Re-serialising a parsed tree would
rewrite all of that, so a part is parsed once with defusedxml (no entities, no DTD) only to learn
the byte offsets of the elements of interest, and the edits are spliced into the original bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from defusedxml.ElementTree import DefusedXMLParser

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

# a start tag, quote-aware ('>' may stand inside an attribute value)
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>""")
_PREFIX = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?[A-Za-z_][\w.-]*")


class XmlPartError(ValueError):
    """A part is not the XML its content type promises; the message names the part."""


@dataclass
class Node:
    """An element's place in the bytes of its part.

    `start` is the offset of its '<', `open_end` just after its start tag, `close_start` the
    offset of its end tag (equal to `open_end` for an empty element) and `end` just after it.
    """

    name: str  # local name
    attrib: dict[str, str]  # as ElementTree names them: "{namespace}local" or "local"
    start: int
    open_end: int
    close_start: int = -1
    end: int = -1
    children: list[Node] = field(default_factory=list)
    namespace: str = ""

    @property
    def empty(self) -> bool:
        return self.close_start == self.open_end and self.end == self.open_end

    def child(self, name: str) -> Node | None:
        return next((c for c in self.children if c.name == name), None)

    def all(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]


class StopScan(Exception):
    """Raised by a `keep` function to end a scan early: nothing after it is recorded."""


def _split(tag: str) -> tuple[str, str]:
    """("namespace", "local") of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, local = tag[1:].split("}", 1)
        return namespace, local
    return "", tag


def scan(data: bytes, keep: Callable[[list[Node], str, dict], bool], part: str = "part") -> Node:
    """The part's root element, with the descendants `keep` chose, each with its offsets.

    Args:
        data: the part's bytes.
        keep: called with the chain of recorded ancestors (root first), an element's local name
            and attributes; an element is recorded when its parent was and `keep` says True.
            It may raise StopScan to end the scan (what follows is then not recorded).
        part: the part's name, for error messages.

    Raises:
        XmlPartError: the bytes are not well-formed XML, or declare a document type.
    """
    stack: list[Node | None] = []  # every open element; None where not recorded
    chain: list[Node] = []  # the recorded open elements
    roots: list[Node] = []

    class Target:
        def start(self, tag, attrib):
            offset = parser.parser.CurrentByteIndex
            namespace, name = _split(tag)
            parent = stack[-1] if stack else None
            if stack and (parent is None or not keep(chain, name, attrib)):
                stack.append(None)
                return
            match = _START_TAG.match(data, offset)
            if match is None:
                raise XmlPartError(f"{part}: cannot read the element at byte {offset}")
            node = Node(name, dict(attrib), offset, match.end(), namespace=namespace)
            if match.group().endswith(b"/>"):
                node.close_start = node.end = node.open_end
            if parent is None:
                roots.append(node)
            else:
                parent.children.append(node)
            chain.append(node)
            stack.append(node)

        def end(self, tag):
            node = stack.pop()
            if node is not None:
                chain.pop()
                if node.end < 0:
                    node.close_start = parser.parser.CurrentByteIndex
                    node.end = data.index(b">", node.close_start) + 1

        def data(self, text):
            pass

        def close(self):
            return None

    parser = DefusedXMLParser(target=Target(), forbid_dtd=True)
    try:
        parser.feed(data)
        parser.close()
    except StopScan:
        pass
    except XmlPartError:
        raise
    except Exception as exc:  # noqa: BLE001 - expat's and defusedxml's errors alike
        raise XmlPartError(f"{part} is not well-formed XML ({exc})") from None
    if not roots:
        raise XmlPartError(f"{part} has no root element")
    return roots[0]


def prefix(data: bytes, node: Node) -> str:
    """The namespace prefix the element is written with, with its colon ("x:"), or ""."""
    match = _PREFIX.match(data, node.start)
    return (match.group(1).decode() + ":") if match and match.group(1) else ""


def declared_prefix(data: bytes, node: Node, namespace: str) -> str | None:
    """The prefix the element's own start tag binds to `namespace` ("r"), None if none."""
    tag = data[node.start : node.open_end]
    pattern = rb"""\sxmlns:([A-Za-z_][\w.-]*)\s*=\s*["']""" + re.escape(namespace.encode()) + rb"""["']"""
    match = re.search(pattern, tag)
    return match.group(1).decode() if match else None


# ---------------------------------------------------------------------------------------------
# Edits


@dataclass(frozen=True)
class Edit:
    """Replace data[start:end] with `text` (start == end inserts)."""

    start: int
    end: int
    text: bytes


def splice(data: bytes, edits: list[Edit]) -> bytes:
    """The bytes with every edit made; insertions at one offset keep the order given.

    Raises:
        ValueError: two edits overlap (a bug, not bad input).
    """
    ordered = sorted(enumerate(edits), key=lambda item: (item[1].start, item[1].end, item[0]))
    out, position = [], 0
    for _, edit in ordered:
        if edit.start < position:
            raise ValueError(f"overlapping edits at byte {edit.start}")
        out.append(data[position : edit.start])
        out.append(edit.text)
        position = edit.end
    out.append(data[position:])
    return b"".join(out)


def _attribute_pattern(name: str) -> re.Pattern:
    return re.compile(rb"""\s""" + re.escape(name.encode()) + rb"""\s*=\s*("[^"]*"|'[^']*')""")


def with_attribute(tag: bytes, name: str, value: str | None) -> bytes:
    """A start tag with attribute `name` (as written, "s" or "r:id") set to `value`, or removed
    when `value` is None; the other attributes stay as they are."""
    pattern = _attribute_pattern(name)
    match = pattern.search(tag)
    if value is None:
        return tag if match is None else tag[: match.start()] + tag[match.end() :]
    written = f' {name}="{attribute(value)}"'.encode()
    if match is not None:
        return tag[: match.start()] + written + tag[match.end() :]
    name_end = _PREFIX.match(tag).end()
    return tag[:name_end] + written + tag[name_end:]


def set_attribute(data: bytes, node: Node, name: str, value: str | None) -> Edit:
    """The edit that sets (or, with None, removes) one attribute of an element's start tag."""
    return Edit(node.start, node.open_end, with_attribute(data[node.start : node.open_end], name, value))


def insert_children(data: bytes, node: Node, text: bytes) -> list[Edit]:
    """The edits that put `text` at the end of an element's content (an empty element is opened
    and closed around it)."""
    return append_children(data, node, text, {})


def append_children(data: bytes, node: Node, text: bytes, attributes: dict[str, str]) -> list[Edit]:
    """The edits that put `text` at the end of an element's content and set attributes of its
    start tag (a collection's count), as one edit where the element is empty."""
    tag = data[node.start : node.open_end]
    for name, value in attributes.items():
        tag = with_attribute(tag, name, value)
    if node.empty:
        name = _PREFIX.match(tag).group().lstrip(b"<")
        return [Edit(node.start, node.end, tag[:-2].rstrip() + b">" + text + b"</" + name + b">")]
    insert = Edit(node.close_start, node.close_start, text)
    return [Edit(node.start, node.open_end, tag), insert] if attributes else [insert]


_UNPREFIXED = re.compile(r"<(/?)(?![A-Za-z_][\w.-]*:)(?=[A-Za-z_])")


def prefixed(xml: str, name_prefix: str) -> str:
    """Our own XML with each element name that has no prefix given `name_prefix` ("x:"), for a
    part that writes the main namespace with a prefix."""
    return _UNPREFIXED.sub(lambda m: "<" + m.group(1) + name_prefix, xml) if name_prefix else xml


def _rank(node: Node, order: list[str], previous: int) -> int:
    """Where a child stands in the schema's order; mc:AlternateContent stands where the element
    it wraps does, and an element the order does not name stands with the one before it."""
    if node.name in order:
        return order.index(node.name)
    for choice in node.children:
        for wrapped in choice.children:
            if wrapped.name in order:
                return order.index(wrapped.name)
    return previous


def insert_in_order(data: bytes, parent: Node, name: str, text: bytes, order: list[str]) -> list[Edit]:
    """The edits that insert an element named `name` among the children of `parent` where the
    schema's sequence `order` puts it (before the first child that must follow it)."""
    wanted, previous = order.index(name), -1
    for child in parent.children:
        previous = _rank(child, order, previous)
        if previous > wanted:
            return [Edit(child.start, child.start, text)]
    return insert_children(data, parent, text)


# ---------------------------------------------------------------------------------------------
# Text


_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LOOKS_ESCAPED = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def xstring(text: str) -> str:
    """Text as SpreadsheetML stores it (ST_Xstring): characters XML cannot hold written as
    _xHHHH_, and a literal _xHHHH_ in the text kept literal (its underscore escaped)."""
    text = _LOOKS_ESCAPED.sub(r"_x005F_\1", text)
    return _ILLEGAL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def text(value: str) -> str:
    """Text for element content: & < > escaped."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attribute(value: str) -> str:
    """Text for a double-quoted attribute value: & < > " escaped, and the white space XML would
    otherwise normalise to spaces written as character references."""
    return (
        text(value).replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    )
