"""Where each quantity of the live CNN sheets sits: the only place that maps them to cells.

Three sheets (rows and columns 0-based, as XlsxWriter counts):

- 'MNIST live': a panel on top (the chooser cell, true label, predicted digit with a note for a
  blank image, probability, the bar chart), then one band per layer, top to bottom in the
  model's order: the drawing canvas, the input grid and its normalisation side by side, each
  convolution's feature maps (wrapped into rows of at most MAPS_PER_ROW maps of the input's
  size), the max-pool, then global average pooling, logits and softmax as a small table in the
  wide columns on the left.
- 'MNIST weights': the normalisation constants, each convolution's folded 3x3 kernels (per
  output channel, its input channels' kernels left to right, KERNELS_PER_LINE to a line, and
  its shift), and the linear layer transposed (one column per digit), so that SUMPRODUCT pairs
  it with the column of averages.
- 'MNIST digits': the stored test digits as a gallery of pictures, DIGITS_PER_ROW to a row:
  each a caption (its number, label and test-set index) over its 28x28 grey levels.

It is computed from the network's shapes alone, so the writer and `sheetgen verify` agree. It
also says which rows a printed page must not cut (a feature map, a kernel, a picture): the
sheets are printed at a fixed scale with page breaks between those blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xlsxwriter.utility import quote_sheetname, xl_rowcol_to_cell

from sheetgen.runs.cnn import IMAGE_SIDE, KERNEL, LiveNetwork

LIVE_SHEET, WEIGHTS_SHEET, DIGITS_SHEET = "MNIST live", "MNIST weights", "MNIST digits"
SHEETS = (LIVE_SHEET, WEIGHTS_SHEET, DIGITS_SHEET)

# 'MNIST live': four wide columns on the left, a narrow gap, then the maps' square cells.
LABEL_COL, VALUE_COL, LOGIT_COL, PROBABILITY_COL = 0, 1, 2, 3
LABEL_WIDTH, VALUE_WIDTH, GAP_WIDTH = 16, 9.5, 1  # characters: 117, 72 and 12 pixels
MAPS_COL = 5  # first column of the feature maps (column 4 is the gap)
MAPS_PER_ROW = 3  # maps of the input's size side by side: canvas, input, normalised
MAPS_WIDTH = MAPS_PER_ROW * (IMAGE_SIDE + 1)  # columns a band of maps may span before it wraps
MAP_COLUMN_WIDTH = 0.92  # characters: 11 pixels (LibreOffice draws them about 5% wider)
MAP_ROW_HEIGHT = 8.25  # points: 11 pixels, so a map's cells are square
PREDICTION_ROW_HEIGHT = 36  # points: the predicted digit in large type

# the panel on top of 'MNIST live'
CHOOSER_ROW, TRUE_LABEL_ROW, PREDICTION_ROW, PROBABILITY_ROW = 4, 6, 8, 10
BLANK_NOTE = (PREDICTION_ROW, LOGIT_COL, PROBABILITY_COL)  # row, first and last column
CHART_ANCHOR = (CHOOSER_ROW - 1, PROBABILITY_COL + 1)  # the bar chart, right of the panel
FIRST_BAND_ROW = 13

# 'MNIST digits': a gallery of pictures, each a caption row over 28 rows of grey levels
DIGITS_PER_ROW = 10
GALLERY_TOP = 3  # below the title and the note
DIGIT_ROWS = 1 + IMAGE_SIDE + 1  # caption, picture, gap
DIGIT_COLS = IMAGE_SIDE + 1  # picture, gap
DIGIT_CELL_WIDTH = 0.33  # characters: 4 pixels
DIGIT_CELL_HEIGHT = 3  # points: 4 pixels
# the caption's three numbers, each merged over these columns of its picture's width
CAPTION_NUMBER, CAPTION_LABEL, CAPTION_INDEX = (0, 7), (8, 19), (20, IMAGE_SIDE - 1)

# 'MNIST weights'
MEAN_ROW = 3  # mean in column B, std in column D of this row
FIRST_CONV_ROW = 5
KERNELS_PER_LINE = 8  # input channels' kernels side by side, then the next line
WEIGHT_LABEL_WIDTH, WEIGHT_WIDTH = 12, 6  # characters: 89 and 47 pixels
KERNEL_LABEL_HEIGHT, CHANNEL_GAP_HEIGHT = 12, 6  # points: a line's "from ch" labels, the gap
SHIFT_COL = 1 + KERNEL * KERNELS_PER_LINE + 1  # after a narrow gap column


def ref(row: int, col: int, sheet: str | None = None, absolute: bool = False) -> str:
    """An A1 reference, with its sheet name when given (always absolute then)."""
    a1 = xl_rowcol_to_cell(row, col, absolute or sheet is not None, absolute or sheet is not None)
    return f"{quote_sheetname(sheet)}!{a1}" if sheet else a1


def column_absolute(row: int, col: int) -> str:
    """An A1 reference whose column is fixed and row is not ($D19): a conditional format's
    formula, written for its range's first row, then read on each row."""
    return xl_rowcol_to_cell(row, col, row_abs=False, col_abs=True)


