"""A workbook's training tables as pandas DataFrames, from the values the file caches, so a
notebook can analyse a workbook without opening Excel:

    >>> import sheetgen
    >>> tables = sheetgen.read_history("output/backprop.xlsx")
    >>> tables[0.8]["E_total"].iloc[-1]                      # doctest: +SKIP
    8.528...e-05

A workbook sheetgen built is read through its recorded spec and layout; any other workbook
through the tables `sheetgen check` recognises by what their cells compute.
"""

from __future__ import annotations

from pathlib import Path

from sheetgen.analyse.compare import as_number
from sheetgen.analyse.reading import cell, load_grids, uncached_formulas
from sheetgen.record import NoSpecError, record_from_grids


class HistoryError(ValueError):
    """The workbook's tables cannot be read (no cached values, or no table); says why."""


def read_history(path: str | Path) -> dict:
    """Each learning rate's table as a DataFrame indexed by iteration, one column per label.

    Args:
        path: a workbook built by sheetgen, or a hand-made one `sheetgen check` can read.

    Returns:
        {learning rate: DataFrame}, in the order of the sheets. A sheetgen workbook is keyed
        by the learning rates it was built for; a hand-made one by the η each table uses.

    Raises:
        reading.WorkbookError: the file is missing or unreadable.
        HistoryError: formulas have no cached values (the file was saved by a program that
            does not calculate), or no table is recognised.
    """
    import pandas as pd  # only this API needs pandas

    path = Path(path)
    formulas = load_grids(path, formulas=True)
    values = load_grids(path, formulas=False)
    if uncached_formulas(formulas, values):
        raise HistoryError(
            f"{path} has formulas without cached values (it was saved by a program that does "
            "not calculate, such as openpyxl); open and save it in Excel or LibreOffice, or "
            "recalculate it with sheetgen.analyse.recalc.recalculate"
        )
    try:
        spec = record_from_grids(formulas, path).spec
    except NoSpecError:
        return _handmade(path, pd)
    from sheetgen.workbook.layout import SheetLayout, sheet_name

    layout = SheetLayout.for_spec(spec)
    tables = {}
    for learning_rate in spec.learning_rates:
        grid = values.get(sheet_name(learning_rate))
        if grid is None:
            raise HistoryError(f"{path} has no sheet '{sheet_name(learning_rate)}'")
        rows = [layout.row(t) for t in range(spec.iterations + 1)]
        frame = pd.DataFrame(
            {
                q.label: [as_number(cell(grid, r, layout.column_of[q.key])) for r in rows]
                for q in layout.quantities
            }
        )
        frame["iteration"] = frame["iteration"].astype(int)
        tables[learning_rate] = frame.set_index("iteration")
    return tables


def _handmade(path: Path, pd) -> dict:
    from sheetgen.analyse.check import HINT
    from sheetgen.analyse.check.cells import Cells
    from sheetgen.analyse.check.locate import find_tables
    from sheetgen.analyse.check.network import NotANetwork, read_network
    from sheetgen.analyse.check.read import read_book
    from sheetgen.analyse.check.recognise import recognise_table

    book = read_book(path)
    found, _ = find_tables(book)
    tables = {}
    for located in found:
        cells = Cells(located, book)
        try:
            table = recognise_table(located, cells, read_network(located, cells))
        except NotANetwork:
            continue
        if ("eta",) in table.constants:
            learning_rate = table.constants[("eta",)].value
        elif ("eta",) in table.primary:
            learning_rate = float(cells.values[table.primary[("eta",)]][0])
        else:
            raise HistoryError(
                f"{path}: the table on {table.sheet} at {table.refs(0)[0]} has no η; label its cell η"
            )
        if learning_rate in tables:
            raise HistoryError(f"{path}: two tables use η = {learning_rate:g}; read_history keys tables by η")
        frame = pd.DataFrame({table.names[line]: cells.values[line] for line in range(len(table.lines))})
        frame.index.name = "iteration"
        tables[learning_rate] = frame
    if not tables:
        raise HistoryError(f"no training table recognised in {path}. {HINT}")
    return tables
