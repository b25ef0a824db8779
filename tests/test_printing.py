"""Print set-up: one page wide only where the text keeps a legible size, else across pages."""

import pytest

from sheetgen.workbook import printing


class Recorder:
    """Stands in for an XlsxWriter worksheet and records the print settings asked of it."""

    def __init__(self):
        self.calls = {}

    def __getattr__(self, name):
        return lambda *args: self.calls.__setitem__(name, args)


@pytest.mark.parametrize(
    "content_px, fits",
    [
        (600, True),  # the MNIST model sheet
        (printing.PRINTABLE_WIDTH_PX * 100 // printing.LEGIBLE_SCALE, True),  # just legible
        (printing.PRINTABLE_WIDTH_PX * 100 // printing.LEGIBLE_SCALE + 1, False),
        (75 + 33 * 89, False),  # the exercise's 34 columns
    ],
)
def test_one_page_wide_only_where_legible(content_px, fits):
    ws = Recorder()
    assert printing.set_up(ws, content_px, header_rows=(25, 26), header_columns=(0, 0)) == fits
    assert ws.calls["set_landscape"] == () and ws.calls["set_paper"] == (printing.A4,)
    assert ws.calls["repeat_rows"] == (25, 26)
    if fits:
        assert ws.calls["fit_to_pages"] == (1, 0) and "set_print_scale" not in ws.calls
    else:
        assert ws.calls["set_print_scale"] == (printing.LEGIBLE_SCALE,)
        assert "print_across" in ws.calls and ws.calls["repeat_columns"] == (0, 0)
        assert "fit_to_pages" not in ws.calls


@pytest.mark.parametrize("width, px", [(8.43, 64), (10, 75), (12, 89), (70, 495), (0.5, 6)])
def test_column_widths_in_pixels_as_excel_counts_them(width, px):
    assert printing.column_px(width) == px
