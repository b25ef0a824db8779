"""Numbers on the command line, read as a person types them: click's number types call float()
and int(), which read "1_0" as 10 and "٣" as 3; these read only plain ASCII decimal digits
(sheetgen.bounded.plain_float and plain_int).
"""

from __future__ import annotations

import click

from sheetgen.bounded import plain_float, plain_int

_PLAIN = "a plain decimal number (digits 0-9, with an optional sign, point and exponent)"


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
            wanted = "a whole number in plain ASCII digits" if self.kind is int else _PLAIN
            raise click.ClickException(f"{option} {text}: {text!r} is not {wanted}")
        return number
