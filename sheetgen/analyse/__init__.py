"""Analysing a workbook: reading it back, recalculating it with LibreOffice, verifying one that
sheetgen built (verify, verify_live), checking one made by hand (check/), and its history as
DataFrames.

May import: sheetgen.workbook (the engine, layout and formulas that say what a cell should hold),
sheetgen.runs (the layout of an exported run's sheets, to verify them) and the top-level
modules. Never torch: check recomputes hand-made tables with the build's NumPy engine.
"""
