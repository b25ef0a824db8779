"""The MNIST sheets of the workbook (metrics with charts, model table, confusion matrix, gallery
of misclassified digits) and the same plots as PNG files beside the run."""

from __future__ import annotations

import io
from pathlib import Path

from xlsxwriter.utility import xl_rowcol_to_cell

from sheetgen.runs.training import METRIC_COLUMNS, TrainingRecord
from sheetgen.workbook import formulas, printing

METRICS_SHEET = "MNIST metrics"
MODEL_SHEET = "MNIST model"
CONFUSION_SHEET = "MNIST confusion"
ERRORS_SHEET = "MNIST errors"
SHEETS = (METRICS_SHEET, MODEL_SHEET, CONFUSION_SHEET, ERRORS_SHEET)

TABLE_HEADER_ROW = 2  # the metrics table: header here, one row per epoch below
GALLERY_SIZE = 24  # misclassified digits in the picture
# What a reader sees above each column; metrics.csv keeps METRIC_COLUMNS, the names programs use.
METRIC_HEADERS = {
    "epoch": "Epoch",
    "train_loss": "Train loss",
    "train_accuracy": "Train accuracy (%)",
    "test_loss": "Test loss",
    "test_accuracy": "Test accuracy (%)",
    "lr": "Learning rate",
    "seconds": "Time (s)",
}
METRICS_WIDTH = 18  # characters per column of the metrics table
CHART_SIZE = (620, 340)
GALLERY_WIDTH_PX = 880  # the gallery picture: 8 digits of 1.1 inches at most


def write_mnist_sheets(workbook, fmt: dict, record: TrainingRecord) -> None:
    """Add the four MNIST sheets (SHEETS) for `record` to an XlsxWriter workbook."""
    _metrics_sheet(workbook, fmt, record)
    _model_sheet(workbook, fmt, record)
    _confusion_sheet(workbook, fmt, record)
    _errors_sheet(workbook, fmt, record)


