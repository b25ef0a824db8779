"""Putting a training run into a workbook: the run directory's record (training.py), the MNIST
sheets and the live network sheets, and the export that re-renders a workbook with them.

May import: sheetgen.workbook and the top-level modules; never sheetgen.analyse, and never torch
(the mnist package trains; this package only reads what a run wrote).
"""
