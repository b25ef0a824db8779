"""What people call the exercise's quantities in the sheets they make by hand.

Labels vary ("a_h1", "out_h1", "ah1"; "E_total", "E_tot", "Etotal"; "∂E/∂w1", "dE/dw1",
"∂E_total/∂w1"), so a label is normalised (lower case; spaces, underscores and brackets
dropped; ∂ read as d) and matched against a few patterns. A match gives a key in
sheetgen.workbook.quantities' terms, with layer 0 the hidden layer ("h") and layer 1 the output layer
("o") and one sample per row; weights and their gradients are numbered as the exercise numbers
them (w1..w8) until the table's shape says which layer and units a number means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Shown when no table is found, so people know what to call their columns.
HINT = (
    "check looks for a header row with the weights w1, w2, … and E_total (or E_tot, "
    "Etotal) or ∂E/∂w1 (or dE/dw1); the forward pass as h1, a_h1 (or out_h1, ah1), o1, "
    "a_o1; optionally E1, E2, δ_o1 (or delta_o1, ∂E/∂o1), ∂E/∂a_h1, δ_h1; the inputs i1, "
    "i2 and targets t1, t2 as columns or in a labelled block above the table; and the "
    "learning rate in a cell labelled η, eta, lr or learning rate"
)

_LOSS = r"(?:e|etotal|etot|error|loss|totalerror)"
# η as people type it: the Greek letter, its name, "lr", "learning rate", "n" (η's look-alike),
# "ͷ" (U+0377, which some fonts draw like η), and combinations such as "learning rate: η".
_ETA = r"(?:η|ͷ|eta|lr|α|alpha|learningrate|learningrate(?:η|ͷ|eta|lr|α|alpha))"
_PATTERNS = [
    (_ETA, lambda m: ("eta",)),
    (r"(?:i|x|in|input)(\d+)", lambda m: ("input", 0, int(m[1]) - 1)),
    (r"(?:t|target|y|tgt)(\d+)", lambda m: ("target", 0, int(m[1]) - 1)),
    (r"w(\d+)", lambda m: ("w#", int(m[1]))),
    (r"(?:b|bias)(\d+)", lambda m: ("bias#", int(m[1]))),  # Mazur's b1 (hidden), b2 (output)
    (r"(?:net|z|in)?([ho])(\d+)", lambda m: ("net", _layer(m[1]), 0, int(m[2]) - 1)),
    (r"(?:a|out|σ|sigma|sigmoid|sig|act)([ho])(\d+)", lambda m: ("act", _layer(m[1]), 0, int(m[2]) - 1)),
    (r"(?:e|error|err|loss)o?(\d+)", lambda m: ("E", 0, int(m[1]) - 1)),
    (_LOSS, lambda m: ("E_total",)),
    (rf"(?:δ|delta|d{_LOSS}/d(?:net)?)([ho])(\d+)", lambda m: ("delta", _layer(m[1]), 0, int(m[2]) - 1)),
    (rf"d{_LOSS}/d(?:a|out)([ho])(\d+)", lambda m: ("grad_act", _layer(m[1]), 0, int(m[2]) - 1)),
    # ∂E/∂w1, dE/dw1, ∂E_total/∂W1, ∂E∂W1, δE_tot/δw1, E∂w1, Etotaldw1, dw1, grad_w1
    (rf"(?:(?:[dδ]?{_LOSS}/?)?[dδ]w|gradw|gw)(\d+)", lambda m: ("grad_w#", int(m[1]))),
]
_COMPILED = [(re.compile(pattern + r"\Z"), make) for pattern, make in _PATTERNS]
# "η = 0.5" written in one cell
_INLINE_ETA = re.compile(
    r"\s*(?:η|ͷ|eta|lr|α|alpha|learning[\s_]*rate)\s*(?:\((?:η|ͷ|α|eta|lr|alpha)\))?\s*[=:]\s*"
    r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*\Z",
    re.I,
)


_SUBSCRIPTS = str.maketrans("₀₁₂₃₄₅₆₇₈₉⁰¹²³⁴⁵⁶⁷⁸⁹", "01234567890123456789")


def _layer(letter: str) -> int:
    return 0 if letter == "h" else 1


def normalise(text: str) -> str:
    """Lower case, without spaces, underscores, brackets, multiplication dots, or a trailing
    "=" or ":" (a label that points at the value beside it); ∂ as d."""
    text = text.strip().lower().replace("∂", "d").replace("𝜕", "d").translate(_SUBSCRIPTS)
    text = re.sub(r"[\s_()\[\]{}·*,']", "", text)
    return re.sub(r"^(.*?)[=:]*$", r"\1", text).replace(":", "")


def parse_label(value) -> tuple | None:
    """The key a header or block label stands for, or None when it is not one of ours."""
    if not isinstance(value, str) or not value.strip() or len(value) > 40:
        return None
    text = normalise(value)
    if text == "n" and "=" in value:  # "n = ": η typed without a Greek keyboard
        return ("eta",)
    for pattern, make in _COMPILED:
        match = pattern.match(text)
        if match:
            key = make(match)
            if any(isinstance(part, int) and part < 0 for part in key[1:]):
                return None
            return key
    return None


def inline_learning_rate(value) -> float | None:
    """The learning rate of a cell that says it all itself ("η = 0.5"), else None."""
    if not isinstance(value, str):
        return None
    match = _INLINE_ETA.match(value)
    return float(match[1]) if match else None


@dataclass(frozen=True)
class Constant:
    """η, an input, a target or a bias: its value and where it comes from."""

    value: float
    cell: str  # "Sheet1!B3", or a description ("typed into the update formulas")
    label: str


# ---------------------------------------------------------------------------------------------
# Labels on a sheet: names for the lines check found, and constants of tables of typed numbers

# How far right of a label its value may sit (a merged label cell spans a few columns).
LABEL_REACH = 4
# A group label over gradient columns headed w1, w2, … again: ∂E/∂w, dE_total/dW, Gradients
_GRADIENT_GROUP = re.compile(r"(?:[dδ]?(?:e|etotal|etot|error|loss|totalerror)?/?[dδ]w?|gradients?|gradw?)\Z")
# How far left of a column its group label may start (a merged cell over the group)
_GROUP_REACH = 10


def clean(label: str) -> str:
    """A label as a report names it: "η =" and "learning rate:  η =" say η, "LR=" says LR."""
    text = " ".join(label.split())
    if inline_learning_rate(text) is None:
        text = text.rstrip("=: ").strip()
    return text


def name_only(label: str) -> str:
    """A label's name: "η" of "η = 0.5", which says its value itself (the report adds it)."""
    if inline_learning_rate(label) is None:
        return label
    return re.split(r"\s*[=:]", label, maxsplit=1)[0].strip() or label


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip()) and not value.startswith("#")