def _metrics_sheet(workbook, fmt, record: TrainingRecord) -> None:
    ws = workbook.add_worksheet(METRICS_SHEET)
    ws.set_column(0, len(METRIC_COLUMNS) - 1, METRICS_WIDTH)
    printing.set_up(
        ws,
        max(len(METRIC_COLUMNS) * printing.column_px(METRICS_WIDTH), 10 + 2 * (CHART_SIZE[0] + 20)),
        header_rows=(TABLE_HEADER_ROW, TABLE_HEADER_ROW),
    )
    ws.write(0, 0, f"MNIST training, run {record.run_name}: one row per epoch", fmt["title"])
    ws.write(
        1,
        0,
        f"{len(record.metrics)} epoch{'' if len(record.metrics) == 1 else 's'}, "
        f"{record.total_parameters:,} parameters; accuracies in percent, losses averaged per sample.",
        fmt["note"],
    )
    for col, name in enumerate(METRIC_COLUMNS):
        ws.write(TABLE_HEADER_ROW, col, METRIC_HEADERS[name], fmt["header"])
    for i, row in enumerate(record.metrics):
        for col, name in enumerate(METRIC_COLUMNS):
            ws.write_number(
                TABLE_HEADER_ROW + 1 + i,
                col,
                row[name],
                fmt["scientific"] if name == "lr" else fmt["centered"],
            )
    last = TABLE_HEADER_ROW + len(record.metrics)

    def series(name: str, label: str, colour: str) -> dict:
        col = METRIC_COLUMNS.index(name)
        return {
            "name": label,
            "categories": [METRICS_SHEET, TABLE_HEADER_ROW + 1, 0, last, 0],
            "values": [METRICS_SHEET, TABLE_HEADER_ROW + 1, col, last, col],
            # the charts' caches: the sheet is written in constant_memory mode
            "categories_data": [row["epoch"] for row in record.metrics],
            "values_data": [row[name] for row in record.metrics],
            "line": {"color": colour, "width": 2},
            "marker": {"type": "circle", "size": 5, "border": {"color": colour}, "fill": {"color": colour}},
        }

    for n, (quantity, unit) in enumerate((("loss", "loss per sample"), ("accuracy", "accuracy (%)"))):
        chart = workbook.add_chart({"type": "scatter", "subtype": "straight_with_markers"})
        chart.add_series(series(f"train_{quantity}", f"train {quantity}", "#1F4E79"))
        chart.add_series(series(f"test_{quantity}", f"test {quantity}", "#C55A11"))
        chart.set_title({"name": f"MNIST {quantity} per epoch", "name_font": {"size": 12}})
        # one epoch: 0 to 2 with the point in the middle, not an axis from 1 to 1
        single = len(record.metrics) == 1
        chart.set_x_axis(
            {
                "name": "epoch",
                "min": 0 if single else 1,
                "max": 2 if single else len(record.metrics),
                "major_unit": 1 if len(record.metrics) <= 20 else None,
            }
        )
        y_axis = {"name": unit, "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}}}
        if quantity == "accuracy":  # 0 to 100 would flatten the last percent, where it matters
            lowest = min(min(r["train_accuracy"], r["test_accuracy"]) for r in record.metrics)
            y_axis.update({"min": 5 * int(lowest // 5), "max": 100})
        chart.set_y_axis(y_axis)
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": CHART_SIZE[0], "height": CHART_SIZE[1]})
        ws.insert_chart(last + 2, 0, chart, {"x_offset": 10 + n * (CHART_SIZE[0] + 20), "y_offset": 5})


def _model_sheet(workbook, fmt, record: TrainingRecord) -> None:
    ws = workbook.add_worksheet(MODEL_SHEET)
    widths = (14, 42, 16, 16, 16)
    for col, width in enumerate(widths):
        ws.set_column(col, col, width)
    printing.set_up(ws, sum(map(printing.column_px, widths)), header_rows=(3, 3))
    ws.write(0, 0, "The MNIST model, layer by layer", fmt["title"])
    ws.write(
        1,
        0,
        "Output shape per image (channels x height x width); receptive field: the "
        "side of the input square one output value sees.",
        fmt["note"],
    )
    header = ("layer", "what it does", "output shape", "parameters", "receptive field")
    for col, text in enumerate(header):
        ws.write(3, col, text, fmt["header"])
    for i, layer in enumerate(record.layers):
        row = 4 + i
        ws.write(row, 0, layer.name)
        ws.write(row, 1, layer.description)
        ws.write(row, 2, " x ".join(map(str, layer.output_shape)), fmt["centered"])
        ws.write_number(row, 3, layer.parameters, fmt["centered"])
        ws.write_number(row, 4, layer.receptive_field, fmt["centered"])
    total_row = 4 + len(record.layers)
    ws.write(total_row, 0, "total", fmt["header"])
    first = xl_rowcol_to_cell(4, 3)
    last = xl_rowcol_to_cell(total_row - 1, 3)
    ws.write_formula(
        total_row,
        3,
        formulas.sum_of(f"{first}:{last}"),
        fmt["header"],
        sum(layer.parameters for layer in record.layers),
    )
    ws.write(
        total_row + 1, 0, f"The model has {record.total_parameters:,} trainable parameters.", fmt["note"]
    )


def _confusion_sheet(workbook, fmt, record: TrainingRecord) -> None:
    ws = workbook.add_worksheet(CONFUSION_SHEET)
    printing.set_up(ws, printing.column_px(12) * 2 + printing.column_px(7) * 10)
    ws.write(0, 0, "Confusion matrix on the test set (latest epoch)", fmt["title"])
    if record.confusion is None:
        ws.write(1, 0, "This run recorded no evaluation yet.", fmt["note"])
        return
    ws.write(
        1,
        0,
        "Rows: the true digit. Columns: what the model predicted. The diagonal is "
        "right; everything else is a mistake.",
        fmt["note"],
    )
    ws.set_column(0, 0, 12)
    ws.set_column(1, 10, 7)
    ws.set_column(11, 11, 12)
    ws.write(3, 0, "true \\ pred", fmt["header"])
    for d in range(10):
        ws.write(3, 1 + d, d, fmt["header"])
    ws.write(3, 11, "recall (%)", fmt["header"])
    for t, row in enumerate(record.confusion):
        r = 4 + t
        ws.write(r, 0, t, fmt["row_header"])  # one border down the side, not one per digit
        for p, count in enumerate(row):
            ws.write_number(r, 1 + p, count, fmt["diagonal"] if p == t else fmt["centered"])
        cells = f"{xl_rowcol_to_cell(r, 1)}:{xl_rowcol_to_cell(r, 10)}"
        right = xl_rowcol_to_cell(r, 1 + t)
        total = sum(row)
        ws.write_formula(
            r,
            11,
            formulas.percent_of_sum(right, cells),
            fmt["two_decimals"],
            100 * row[t] / total if total else 0,
        )
    # The diagonal (thousands) would wash out the mistakes (a handful each) on one scale, so
    # the heat map covers the mistakes only and the diagonal is plain green.
    cell = xl_rowcol_to_cell
    mistakes = []
    for t in range(10):
        r = 4 + t
        if t > 0:
            mistakes.append(f"{cell(r, 1)}:{cell(r, t)}")
        if t < 9:
            mistakes.append(f"{cell(r, 2 + t)}:{cell(r, 10)}")
    ws.conditional_format(
        4,
        2,
        4,
        10,
        {
            "type": "2_color_scale",
            "min_color": "#FFFFFF",
            "max_color": "#F8696B",
            "multi_range": " ".join(mistakes),
        },
    )


def _errors_sheet(workbook, fmt, record: TrainingRecord) -> None:
    ws = workbook.add_worksheet(ERRORS_SHEET)
    ws.hide_gridlines(2)
    printing.set_up(ws, GALLERY_WIDTH_PX)
    ws.write(0, 0, "Misclassified test digits (latest epoch)", fmt["title"])
    if not record.misclassified:
        ws.write(1, 0, "No misclassified digits recorded.", fmt["note"])
        return
    shown = record.misclassified[:GALLERY_SIZE]
    ws.write(
        1,
        0,
        f"The first {len(shown)} test digits the model got wrong, with the true label and the prediction.",
        fmt["note"],
    )
    ws.insert_image(
        3, 0, "misclassified.png", {"image_data": io.BytesIO(gallery_png(record)), "object_position": 3}
    )


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    _pyplot().close(fig)
    return buffer.getvalue()


def gallery_png(record: TrainingRecord) -> bytes:
    """A grid of misclassified digits titled 'true 7 → 2', as PNG bytes without a timestamp."""
    import numpy as np

    plt = _pyplot()
    shown = record.misclassified[:GALLERY_SIZE]
    cols = 8
    rows = max(1, (len(shown) + cols - 1) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.3), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, digit in zip(axes.ravel(), shown):
        ax.imshow(np.frombuffer(digit.pixels, dtype=np.uint8).reshape(28, 28), cmap="gray_r")
        ax.set_title(f"true {digit.true} → {digit.predicted}", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def curves_png(record: TrainingRecord) -> bytes:
    """Loss and accuracy per epoch, train and test, as the sheet's charts show them."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in record.metrics]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    for ax, quantity, unit in ((axes[0], "loss", "loss per sample"), (axes[1], "accuracy", "accuracy (%)")):
        for split, colour in (("train", "#1F4E79"), ("test", "#C55A11")):
            ax.plot(
                epochs,
                [row[f"{split}_{quantity}"] for row in record.metrics],
                "o-",
                color=colour,
                label=f"{split} {quantity}",
            )
        ax.set_title(f"MNIST {quantity} per epoch")
        ax.set_xlabel("epoch")
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return _png(fig)


def confusion_png(record: TrainingRecord) -> bytes:
    """The confusion matrix as a heat map with its counts."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    matrix = [list(row) for row in record.confusion]
    ax.imshow(matrix, cmap="Reds")
    for t in range(10):
        for p in range(10):
            ax.text(
                p, t, matrix[t][p], ha="center", va="center", fontsize=7, color="white" if t == p else "black"
            )
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix, test set")
    fig.tight_layout()
    return _png(fig)


def write_pngs(record: TrainingRecord, folder: str | Path) -> list[Path]:
    """Write curves.png, confusion.png and misclassified.png into the run dir."""
    from sheetgen.files import atomic_path

    folder = Path(folder)
    pictures = [("curves.png", curves_png)]
    if record.confusion is not None:
        pictures.append(("confusion.png", confusion_png))
    if record.misclassified:
        pictures.append(("misclassified.png", gallery_png))
    written = []
    for name, render in pictures:
        with atomic_path(folder / name) as temporary:
            temporary.write_bytes(render(record))
        written.append(folder / name)
    return written