def area(top: int, left: int, rows: int, cols: int, sheet: str | None = None) -> str:
    """An A1 range of rows x cols from (top, left); relative unless on another sheet."""
    return (
        ref(top, left, sheet) + ":" + ref(top + rows - 1, left + cols - 1, None, absolute=sheet is not None)
    )


@dataclass
class Band:
    """One layer's maps on the live sheet: where its heading is and where each map starts."""

    name: str  # "conv2"
    heading_row: int
    side: int
    origins: list[tuple[int, int]] = field(default_factory=list)  # (row, col) of each map
    label_rows: list[int] = field(default_factory=list)  # one per row of maps


@dataclass
class LiveLayout:
    """Cells of the three sheets for one network's shapes."""

    network: LiveNetwork
    canvas_origin: tuple[int, int] = (0, 0)
    input_origin: tuple[int, int] = (0, 0)
    normalized_origin: tuple[int, int] = (0, 0)
    canvas_note_row: int = 0
    input_band: Band | None = None
    convs: list[Band] = field(default_factory=list)
    pool: Band | None = None
    gap_heading_row: int = 0
    gap_first_row: int = 0
    output_first_row: int = 0
    last_row: int = 0
    row_heights: dict[int, float] = field(default_factory=dict)  # points, where not the default
    weight_row_heights: dict[int, float] = field(default_factory=dict)  # on 'MNIST weights'
    kernel_origins: dict[tuple[int, int, int], tuple[int, int]] = field(default_factory=dict)
    shift_cells: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    conv_heading_rows: dict[int, int] = field(default_factory=dict)
    channel_rows: dict[tuple[int, int], int] = field(default_factory=dict)  # its label row
    weights_bottom: dict[int, int] = field(default_factory=dict)  # a convolution's last row
    linear_header_row: int = 0
    bias_row: int = 0

    @classmethod
    def for_network(cls, network: LiveNetwork) -> LiveLayout:
        layout = cls(network)
        layout._place_live()
        layout._place_weights()
        return layout

    # 'MNIST live' ----------------------------------------------------------------------------
    def _band(self, name: str, row: int, count: int, side: int) -> tuple[Band, int]:
        """Maps of one layer from `row`: heading, then rows of (label row, side rows, gap)."""
        band = Band(name, row, side)
        per_row = max(1, MAPS_WIDTH // (side + 1))
        row += 1
        for start in range(0, count, per_row):
            band.label_rows.append(row)
            for n in range(start, min(count, start + per_row)):
                band.origins.append((row + 1, MAPS_COL + (n - start) * (side + 1)))
            self._map_rows(row + 1, side)
            row += side + 2
        return band, row + 1

    def _map_rows(self, top: int, side: int) -> None:
        for y in range(side):
            self.row_heights[top + y] = MAP_ROW_HEIGHT

    def _place_live(self) -> None:
        network = self.network
        self.row_heights[PREDICTION_ROW] = PREDICTION_ROW_HEIGHT
        band = Band("input", FIRST_BAND_ROW, IMAGE_SIDE)
        band.label_rows.append(FIRST_BAND_ROW + 1)
        top = FIRST_BAND_ROW + 2
        self.canvas_origin = (top, MAPS_COL)
        self.input_origin = (top, MAPS_COL + IMAGE_SIDE + 1)
        self.normalized_origin = (top, MAPS_COL + 2 * (IMAGE_SIDE + 1))
        self.canvas_note_row = top + IMAGE_SIDE
        band.origins = [self.canvas_origin, self.input_origin, self.normalized_origin]
        self._map_rows(top, IMAGE_SIDE)
        self.input_band = band
        row = top + IMAGE_SIDE + 2
        for index, (conv, side) in enumerate(zip(network.convs, network.sides()), start=1):
            band, row = self._band(f"conv{index}", row, conv.out_channels, side)
            self.convs.append(band)
            if index == network.pool_after:
                self.pool, row = self._band("pool", row, conv.out_channels, side // 2)
        self.gap_heading_row = row
        self.gap_first_row = row + 1
        self.output_first_row = self.gap_first_row + self.network.convs[-1].out_channels + 2
        self.last_row = self.output_first_row + len(network.linear_bias) - 1

    def live_page_groups(self) -> list[list[int]]:
        """The live sheet's printed blocks: per layer, the first row of each row of its maps
        (a row of maps must not be cut by a page; its layer's heading goes with the first).
        The panel goes with the input; the table of averages, logits and probabilities is one."""
        bands = [b for b in [*self.convs, self.pool] if b is not None]
        bands.sort(key=lambda b: b.heading_row)
        groups = [[0]]
        for band in bands:
            groups.append([band.heading_row] + band.label_rows[1:])
        groups.append([self.gap_heading_row])
        return groups

    @property
    def chooser(self) -> str:
        return ref(CHOOSER_ROW, VALUE_COL, absolute=True)

    def canvas(self, y: int, x: int) -> tuple[int, int]:
        return self.canvas_origin[0] + y, self.canvas_origin[1] + x

    def pixel(self, y: int, x: int) -> tuple[int, int]:
        return self.input_origin[0] + y, self.input_origin[1] + x

    def input_grid(self) -> str:
        """The input grid as an absolute range."""
        top, left = self.input_origin
        return (
            ref(top, left, absolute=True)
            + ":"
            + ref(top + IMAGE_SIDE - 1, left + IMAGE_SIDE - 1, absolute=True)
        )

    def normalized(self, y: int, x: int) -> tuple[int, int]:
        return self.normalized_origin[0] + y, self.normalized_origin[1] + x

    def layer_input(self, index: int, channel: int) -> tuple[int, int, int]:
        """(top, left, side) of input channel `channel` of convolution `index` (1-based)."""
        if index == 1:
            return (*self.normalized_origin, IMAGE_SIDE)
        if index - 1 == self.network.pool_after:
            band = self.pool
        else:
            band = self.convs[index - 2]
        return (*band.origins[channel], band.side)

    def gap_cell(self, channel: int) -> tuple[int, int]:
        return self.gap_first_row + channel, VALUE_COL

    def logit_cell(self, digit: int) -> tuple[int, int]:
        return self.output_first_row + digit, LOGIT_COL

    def probability_cell(self, digit: int) -> tuple[int, int]:
        return self.output_first_row + digit, PROBABILITY_COL

    def probabilities(self, sheet: str | None = None) -> str:
        classes = len(self.network.linear_bias)
        if sheet:
            return area(self.output_first_row, PROBABILITY_COL, classes, 1, sheet)
        top = ref(self.output_first_row, PROBABILITY_COL, absolute=True)
        bottom = ref(self.output_first_row + classes - 1, PROBABILITY_COL, absolute=True)
        return f"{top}:{bottom}"

    # 'MNIST weights' -------------------------------------------------------------------------
    def _place_weights(self) -> None:
        row = FIRST_CONV_ROW
        for index, conv in enumerate(self.network.convs, start=1):
            self.conv_heading_rows[index] = row
            row += 1
            lines = -(-conv.in_channels // KERNELS_PER_LINE)
            for out in range(conv.out_channels):
                self.channel_rows[(index, out)] = row
                for channel in range(conv.in_channels):
                    line, place = divmod(channel, KERNELS_PER_LINE)
                    self.kernel_origins[(index, out, channel)] = (
                        row + 1 + line * (KERNEL + 1),
                        1 + KERNEL * place,
                    )
                self.shift_cells[(index, out)] = (row + 1, SHIFT_COL)
                for line in range(lines):
                    self.weight_row_heights[row + line * (KERNEL + 1)] = KERNEL_LABEL_HEIGHT
                row += lines * (KERNEL + 1) + 1  # each line: its labels, its kernels; a gap
                self.weight_row_heights[row - 1] = CHANNEL_GAP_HEIGHT
            self.weights_bottom[index] = row - 2
        self.linear_header_row = row + 1
        self.bias_row = self.linear_header_row + 1 + self.network.convs[-1].out_channels

    def weights_page_groups(self) -> list[list[int]]:
        """Per convolution, the first row of each output channel's kernels (a channel's kernels
        are not cut by a page; the convolution's heading goes with its first channel)."""
        groups = [[0]]
        for index, conv in enumerate(self.network.convs, start=1):
            rows = [self.channel_rows[(index, out)] for out in range(conv.out_channels)]
            groups.append([self.conv_heading_rows[index]] + rows[1:])
        groups.append([self.linear_header_row - 1])
        return groups

    def kernel(self, index: int, out: int, channel: int) -> str:
        top, left = self.kernel_origins[(index, out, channel)]
        return area(top, left, KERNEL, KERNEL, WEIGHTS_SHEET)

    def shift(self, index: int, out: int) -> str:
        return ref(*self.shift_cells[(index, out)], WEIGHTS_SHEET)

    def linear_weight_cell(self, digit: int, channel: int) -> tuple[int, int]:
        return self.linear_header_row + 1 + channel, 1 + digit

    def linear_column(self, digit: int) -> str:
        return area(
            self.linear_header_row + 1, 1 + digit, self.network.convs[-1].out_channels, 1, WEIGHTS_SHEET
        )

    def bias_cell(self, digit: int) -> tuple[int, int]:
        return self.bias_row, 1 + digit

    @property
    def mean(self) -> str:
        return ref(MEAN_ROW, 1, WEIGHTS_SHEET)

    @property
    def std(self) -> str:
        return ref(MEAN_ROW, 3, WEIGHTS_SHEET)

    # 'MNIST digits' --------------------------------------------------------------------------
    @property
    def digit_count(self) -> int:
        return len(self.network.digit_labels)

    def digit_caption_row(self, number: int) -> int:
        """The caption row of stored digit `number` (1-based, as the chooser counts)."""
        return GALLERY_TOP + DIGIT_ROWS * ((number - 1) // DIGITS_PER_ROW)

    def digit_left(self, number: int) -> int:
        return DIGIT_COLS * ((number - 1) % DIGITS_PER_ROW)

    def digit_pixel(self, number: int, y: int, x: int) -> tuple[int, int]:
        return self.digit_caption_row(number) + 1 + y, self.digit_left(number) + x

    def digit_caption(self, number: int, part: tuple[int, int]) -> tuple[int, int, int]:
        """(row, first column, last column) of one of a caption's merged cells."""
        left = self.digit_left(number)
        return self.digit_caption_row(number), left + part[0], left + part[1]

    def gallery_rows(self) -> int:
        return -(-self.digit_count // DIGITS_PER_ROW)

    def gallery(self) -> str:
        """The whole gallery, captions and pictures, as a range on 'MNIST digits': the chooser's
        INDEX into it is (number's block) + (place within the block)."""
        rows = self.gallery_rows() * DIGIT_ROWS
        cols = min(self.digit_count, DIGITS_PER_ROW) * DIGIT_COLS
        return area(GALLERY_TOP, 0, rows, cols, DIGITS_SHEET)

    def digits_page_groups(self) -> list[list[int]]:
        """Each row of pictures is a block that a page must not cut (the title goes with the first)."""
        rows = [GALLERY_TOP + DIGIT_ROWS * g for g in range(self.gallery_rows())]
        return [[0]] + [[row] for row in rows[1:]]
