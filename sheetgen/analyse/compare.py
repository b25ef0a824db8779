"""How close a column of numbers is to another: the one definition verify, check and the tests
share."""

from __future__ import annotations

import math

import numpy as np

# verify's bar: a recalculated cell agrees with the reference engine when no further apart.
TOLERANCE = 1e-12


def relative_errors(got, expected) -> np.ndarray:
    """|got - expected| / |expected| for each value of a column.

    A value that passes through zero (a weight changing sign, a gradient whose samples cancel,
    a net input that changes sign) cannot keep a small relative error: the rounding of the
    larger numbers it was computed from stays. So |expected| is floored at a hundredth of the
    column's largest magnitude; a wrong formula is off by far more than that allows. A value
    that is not a number (NaN, an error cell read as NaN) is infinitely far off.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    finite = expected[np.isfinite(expected)]
    floor = 1e-2 * np.max(np.abs(finite)) if finite.size else 0.0
    scale = np.maximum(np.abs(expected), floor if floor > 0 else 1.0)
    with np.errstate(invalid="ignore"):
        errors = np.abs(got - expected) / scale
    return np.where(np.isnan(errors), np.inf, errors)


def relative_error(got, expected) -> float:
    """Largest of relative_errors over a column (0.0 for an empty one)."""
    errors = relative_errors(got, expected)
    return float(np.max(errors)) if errors.size else 0.0


def format_error(error: float) -> str:
    """A relative error for a report: 0, ∞, or two significant digits."""
    if error == 0:
        return "0"
    if math.isinf(error):
        return "∞"
    return f"{error:.1e}"


def as_number(value) -> float:
    """A cell's value as a float; text, errors (#VALUE!), booleans and blanks become NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def scaled_errors(got, expected, magnitude) -> np.ndarray:
    """|got - expected| / max(|expected|, magnitude) for each value of a column.

    `magnitude` is how large the terms each value was computed from are (see
    formulas.term_magnitude): a value that is a small difference of large terms keeps their
    rounding, so it is judged against them, cell by cell, rather than against a floor shared
    by its whole column. A value that is not a number is infinitely far off.
    """
    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    magnitude = np.asarray(magnitude, dtype=np.float64)
    magnitude = np.where(np.isfinite(magnitude), magnitude, 0.0)
    scale = np.maximum(np.abs(expected), magnitude)
    with np.errstate(invalid="ignore", divide="ignore"):
        errors = np.abs(got - expected) / np.where(scale > 0, scale, 1.0)
    return np.where(np.isnan(errors), np.inf, errors)
