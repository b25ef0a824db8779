"""The two sheets the live CNN reads: 'MNIST weights' (the trained network, editable) and
'MNIST digits' (the stored test digits, as a gallery of pictures to choose from by eye).

Cells come from live_layout; both sheets print one page wide at a legible scale, with page
breaks between their blocks (a kernel, a row of pictures), never through one.
"""

from __future__ import annotations

from sheetgen.runs.cnn import IMAGE_SIDE, KERNEL
from sheetgen.runs.live_layout import (
    CAPTION_INDEX,
    CAPTION_LABEL,
    CAPTION_NUMBER,
    DIGIT_CELL_HEIGHT,
    DIGIT_CELL_WIDTH,
    DIGIT_COLS,
    DIGIT_ROWS,
    DIGITS_PER_ROW,
    DIGITS_SHEET,
    GALLERY_TOP,
    LIVE_SHEET,
    MEAN_ROW,
    SHIFT_COL,
    WEIGHT_LABEL_WIDTH,
    WEIGHT_WIDTH,
    WEIGHTS_SHEET,
    LiveLayout,
    ref,
)
from sheetgen.runs.row_order import RowOrderCells
from sheetgen.workbook import printing

INK = "#000000"


def write_weights_sheet(workbook, fmt: dict, layout: LiveLayout) -> None:
    """'MNIST weights': the normalisation, each convolution's folded kernels and shifts, and
    the linear layer, as yellow input cells the live sheet's formulas read."""
    network = layout.network
    ws = workbook.add_worksheet(WEIGHTS_SHEET)
    ws.set_column(0, 0, WEIGHT_LABEL_WIDTH)
    ws.set_column(1, SHIFT_COL - 2, WEIGHT_WIDTH)
    ws.set_column(SHIFT_COL - 1, SHIFT_COL - 1, 1)
    ws.set_column(SHIFT_COL, SHIFT_COL, WEIGHT_WIDTH)
    cells = RowOrderCells(ws, fmt["map"])
    cells.heights.update(layout.weight_row_heights)
    cells.put(0, 0, "write", "The trained network's weights, as the live sheet uses them", fmt["title"])
    cells.put(
        1,
        0,
        "write",
        "BatchNorm is folded into each convolution (inference mode): "
        "kernel = W·γ/√(σ²+ε), shift = β − μ·γ/√(σ²+ε). Yellow cells are "
        f"inputs: edit one and '{LIVE_SHEET}' follows.",
        fmt["note"],
    )
    cells.put(MEAN_ROW - 1, 0, "write", "normalisation: (x − mean) / std", fmt["heading"])
    cells.put(MEAN_ROW, 0, "write", "mean", fmt["input_label"])
    cells.put(MEAN_ROW, 1, "write_number", network.mean, fmt["weight"])
    cells.put(MEAN_ROW, 2, "write", "std", fmt["input_label"])
    cells.put(MEAN_ROW, 3, "write_number", network.std, fmt["weight"])
    for index, conv in enumerate(network.convs, start=1):
        heading = layout.conv_heading_rows[index]
        cells.put(
            heading,
            0,
            "write",
            f"conv{index}: {conv.in_channels} -> {conv.out_channels} channels, 3x3 kernels",
            fmt["heading"],
        )
        for out in range(conv.out_channels):
            cells.put(layout.channel_rows[(index, out)], 0, "write", f"conv{index} ch{out + 1}", fmt["band"])
            for channel in range(conv.in_channels):
                k_top, k_left = layout.kernel_origins[(index, out, channel)]
                cells.put(k_top - 1, k_left, "write", f"from ch{channel + 1}", fmt["map_label"])
                for dy in range(KERNEL):
                    for dx in range(KERNEL):
                        cells.put(
                            k_top + dy,
                            k_left + dx,
                            "write_number",
                            float(conv.weight[out, channel, dy, dx]),
                            fmt["weight_first"] if dx == 0 else fmt["weight"],
                        )
            s_row, s_col = layout.shift_cells[(index, out)]
            cells.put(s_row - 1, s_col, "write", "shift", fmt["map_label"])
            cells.put(s_row, s_col, "write_number", float(conv.shift[out]), fmt["weight"])
        # blue for negative, red for positive weights, white at zero, per convolution
        ws.conditional_format(
            heading + 1,
            1,
            layout.weights_bottom[index],
            SHIFT_COL,
            {
                "type": "3_color_scale",
                "min_color": "#5B9BD5",
                "mid_type": "num",
                "mid_value": 0,
                "mid_color": "#FFFFFF",
                "max_color": "#F8696B",
            },
        )
    header = layout.linear_header_row
    channels = network.convs[-1].out_channels
    cells.put(
        header - 1,
        0,
        "write",
        f"linear: {channels} averages -> {len(network.linear_bias)} logits (one column per digit)",
        fmt["heading"],
    )
    cells.put(header, 0, "write", "from \\ digit", fmt["header"])
    for digit in range(len(network.linear_bias)):
        cells.put(header, 1 + digit, "write_number", digit, fmt["header"])
        for channel in range(channels):
            cells.put(
                *layout.linear_weight_cell(digit, channel),
                "write_number",
                float(network.linear_weight[digit, channel]),
                fmt["weight"],
            )
        cells.put(*layout.bias_cell(digit), "write_number", float(network.linear_bias[digit]), fmt["weight"])
    for channel in range(channels):
        cells.put(header + 1 + channel, 0, "write", f"ch{channel + 1}")
    cells.put(layout.bias_row, 0, "write", "bias")
    cells.flush()
    breaks = printing.page_breaks(
        layout.weights_page_groups(),
        layout.bias_row + 1,
        lambda row: layout.weight_row_heights.get(row, printing.DEFAULT_ROW_PT),
    )
    printing.set_up_pages(ws, breaks)


