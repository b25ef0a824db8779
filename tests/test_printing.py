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


def test_one_page_where_the_sheet_nearly_fits_and_stays_legible():
    """A sheet one page wide that a single page holds at LEGIBLE_SCALE is fitted to it (the
    Network sheet); one that would shrink further prints as long as it takes."""
    limit = printing.PRINTABLE_HEIGHT_PX * 100 // printing.LEGIBLE_SCALE
    for height, pages_high in [(None, 0), (600, 1), (limit, 1), (limit + 1, 0)]:
        ws = Recorder()
        assert printing.set_up(ws, 900, content_height_px=height)
        assert ws.calls["fit_to_pages"] == (1, pages_high), height


# Rows of 10 pt printed at 100%: a page holds PRINTABLE_HEIGHT_PT * PAGE_FILL = 463 pt, 46 rows.
@pytest.mark.parametrize(
    "groups, end, breaks",
    [
        ([[0], [20]], 40, []),  # both fit one page
        ([[0], [30]], 60, [30]),  # the second does not fit what is left: a page of its own
        ([[0, 30, 60]], 90, [30, 60]),  # taller than a page: broken between its units
        ([[0], [10, 40]], 70, [10, 40]),  # a new page for the group, then between its units
        ([[0], [10]], 100, [10]),  # a unit taller than a page starts one, and runs over
    ],
)
def test_page_breaks_fall_between_blocks(groups, end, breaks):
    assert printing.page_breaks(groups, end, lambda row: 10, scale=100) == breaks


def test_pages_at_a_legible_scale_with_their_breaks():
    ws = Recorder()
    printing.set_up_pages(ws, [45, 102])
    assert ws.calls["set_paper"] == (printing.A4,) and ws.calls["set_landscape"] == ()
    assert ws.calls["set_print_scale"] == (printing.LEGIBLE_SCALE,) and "fit_to_pages" not in ws.calls
    assert ws.calls["set_h_pagebreaks"] == ([45, 102],)
