"""How precisely a table's numbers are stored, and what that rounding allows.

Excel and LibreOffice store a double's 15 to 17 significant digits; Google Sheets exports 10;
numbers typed by hand (or pasted as values) have as many as were typed. A value rounded to d
digits may be half a unit in its last digit from what it stands for, and a value computed from
rounded values may move by the sum of what each moves it by: near convergence δ_o1 = (a_o1 −
t1)·a_o1·(1 − a_o1) is a difference of nearly equal numbers and keeps their rounding, not its
own. The judge allows for exactly that, cell by cell, and no more: a slope mistake (2.6e-4) is
far beyond ten digits' rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import numpy as np

from sheetgen.workbook.quantities import Key

# Fewer significant digits than this, typically, and a table's numbers are rounded: judged at
# their rounding (a double's shortest repr has 15 to 17).
ROUNDED_BELOW = 14


def half_units(raw: list, precision: float | None = None) -> np.ndarray:
    """Half a unit in the last digit each stored number shows (0.506875 gives 5e-7): how far
    the number may be from what it stands for. With the table's typical relative rounding
    `precision`, no number is allowed more than ten times that: a number typed with one
    digit (1e30 where 0.4 belongs) is a number typed wrong, not a number rounded."""
    out = np.zeros(len(raw))
    for i, value in enumerate(raw):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
            out[i] = 0.5 * 10.0**exponent if isinstance(exponent, int) else 0.0
            if precision:
                out[i] = min(out[i], 10 * precision * abs(float(value)))
    return out


def stored_digits(columns: list[list]) -> tuple[float, int]:
    """How a table's computed numbers are stored: the median of half a unit in the last digit
    over the value (5e-11 for ten digits), and the median count of significant digits."""
    ratios, digits = [], []
    for raw in columns:
        for value in raw[1:]:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                if value == 0:
                    continue
                decimal = Decimal(repr(float(value))).normalize().as_tuple()
                ratios.append(0.5 * 10.0**decimal.exponent / abs(value))
                digits.append(len(decimal.digits))
    if not ratios:
        return 0.0, 0
    return float(np.median(ratios)), int(np.median(digits))


def rounding_bound(
    evaluate: Callable, source: dict[Key, np.ndarray], halves: dict[Key, np.ndarray], keys
) -> dict[Key, np.ndarray]:
    """How far values computed from rounded numbers can move when each of those moves within
    its rounding: for each value, the sum over the numbers read of |change| when that one moves
    by its half unit (a first-order bound, one evaluation per number read). `evaluate` maps a
    source to {key: values}."""
    base = evaluate(source)
    bound = {k: np.zeros_like(v) for k, v in base.items()}
    for key in keys:
        if key not in halves or not halves[key].any():
            continue
        moved = dict(source)
        moved[key] = source[key] + halves[key]
        with np.errstate(all="ignore"):
            change = evaluate(moved)
            for k in base:
                bound[k] = bound[k] + np.abs(change[k] - base[k])
    return bound