def write_digits_sheet(workbook, fmt: dict, layout: LiveLayout) -> None:
    """'MNIST digits': each stored digit as a picture of its 784 grey levels (0-255, shaded by
    the live input's colour scale), under a caption of its number, label and test-set index."""
    network = layout.network
    count = layout.digit_count
    ws = workbook.add_worksheet(DIGITS_SHEET)
    ws.hide_gridlines(2)
    ws.set_column(0, DIGITS_PER_ROW * DIGIT_COLS - 1, DIGIT_CELL_WIDTH)
    cells = RowOrderCells(ws, fmt["map"])
    cells.put(0, 0, "write", f"The {count} stored test digits the live sheet can show", fmt["title"])
    cells.put(
        1,
        0,
        "write",
        f"Each picture: its number (type it into the yellow cell on '{LIVE_SHEET}'), its label, "
        "and after # its place in the MNIST test set. A cell holds a grey level from 0 (white) "
        "to 255 (black): select one to see it.",
        fmt["note"],
    )
    for number in range(1, count + 1):
        caption = layout.digit_caption_row(number)
        for row in range(caption + 1, caption + DIGIT_ROWS):
            cells.heights[row] = DIGIT_CELL_HEIGHT
        for part, value, style in (
            (CAPTION_NUMBER, number, fmt["digit_number"]),
            (CAPTION_LABEL, network.digit_labels[number - 1], fmt["digit_label"]),
            (CAPTION_INDEX, network.digit_indices[number - 1], fmt["digit_index"]),
        ):
            row, first, last = layout.digit_caption(number, part)
            cells.put(row, first, "merge_range", row, last, value, style)
        picture = network.digit_pixels[number - 1]
        for y in range(IMAGE_SIDE):
            for x in range(IMAGE_SIDE):
                cells.put(*layout.digit_pixel(number, y, x), "write_number", int(picture[y, x]), fmt["map"])
    cells.flush()
    # one range per row of pictures, their captions left out of the scale
    rows = []
    for first in range(1, count + 1, DIGITS_PER_ROW):
        last = min(count, first + DIGITS_PER_ROW - 1)
        rows.append(
            (*layout.digit_pixel(first, 0, 0), *layout.digit_pixel(last, IMAGE_SIDE - 1, IMAGE_SIDE - 1))
        )
    ws.conditional_format(
        *rows[0],
        {
            "type": "2_color_scale",
            "min_color": "#FFFFFF",
            "max_color": INK,
            "min_type": "num",
            "min_value": 0,
            "max_type": "num",
            "max_value": 255,
            "multi_range": " ".join(
                f"{ref(top, left)}:{ref(bottom, right)}" for top, left, bottom, right in rows
            ),
        },
    )
    end = GALLERY_TOP + layout.gallery_rows() * DIGIT_ROWS
    breaks = printing.page_breaks(
        layout.digits_page_groups(), end, lambda row: cells.heights.get(row, printing.DEFAULT_ROW_PT)
    )
    printing.set_up_pages(ws, breaks)
