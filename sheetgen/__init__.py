"""sheetgen: live-formula workbooks that show a small neural network learning."""

__version__ = "0.1.0"

__all__ = ["check_workbook", "read_history", "verify_workbook"]

# Loaded on first use: `sheetgen build` must not pay for pandas or torch at start-up.
_LAZY = {
    "read_history": "sheetgen.analyse.history",
    "verify_workbook": "sheetgen.analyse.verify",
    "check_workbook": "sheetgen.analyse.check",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sheetgen' has no attribute {name!r}")
