"""sheetgen: live-formula workbooks that show a small neural network learning."""

__version__ = "0.1.0"
