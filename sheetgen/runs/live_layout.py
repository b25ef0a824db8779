"""Where each quantity of the live CNN sheets sits: the only place that maps them to cells.

Three sheets (rows and columns 0-based, as XlsxWriter counts):

- 'MNIST live': a panel on top (the chooser cell, true label, predicted digit, probability,
  the bar chart), then one band per layer, top to bottom in the model's order: the input and
  its normalisation side by side, each convolution's feature maps (wrapped into rows of maps
  at most MAPS_WIDTH columns wide), the max-pool, then global average pooling, logits and
  softmax as a small table in the wide columns on the left.
- 'MNIST weights': the normalisation constants, each convolution's folded 3x3 kernels (one
  block row per output channel, input channels left to right, its shift after them), and the
  linear layer transposed (one column per digit), so that SUMPRODUCT pairs it with the column
  of averages.
- 'MNIST digits': one row per stored test digit: number, test-set index, label, 784 pixels.

It is computed from the network's shapes alone, so the writer and `sheetgen verify` agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xlsxwriter.utility import quote_sheetname, xl_rowcol_to_cell

from sheetgen.runs.cnn import IMAGE_SIDE, KERNEL, LiveNetwork

LIVE_SHEET, WEIGHTS_SHEET, DIGITS_SHEET = "MNIST live", "MNIST weights", "MNIST digits"
SHEETS = (LIVE_SHEET, WEIGHTS_SHEET, DIGITS_SHEET)

LABEL_COL, VALUE_COL, LOGIT_COL, PROBABILITY_COL = 0, 1, 2, 3  # the wide columns
MAPS_COL = 5  # first column of the feature maps (column 4 is a gap)
MAPS_WIDTH = 4 * (IMAGE_SIDE + 1)  # columns a band of maps may span before it wraps

# the panel on top of 'MNIST live'
CHOOSER_ROW, TRUE_LABEL_ROW, PREDICTION_ROW, PROBABILITY_ROW = 4, 6, 8, 10
FIRST_BAND_ROW = 13

# 'MNIST digits'
DIGITS_HEADER_ROW = 2
DIGIT_PIXELS_COL = 3

# 'MNIST weights'
MEAN_ROW = 3  # mean in column B, std in column D of this row
FIRST_CONV_ROW = 5


def ref(row: int, col: int, sheet: str | None = None, absolute: bool = False) -> str:
    """An A1 reference, with its sheet name when given (always absolute then)."""
    a1 = xl_rowcol_to_cell(row, col, absolute or sheet is not None, absolute or sheet is not None)
    return f"{quote_sheetname(sheet)}!{a1}" if sheet else a1


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
    label_rows: list[int] = field(default_factory=list)


@dataclass
class LiveLayout:
    """Cells of the three sheets for one network's shapes."""

    network: LiveNetwork
    input_origin: tuple[int, int] = (0, 0)
    normalized_origin: tuple[int, int] = (0, 0)
    input_band: Band | None = None
    convs: list[Band] = field(default_factory=list)
    pool: Band | None = None
    gap_heading_row: int = 0
    gap_first_row: int = 0
    output_first_row: int = 0
    last_row: int = 0
    kernel_origins: dict[tuple[int, int, int], tuple[int, int]] = field(default_factory=dict)
    shift_cells: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    conv_heading_rows: dict[int, int] = field(default_factory=dict)
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
            row += side + 2
        return band, row + 1

    def _place_live(self) -> None:
        network = self.network
        band = Band("input", FIRST_BAND_ROW, IMAGE_SIDE)
        band.label_rows.append(FIRST_BAND_ROW + 1)
        self.input_origin = (FIRST_BAND_ROW + 2, MAPS_COL)
        self.normalized_origin = (FIRST_BAND_ROW + 2, MAPS_COL + IMAGE_SIDE + 1)
        band.origins = [self.input_origin, self.normalized_origin]
        self.input_band = band
        row = FIRST_BAND_ROW + 2 + IMAGE_SIDE + 2
        for index, (conv, side) in enumerate(zip(network.convs, network.sides()), start=1):
            band, row = self._band(f"conv{index}", row, conv.out_channels, side)
            self.convs.append(band)
            if index == network.pool_after:
                self.pool, row = self._band("pool", row, conv.out_channels, side // 2)
        self.gap_heading_row = row
        self.gap_first_row = row + 1
        self.output_first_row = self.gap_first_row + self.network.convs[-1].out_channels + 2
        self.last_row = self.output_first_row + len(network.linear_bias) - 1

    @property
    def chooser(self) -> str:
        return ref(CHOOSER_ROW, VALUE_COL, absolute=True)

    def pixel(self, y: int, x: int) -> tuple[int, int]:
        return self.input_origin[0] + y, self.input_origin[1] + x

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
            for out in range(conv.out_channels):
                for channel in range(conv.in_channels):
                    self.kernel_origins[(index, out, channel)] = (row + 1, 1 + 4 * channel)
                self.shift_cells[(index, out)] = (row + 1, 1 + 4 * conv.in_channels)
                row += KERNEL + 2
        self.linear_header_row = row
        self.bias_row = row + 1 + self.network.convs[-1].out_channels

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
    def digit_pixels(self) -> str:
        count = len(self.network.digit_labels)
        return area(DIGITS_HEADER_ROW + 1, DIGIT_PIXELS_COL, count, IMAGE_SIDE**2, DIGITS_SHEET)

    def digit_labels(self) -> str:
        return area(DIGITS_HEADER_ROW + 1, 2, len(self.network.digit_labels), 1, DIGITS_SHEET)
