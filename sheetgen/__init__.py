"""sheetgen: live-formula workbooks that show a small neural network learning.

    >>> import sheetgen
    >>> sheetgen.build_workbook("output/backprop.xlsx")            # sheetgen build
    >>> sheetgen.verify_workbook("output/backprop.xlsx").ok        # sheetgen verify
    True
    >>> sheetgen.read_history("output/backprop.xlsx")[0.8]         # the η = 0.8 table

build_workbook, verify_workbook, check_workbook, read_history and export_run are the functions
the command line calls (sheetgen.api); each has a docstring with an example. Importing sheetgen
loads none of the libraries they use (NumPy, pandas, matplotlib, torch) until one is called.
"""

__version__ = "0.1.0"

from sheetgen.api import build_workbook, check_workbook, export_run, read_history, verify_workbook

__all__ = ["build_workbook", "check_workbook", "export_run", "read_history", "verify_workbook"]
