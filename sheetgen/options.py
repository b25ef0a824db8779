"""Numbers on the command line, read as a person types them.

Python's float() and int(), which click's number types call, accept more than decimal
numbers: "1_0" is 10, "٣" (an Arabic-Indic three) is 3, "１" (a full-width one) is 1, and
"nan" and "infinity" are floats. A value that was mistyped must be refused, not read as
another number, so an option's number is read only when it is plain ASCII decimal: an
optional sign, digits 0-9, an optional point and exponent.
"""

from __future__ import annotations

import re

import click

_PLAIN_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_INT = re.compile(r"[+-]?[0-9]+")
PLAIN = "a plain decimal number (digits 0-9, with an optional sign, point and exponent)"


def plain_float(text: str) -> float | None:
    """The float that `text` spells in plain ASCII decimal, or None when it spells none."""
    return float(text) if _PLAIN_FLOAT.fullmatch(text) else None


def plain_int(text: str) -> int | None:
    """The whole number that `text` spells in plain ASCII digits, or None when it spells none
    (or has more digits than Python converts, 4,300)."""
    if not _PLAIN_INT.fullmatch(text):
        return None
    try:
        return int(text)
    except ValueError:
        return None


class PlainNumber(click.ParamType):
    """A click option type: a float or an int, from plain ASCII decimal text only.

    A value that is not one is refused in one line ("Error: --lr 1_0: ..."), exit 1, like every
    other bad value of these commands: a ClickException, not click's usage error, which prints
    the usage first.
    """

    def __init__(self, kind: type[int] | type[float]):
        self.kind = kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value, param, ctx):
        if isinstance(value, self.kind) and not isinstance(value, bool):  # a default
            return value
        text = str(value)
        number = plain_int(text) if self.kind is int else plain_float(text)
        if number is None:
            option = param.opts[0] if param is not None and param.opts else "value"
            wanted = "a whole number in plain ASCII digits" if self.kind is int else PLAIN
            raise click.ClickException(f"{option} {text}: {text!r} is not {wanted}")
        return number
