"""check's findings where people look: marked on a copy of the student's own workbook
(annotate.py) and gathered for a class in a workbook for the teacher (class_report.py).

    sheetgen check my_backprop.xlsx --annotate
    sheetgen check submissions/ --annotate checked/ --report class.xlsx

xmlparts.py and package.py read and patch an .xlsx package part by part (every part not
changed is written back byte for byte); styles.py, worksheet.py, comments.py and book.py make
the edits to the styles, the marked sheets, their comments and the workbook part; marks.py says
what to mark, summary.py writes the `check` sheet.
"""

from sheetgen.analyse.feedback.annotate import (
    AnnotateError,
    annotate_outcomes,
    annotate_workbook,
    annotated_name,
    check_copy_name,
    copy_names,
)
from sheetgen.analyse.feedback.class_report import write_class_report

__all__ = [
    "AnnotateError",
    "annotate_outcomes",
    "annotate_workbook",
    "annotated_name",
    "check_copy_name",
    "copy_names",
    "write_class_report",
]