def group_label(view, r: int, c: int) -> str | None:
    """The name of a gradient column headed w3 again under a group label ∂E/∂w (merged over
    the group's columns, whose labels repeat the weights'): "∂E/∂w3"; None otherwise."""
    key = parse_label(view.value(r, c))
    if key is None or key[0] != "w#" or r == 0:
        return None
    for left in range(c, max(-1, c - _GROUP_REACH), -1):
        if parse_label(view.value(r, left)) is None or parse_label(view.value(r, left))[0] != "w#":
            return None
        above = view.value(r - 1, left)
        if _text(above):
            if not _GRADIENT_GROUP.match(normalise(above)):
                return None
            name = clean(above)
            return (
                f"{name}{key[1]}" if normalise(above).endswith("w") else f"{name} {clean(view.value(r, c))}"
            )
    return None


def label_for(grid, row: int, col: int) -> str | None:
    """The label of a constant's cell: the text just left of it (within a few cells) or just
    above it, if it is one of the exercise's names."""
    for c in range(col - 1, max(-1, col - 1 - LABEL_REACH), -1):
        text = _cell(grid, row, c)
        if _text(text) and (parse_label(text) or inline_learning_rate(text)):
            return name_only(clean(text))
        if text is not None:  # a row header ("value") or a number: look above instead
            break
    above = _cell(grid, row - 1, col)
    if _text(above) and parse_label(above):
        return clean(above)
    return None


def label_beside(grid, row: int, col: int) -> str | None:
    """The label of a cell of a step laid out down a column or across a row: the nearest text
    to its left on its row (a few cells), else just above it."""
    for c in range(col - 1, max(-1, col - 1 - LABEL_REACH), -1):
        text = _cell(grid, row, c)
        if _text(text):
            return clean(text)
        if text is not None:
            break
    above = _cell(grid, row - 1, col)
    return clean(above) if _text(above) else None


def labelled_constant(grid, key: tuple, top: int, sheet: str):
    """The labelled cell for a constant (η, i1, t2, b1) on a table's sheet, nearest above the
    table's first row `top` (or on it, beside it); never below. A Constant, or None."""
    best = None
    for r, row in enumerate(grid[: top + 1]):
        for c, text in enumerate(row):
            label_key = parse_label(text)
            if label_key is None and inline_learning_rate(text) is not None:
                label_key = ("eta",)
            if label_key is None:
                continue
            if label_key[0] == "bias#":
                label_key = ("init_b", label_key[1] - 1, 0)
            if label_key != key:
                continue
            value = _labelled_value(grid, r, c, text, top)
            if value is None:
                continue
            distance = (top - r) + c / 100
            if best is None or distance < best[0]:
                best = (distance, Constant(value[0], f"{sheet}!{value[1]}", name_only(clean(text))))
    return None if best is None else best[1]


def _labelled_value(grid, r: int, c: int, text: str, top: int):
    """The number a label points at: in the label itself ("η = 0.5"), the first filled cell
    to its right within a few columns (a merged label spans some), else the cell below it
    (unless that is the table's first row or below it)."""
    from xlsxwriter.utility import xl_rowcol_to_cell

    inline = inline_learning_rate(text)
    if inline is not None:
        return inline, xl_rowcol_to_cell(r, c)
    for cc in range(c + 1, c + 1 + LABEL_REACH):
        value = _cell(grid, r, cc)
        if value is None:
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), xl_rowcol_to_cell(r, cc)
        break
    if r + 1 < top:
        value = _cell(grid, r + 1, c)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value), xl_rowcol_to_cell(r + 1, c)
    return None


def weight_headers(grid) -> list[tuple[int, bool]]:
    """Rows (or columns: True) whose labels name at least four weights and something computed:
    where a table was meant to be."""
    by_row: dict[int, set] = {}
    by_col: dict[int, set] = {}
    for r, row in enumerate(grid):
        for c, text in enumerate(row):
            key = parse_label(text)
            if key is not None:
                by_row.setdefault(r, set()).add(key)
                by_col.setdefault(c, set()).add(key)
    computed = {"E_total", "grad_w#", "E", "delta", "net", "act", "grad_act"}
    out = []
    for across, groups in ((False, by_row), (True, by_col)):
        for index, keys in sorted(groups.items()):
            if sum(1 for k in keys if k[0] == "w#") >= 4 and {k[0] for k in keys} & computed:
                out.append((index, across))
    return out


def _cell(grid, row: int, col: int):
    if 0 <= row < len(grid) and 0 <= col < len(grid[row]):
        return grid[row][col]
    return None
