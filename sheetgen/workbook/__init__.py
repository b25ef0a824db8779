"""Building a backprop workbook: the network spec, the reference engine, where each quantity
goes on a sheet, its formulas, charts, equations, diagram and print set-up, and the writer.

May import: the standard library, NumPy, XlsxWriter, matplotlib, and sheetgen's top-level
modules (files, record). Never sheetgen.analyse or sheetgen.runs, and never torch: `sheetgen
build` must start fast and run without them.
"""
