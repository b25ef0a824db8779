"""A training run's record, as the workbook shows it: plain data read from a run dir.

The mnist package writes a run dir; this module reads it without importing torch, so that
`sheetgen export` and the workbook writer stay light. The record travels inside the workbook
(JSON in its hidden sheet) so the workbook can always be re-rendered whole.

Run dir files read here: metrics.csv (one row per epoch), summary.json (the model table),
evaluation.json (the latest epoch's confusion matrix and misclassified test digits) and
inference.json (the model with BatchNorm folded and 100 test digits, for the live sheet; run
dirs made before it existed have none, and their workbooks go without the live sheet).
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sheetgen.bounded import load_json, plain_float
from sheetgen.runs.cnn import LiveError, LiveNetwork, network_from_dict

METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
METRICS_CSV, SUMMARY_JSON, EVALUATION_JSON = "metrics.csv", "summary.json", "evaluation.json"
INFERENCE_JSON = "inference.json"
# The model's inference.json is about 0.3 MB; the largest network sheetgen.runs.cnn accepts stays
# under this. A larger file is refused before it is read.


class RunError(ValueError):
    """A run dir that cannot be read as a training record; the message says why."""


@dataclass(frozen=True)
class Misclassified:
    """One test digit the model got wrong."""

    index: int  # position in the test set
    true: int
    predicted: int
    pixels: bytes  # 28 x 28 grey levels, row by row


@dataclass(frozen=True)
class LayerRow:
    """One row of the model table: mnist.model.summarize makes them, summary.json and the
    workbook's record hold them as to_dict() gives them."""

    name: str
    description: str
    output_shape: tuple[int, ...]  # without the batch dimension
    parameters: int
    receptive_field: int  # side, in input pixels, of the square one output value sees

    def to_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (in summary.json's key order)."""
        return {
            "name": self.name,
            "description": self.description,
            "output_shape": list(self.output_shape),
            "parameters": self.parameters,
            "receptive_field": self.receptive_field,
        }

    @classmethod
    def from_dict(cls, data: Any) -> LayerRow:
        """The row as to_dict gave it, checked (it comes from a file anyone may have made).

        Raises:
            RunError: not a JSON object, or a field of the wrong type or out of range.
            KeyError: a field is missing (the callers name the file).
        """
        if not isinstance(data, dict):
            raise RunError("a layer must be a JSON object")
        shape = data["output_shape"]
        if not isinstance(shape, list) or not 1 <= len(shape) <= 8:
            raise RunError("a layer's output_shape must be a list of 1 to 8 whole numbers")
        return cls(
            _text(data["name"], "a layer's name"),
            _text(data["description"], "a layer's description"),
            tuple(_whole(v, "an output_shape size", 0, 10**9) for v in shape),
            _whole(data["parameters"], "a layer's parameters"),
            _whole(data["receptive_field"], "a layer's receptive_field", 0, 10**9),
        )


@dataclass(frozen=True)
class TrainingRecord:
    """Everything the MNIST sheets show."""

    run_name: str
    metrics: tuple[dict[str, float], ...]
    layers: tuple[LayerRow, ...]
    total_parameters: int
    confusion: tuple[tuple[int, ...], ...] | None  # rows: true digit, columns: predicted
    misclassified: tuple[Misclassified, ...]
    live: LiveNetwork | None = None  # None: the run dir has no inference.json

    def to_json(self) -> str:
        data = {
            "run_name": self.run_name,
            "metrics": list(self.metrics),
            "layers": [r.to_dict() for r in self.layers],
            "total_parameters": self.total_parameters,
            "confusion": None if self.confusion is None else [list(r) for r in self.confusion],
            "misclassified": [_misclassified_dict(m) for m in self.misclassified],
        }
        if self.live is not None:  # absent, not null: older workbooks' records stay as they were
            data["live"] = self.live.to_dict()
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TrainingRecord:
        """The record as to_json wrote it, checked as strictly as a run dir (it comes from a
        workbook, which anyone may have made).

        Raises:
            RunError: a field is missing, of the wrong type or out of range.
        """
        try:
            data = load_json(text)
        except ValueError as exc:
            raise RunError(f"the training record is not readable JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RunError("the training record is not a JSON object")
        try:
            metrics = data["metrics"]
            if not isinstance(metrics, list) or not metrics:
                raise RunError("metrics must be a non-empty list")
            return cls(
                run_name=_text(data["run_name"], "run_name"),
                metrics=tuple(
                    _metric_row(
                        {
                            k: _finite(row.get(k) if isinstance(row, dict) else None, f"metrics {k}")
                            for k in METRIC_COLUMNS
                        },
                        f"metrics row {i + 1}",
                    )
                    for i, row in enumerate(metrics)
                ),
                layers=_layers(data["layers"]),
                total_parameters=_whole(data["total_parameters"], "total_parameters"),
                confusion=None if data["confusion"] is None else _confusion(data["confusion"]),
                misclassified=_misclassified_list(data["misclassified"]),
                live=_live(data["live"], "the record") if "live" in data else None,
            )
        except KeyError as exc:
            raise RunError(f"the training record has no {exc}") from None


# Bounds on what a run dir may hold: what mnist.train writes is far inside them, and each
# keeps a hostile file from costing memory or time before it is refused.
MAX_FILE_BYTES = 16 * 2**20  # metrics.csv, summary.json, evaluation.json
MAX_EPOCHS = 10_000
MAX_LAYERS = 1_000
MAX_TEXT = 1_000  # characters of a layer's name or description
MAX_COUNT = 10**9  # a confusion-matrix count (the test set has 10,000)
MAX_MISCLASSIFIED = 1_000
DIGITS = 10


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise RunError(f"{where} must be text of at most {MAX_TEXT:,} characters")
    return value


def _whole(value: Any, where: str, low: int = 0, high: int = 10**15) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RunError(f"{where} must be a whole number from {low:,} to {high:,}, not {str(value)[:40]}")
    return value


def _finite(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunError(f"{where} must be a finite number, not {str(value)[:40]}")
    return float(value)


def _metric_row(row: dict[str, float], where: str) -> dict[str, float]:
    epoch = row["epoch"]
    if not (epoch.is_integer() and 1 <= epoch <= MAX_EPOCHS):
        raise RunError(f"{where}: epoch must be a whole number from 1 to {MAX_EPOCHS:,}, not {epoch:g}")
    return {**row, "epoch": int(epoch)}


def _live(data, where: str) -> LiveNetwork:
    try:
        return network_from_dict(data)
    except LiveError as exc:
        raise RunError(f"{where}: {exc}") from None


def _misclassified_dict(m: Misclassified) -> dict[str, Any]:
    return {
        "index": m.index,
        "true": m.true,
        "predicted": m.predicted,
        "pixels": base64.b64encode(m.pixels).decode("ascii"),
    }


def _misclassified(data: Any) -> Misclassified:
    if not isinstance(data, dict):
        raise RunError("a misclassified digit must be a JSON object")
    where = f"misclassified digit {str(data.get('index'))[:20]}"
    text = data["pixels"]
    try:
        if not isinstance(text, str) or len(text) > 2 * 28 * 28:
            raise ValueError
        pixels = base64.b64decode(text, validate=True)
    except ValueError:
        raise RunError(f"{where}: pixels are not base64") from None
    if len(pixels) != 28 * 28:
        raise RunError(f"{where} has {len(pixels)} pixels, not 784")
    return Misclassified(
        _whole(data["index"], f"{where} index"),
        _whole(data["true"], f"{where} true digit", 0, DIGITS - 1),
        _whole(data["predicted"], f"{where} predicted digit", 0, DIGITS - 1),
        pixels,
    )


def _misclassified_list(data: Any) -> tuple[Misclassified, ...]:
    if not isinstance(data, list) or len(data) > MAX_MISCLASSIFIED:
        raise RunError(f"misclassified must be a list of at most {MAX_MISCLASSIFIED:,} digits")
    return tuple(_misclassified(m) for m in data)


def _confusion(data: Any) -> tuple[tuple[int, ...], ...]:
    if not (
        isinstance(data, list)
        and len(data) == DIGITS
        and all(isinstance(row, list) and len(row) == DIGITS for row in data)
    ):
        raise RunError(f"the confusion matrix must be {DIGITS}×{DIGITS} (true digit × predicted digit)")
    return tuple(tuple(_whole(v, "a confusion-matrix count", 0, MAX_COUNT) for v in row) for row in data)


def _layers(data: Any) -> tuple[LayerRow, ...]:
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_LAYERS:
        raise RunError(f"layers must be a list of 1 to {MAX_LAYERS:,} layers")
    return tuple(LayerRow.from_dict(r) for r in data)


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return  # the reader says so in its own words
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise RunError(f"{path} is not a regular file")
    if size > MAX_FILE_BYTES:
        raise RunError(
            f"{path} holds {size:,} bytes; a run dir's files hold at most {MAX_FILE_BYTES:,} (16 MiB)"
        )


def read_metrics(path: Path) -> tuple[dict[str, float], ...]:
    """metrics.csv as rows of floats (epoch as int), checking its exact columns and numbers."""
    _check_size(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != METRIC_COLUMNS:
                raise RunError(f"{path} has columns {reader.fieldnames}, expected {','.join(METRIC_COLUMNS)}")
            rows = []
            for line, raw in enumerate(reader, start=2):
                # a number as mnist.train writes it: no "0_26" (float() reads it as 26), no "nan"
                texts = [raw.get(k) for k in METRIC_COLUMNS]
                numbers = [plain_float(t.strip()) if isinstance(t, str) else None for t in texts]
                if None in raw or None in numbers:
                    raise RunError(f"{path} line {line} holds a value that is not a number")
                row = dict(zip(METRIC_COLUMNS, numbers))
                if not all(math.isfinite(v) for v in row.values()):
                    raise RunError(f"{path} line {line} holds a value that is not finite")
                rows.append(_metric_row(row, f"{path} line {line}"))
                if len(rows) > MAX_EPOCHS:
                    raise RunError(f"{path} has more than {MAX_EPOCHS:,} epochs")
    except FileNotFoundError:
        raise RunError(f"{path} does not exist: is it a run dir of `sheetgen mnist train`?") from None
    except UnicodeDecodeError:
        raise RunError(f"cannot read {path}: it is not UTF-8 text") from None
    except csv.Error as exc:
        raise RunError(f"cannot read {path} as CSV: {exc}") from None
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not rows:
        raise RunError(f"{path} has no epochs yet")
    return tuple(rows)


def read_run(run_dir: str | Path) -> TrainingRecord:
    """The training record of a run dir (metrics so far, model table, latest evaluation).

    Every file is checked whole before anything is returned, so a malformed run dir is
    refused before a workbook or plot is written.

    Raises:
        RunError: a file is missing, too large, malformed, or holds values out of range.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run dir {run_dir} does not exist")
    metrics = read_metrics(run_dir / METRICS_CSV)
    summary = _read_json(run_dir / SUMMARY_JSON)
    evaluation = _read_json(run_dir / EVALUATION_JSON, required=False)
    try:
        if not isinstance(summary, dict) or not (evaluation is None or isinstance(evaluation, dict)):
            raise RunError("not a JSON object")
        layers = _layers(summary["layers"])
        total = _whole(summary["total_parameters"], "total_parameters")
        confusion = misclassified = None
        if evaluation is not None:
            confusion = _confusion(evaluation["confusion"])
            misclassified = _misclassified_list(evaluation["misclassified"])
    except KeyError as exc:
        raise RunError(f"{run_dir}: summary.json or evaluation.json is malformed (no {exc})") from None
    except RunError as exc:
        raise RunError(f"{run_dir}: summary.json or evaluation.json is malformed ({exc})") from None
    return TrainingRecord(
        run_name=run_dir.name,
        metrics=metrics,
        layers=layers,
        total_parameters=total,
        confusion=confusion,
        misclassified=misclassified or (),
        live=read_inference(run_dir),
    )


def read_inference(run_dir: Path) -> LiveNetwork | None:
    """The run's inference.json, checked; None when the run dir has none (made before it was).

    Raises:
        RunError: the file is too large, not JSON, or not a usable network (one line, why).
    """
    path = Path(run_dir) / INFERENCE_JSON
    if not os.path.lexists(path):
        return None
    return _live(_read_json(path), str(path))


def _read_json(path: Path, required: bool = True):
    _check_size(path)
    try:
        return load_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise RunError(f"{path} does not exist: is it a run dir of `sheetgen mnist train`?") from None
        return None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError, nesting
        raise RunError(f"cannot read {path}: {exc}") from None
