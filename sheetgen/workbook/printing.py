"""Print set-up: every sheet on A4 landscape, one page wide where the text stays legible.

A sheet that would have to shrink below LEGIBLE_SCALE to fit one page wide (a learning-rate
sheet has 34 columns for the exercise's network, 158 for bigger ones) prints instead at that
scale across several pages, a block of rows left to right before the next block, with its
header rows and first column repeated on every page.
"""

from __future__ import annotations

A4 = 9  # XlsxWriter's paper code
MARGIN_INCHES = 0.7  # XlsxWriter's (and Excel's) default left and right margins
PAGE_WIDTH_INCHES = 11.69  # A4 landscape
PIXELS_PER_INCH = 96
PRINTABLE_WIDTH_PX = int((PAGE_WIDTH_INCHES - 2 * MARGIN_INCHES) * PIXELS_PER_INCH)
LEGIBLE_SCALE = 70  # percent: an 11 pt font prints at 7.7 pt, still easy to read
DEFAULT_COLUMN_WIDTH = 8.43  # Excel's default column, in characters: 64 pixels
DEFAULT_COLUMN_PX = 64


def column_px(width: float) -> int:
    """Pixel width of a column of `width` characters, as XlsxWriter and Excel compute it."""
    if width < 1:
        return int(width * 12 + 0.5)
    return int(width * 7 + 0.5) + 5


def set_up(
    ws,
    content_px: int,
    header_rows: tuple[int, int] | None = None,
    header_columns: tuple[int, int] | None = None,
) -> bool:
    """A4 landscape; one page wide if that keeps LEGIBLE_SCALE, else across pages.

    Args:
        ws: the worksheet.
        content_px: the width of what the sheet shows, in pixels.
        header_rows: (first, last) 0-based rows repeated at the top of every page.
        header_columns: (first, last) 0-based columns repeated at the left of every page
            (a learning-rate sheet's iteration) when the sheet prints across several pages.

    Returns:
        Whether the sheet is fitted to one page wide.
    """
    ws.set_landscape()
    ws.set_paper(A4)
    if header_rows is not None:
        ws.repeat_rows(*header_rows)
    fits = content_px * LEGIBLE_SCALE <= PRINTABLE_WIDTH_PX * 100
    if fits:
        ws.fit_to_pages(1, 0)  # as wide as one page, as long as it takes
    else:
        ws.set_print_scale(LEGIBLE_SCALE)
        ws.print_across()  # a row is read left to right, so its pages come one after another
        if header_columns is not None:
            ws.repeat_columns(*header_columns)
    return fits
