"""Print set-up: every sheet on A4 landscape, at a scale where its text stays legible.

A sheet that would have to shrink below LEGIBLE_SCALE to fit one page wide (a learning-rate
sheet has 34 columns for the exercise's network, 158 for bigger ones) prints instead at that
scale across several pages, a block of rows left to right before the next block, with its
header rows and first column repeated on every page. A sheet that fits one page wide and
would spill a little onto a second page is fitted to one page, where that keeps the scale.

A sheet of pictures made of cells (the live CNN's feature maps, a gallery of digits) prints at
LEGIBLE_SCALE with page breaks of its own, between its blocks: page_breaks places them.
"""

from __future__ import annotations

from collections.abc import Callable

A4 = 9  # XlsxWriter's paper code
MARGIN_INCHES = 0.7  # XlsxWriter's (and Excel's) default left and right margins
TOP_BOTTOM_MARGIN_INCHES = 0.75  # and top and bottom ones (headers and footers inside them)
PAGE_WIDTH_INCHES = 11.69  # A4 landscape
PAGE_HEIGHT_INCHES = 8.27
PIXELS_PER_INCH = 96
POINTS_PER_INCH = 72
PRINTABLE_WIDTH_PX = int((PAGE_WIDTH_INCHES - 2 * MARGIN_INCHES) * PIXELS_PER_INCH)
PRINTABLE_HEIGHT_PX = int((PAGE_HEIGHT_INCHES - 2 * TOP_BOTTOM_MARGIN_INCHES) * PIXELS_PER_INCH)
PRINTABLE_HEIGHT_PT = (PAGE_HEIGHT_INCHES - 2 * TOP_BOTTOM_MARGIN_INCHES) * POINTS_PER_INCH
LEGIBLE_SCALE = 70  # percent: an 11 pt font prints at 7.7 pt, a 9 pt one at 6.3 pt
PAGE_FILL = 0.95  # of a page's height that page_breaks fills: a spreadsheet may grow a row
DEFAULT_COLUMN_WIDTH = 8.43  # Excel's default column, in characters: 64 pixels
DEFAULT_COLUMN_PX = 64
DEFAULT_ROW_PT = 15  # Excel's default row height (20 pixels)


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
    content_height_px: int | None = None,
) -> bool:
    """A4 landscape; one page wide if that keeps LEGIBLE_SCALE, else across pages.

    Args:
        ws: the worksheet.
        content_px: the width of what the sheet shows, in pixels.
        header_rows: (first, last) 0-based rows repeated at the top of every page.
        header_columns: (first, last) 0-based columns repeated at the left of every page
            (a learning-rate sheet's iteration) when the sheet prints across several pages.
        content_height_px: the height of what the sheet shows, when known: a sheet one page
            wide that one page holds at LEGIBLE_SCALE or more is fitted to that one page.

    Returns:
        Whether the sheet is fitted to one page wide.
    """
    ws.set_landscape()
    ws.set_paper(A4)
    if header_rows is not None:
        ws.repeat_rows(*header_rows)
    fits = content_px * LEGIBLE_SCALE <= PRINTABLE_WIDTH_PX * 100
    if fits:
        one_page = (
            content_height_px is not None and content_height_px * LEGIBLE_SCALE <= PRINTABLE_HEIGHT_PX * 100
        )
        ws.fit_to_pages(1, 1 if one_page else 0)  # as wide as one page, as long as it takes
    else:
        ws.set_print_scale(LEGIBLE_SCALE)
        ws.print_across()  # a row is read left to right, so its pages come one after another
        if header_columns is not None:
            ws.repeat_columns(*header_columns)
    return fits


def page_breaks(
    groups: list[list[int]], end: int, row_height: Callable[[int], float], scale: int = LEGIBLE_SCALE
) -> list[int]:
    """Where pages must start so that no block of rows is cut, printed at `scale`.

    Args:
        groups: blocks in order, as lists of their units' first rows: a unit (a row of
            feature maps) runs to the next unit's first row, the last one to `end`. A group (a
            layer) starts a new page unless it fits whole on the current one; a group taller
            than a page breaks between its units.
        end: the row after the last unit.
        row_height: a row's height in points.
        scale: the print scale, in percent.

    Returns:
        The 0-based first rows of the pages after the first, for set_h_pagebreaks.
    """
    capacity = PRINTABLE_HEIGHT_PT * PAGE_FILL * 100 / scale
    starts = [row for group in groups for row in group] + [end]
    height = {
        first: sum(row_height(row) for row in range(first, after)) for first, after in zip(starts, starts[1:])
    }
    breaks, used = [], 0.0
    for group in groups:
        whole = sum(height[first] for first in group)
        if used and used + whole > capacity:
            breaks.append(group[0])
            used = 0.0
        for first in group:
            if used and used + height[first] > capacity:
                breaks.append(first)
                used = 0.0
            used += height[first]
    return breaks


def set_up_pages(ws, breaks: list[int]) -> None:
    """A4 landscape at LEGIBLE_SCALE, a new page at each of `breaks` (page_breaks)."""
    ws.set_landscape()
    ws.set_paper(A4)
    ws.set_print_scale(LEGIBLE_SCALE)  # not fitted: a spreadsheet ignores page breaks then
    ws.set_h_pagebreaks(breaks)
