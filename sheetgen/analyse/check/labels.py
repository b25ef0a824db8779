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
