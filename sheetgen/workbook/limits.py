"""How big a workbook sheetgen agrees to build, decided from the spec alone before any work, and
so how big a workbook with a sheetgen record may be when `sheetgen verify` reads it back.

A spreadsheet holds 16,384 columns (A to XFD) and 1,048,576 rows; an Excel chart holds 255
series. Beyond those, what bounds a workbook is what it costs to check: `sheetgen verify`
recalculates every formula in LibreOffice, which needs about 570 bytes of memory per formula
cell (measured on the default network: 277 MiB at 165,033 formulas, 650 MiB at 825,033,
1,589 MiB at 2,475,033), and reads the workbook three times (formulas, cached values and
LibreOffice's values: about 285 bytes a cell). MAX_FORMULA_CELLS keeps both near 1 GiB
(benchmarks/bench_limit.py measures them at the limit); building costs less (the engine's
traces, 8 bytes a cell, and one sheet's per-iteration arrays: 144 MiB peak at 3,960,198 cells).

Whatever build writes, verify must read: package_limits gives the largest package a spec can
make, as XlsxWriter writes it or LibreOffice rewrites it, and verify holds a workbook with a
record to those limits instead of the ones for any workbook (sheetgen/untrusted.py).
check_build_size refuses a spec whose package would pass OWN_CEILING, the limits verify applies
before it has read the spec.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from sheetgen import untrusted
from sheetgen.untrusted import Limits
from sheetgen.workbook.layout import FIRST_DATA_ROW, INPUT_FIRST_COL, PREV, THIS, SheetLayout
from sheetgen.workbook.quantities import column_count, input_count
from sheetgen.workbook.spec import MAX_COLUMNS, MAX_ITERATIONS, NetworkSpec, SpecError

MAX_CHART_SERIES = 255  # series in one Excel chart: the Overview has one per rate
# Formula cells of the learning-rate sheets, all together. The default network reaches it at
# 7,574 iterations with 6 learning rates, 45,453 with one.
MAX_FORMULA_CELLS = 1_500_000

# How large a cell can be in a sheet's XML, beyond its formula's text: the tag, the reference
# (XFD1048576), a style, a type and a 24-character value (<c r=".." s=".." t=".."><f
# aca="false">…</f><v>…</v></c> as LibreOffice writes it is under 110 bytes).
CELL_BYTES = 128
# A formula's text in the XML: escaped (&lt; &amp; &quot;), and written at most twice as long
# again by another program (LibreOffice spells some functions out, _xlfn. prefixes).
FORMULA_GROWTH = 2
POINT_BYTES = 160  # one cached point of a chart series (<c:pt idx=".."><c:v>…</c:v></c:pt>)
SHEET_HEAD_BYTES = 2**20  # a learning-rate sheet's title, inputs, column settings, print setup
# The limits verify applies to a workbook with a sheetgen record before it has read the spec
# (then package_limits of that spec); check_build_size keeps every spec within them.
OWN_CEILING = Limits(
    part_bytes=2**30,
    total_bytes=2 * 2**30,
    cells=untrusted.MAX_CELLS + 2 * MAX_FORMULA_CELLS,
)


_QUOTES = {'"': "&quot;", "'": "&apos;"}


def check_build_size(spec: NetworkSpec) -> None:
    """Refuse a build that a spreadsheet cannot hold or that verify could not check.

    Raises:
        SpecError: the sheet needs more than 16,384 columns or 1,048,576 rows, the Overview
            chart more than 255 series, the learning-rate sheets more than MAX_FORMULA_CELLS
            formulas, or the package more than OWN_CEILING.
    """
    if len(spec.learning_rates) > MAX_CHART_SERIES:
        raise SpecError(
            f"{len(spec.learning_rates)} learning rates: the Overview chart holds "
            f"at most {MAX_CHART_SERIES} series (one per learning rate); give fewer"
        )
    # counted, not laid out: the layout of a spec far beyond the limit would not fit in memory
    table_columns = column_count(spec)
    columns = max(table_columns, INPUT_FIRST_COL + input_count(spec))
    if columns > MAX_COLUMNS:
        raise SpecError(
            f"this network needs {columns:,} columns per sheet, but a sheet has "
            f"{MAX_COLUMNS:,} (A to XFD); use fewer units or layers"
        )
    if spec.iterations > MAX_ITERATIONS:  # a NetworkSpec made directly, not by spec_from_dict
        raise SpecError(
            f"{spec.iterations:,} iterations need more rows than a sheet's "
            f"1,048,576; at most {MAX_ITERATIONS:,}"
        )
    rows = spec.iterations + 1
    rates = len(spec.learning_rates)
    cells = rates * rows * (table_columns - 1)
    if cells > MAX_FORMULA_CELLS:
        raise SpecError(
            f"this workbook would hold {cells:,} formulas ({rates} learning "
            f"rate{'' if rates == 1 else 's'} × {rows:,} rows × {table_columns - 1} columns); "
            f"sheetgen builds at most {MAX_FORMULA_CELLS:,}, which `sheetgen verify` "
            "recalculates in about 1 GiB of memory: use fewer iterations, learning rates or units"
        )
    package = package_limits(spec)
    if (
        package.part_bytes > OWN_CEILING.part_bytes
        or package.total_bytes > OWN_CEILING.total_bytes
        or package.cells > OWN_CEILING.cells
    ):
        raise SpecError(
            f"this workbook's sheets would take up to {package.part_bytes / 2**20:,.0f} MiB "
            f"each, {package.total_bytes / 2**20:,.0f} MiB in all (its formulas are long); "
            f"sheetgen builds at most {OWN_CEILING.part_bytes // 2**20:,} MiB a sheet and "
            f"{OWN_CEILING.total_bytes // 2**20:,} MiB in all: use fewer iterations, "
            "learning rates or units"
        )


def package_limits(spec: NetworkSpec) -> Limits:
    """The largest workbook package `spec` makes, as build writes it or LibreOffice rewrites it:
    the limits for any workbook (sheetgen/untrusted.py), widened by what the learning-rate
    sheets and their charts take, which grows with the iterations and the formulas' length.

    Each formula is taken at its longest (rows of seven digits), escaped as XML, written up to
    FORMULA_GROWTH times as long, plus CELL_BYTES; tests/test_hostile_input.py holds the
    packages of build and of LibreOffice to these limits.
    """
    from sheetgen.workbook.formulas import FormulaEmitter

    layout = SheetLayout.for_spec(spec)
    emitter = FormulaEmitter(spec, layout)
    longest_rows = {THIS: 1_048_576, PREV: 1_048_575}
    row_bytes = 0
    for quantity in layout.quantities:
        texts = [emitter.template(quantity.key, first_row=first) for first in (True, False)]
        longest = max((len(escape(t.format_map(longest_rows), _QUOTES)) for t in texts if t), default=0)
        row_bytes += FORMULA_GROWTH * longest + CELL_BYTES
    rows, rates = spec.iterations + 1, len(spec.learning_rates)
    sheet = SHEET_HEAD_BYTES + rows * row_bytes
    chart = SHEET_HEAD_BYTES + rows * POINT_BYTES  # a learning rate's E_total
    overview_chart = SHEET_HEAD_BYTES + rates * rows * POINT_BYTES  # every rate's
    columns = max(len(layout.quantities), INPUT_FIRST_COL + input_count(spec))
    anyone = untrusted.foreign_limits()
    return Limits(
        part_bytes=max(anyone.part_bytes, sheet, overview_chart),
        total_bytes=anyone.total_bytes + rates * (sheet + chart) + overview_chart,
        cells=anyone.cells + rates * (FIRST_DATA_ROW + rows) * columns,
        parts=anyone.parts,
    )
