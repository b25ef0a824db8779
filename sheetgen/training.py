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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sheetgen.cnn import LiveError, LiveNetwork, network_from_dict

METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr",
                  "seconds")
METRICS_CSV, SUMMARY_JSON, EVALUATION_JSON = "metrics.csv", "summary.json", "evaluation.json"
INFERENCE_JSON = "inference.json"
# The model's inference.json is about 0.3 MB; the largest network sheetgen.cnn accepts stays
# under this. A larger file is refused before it is read.
MAX_INFERENCE_BYTES = 16 * 1024 * 1024


class RunError(ValueError):
    """A run dir that cannot be read as a training record; the message says why."""


@dataclass(frozen=True)
class Misclassified:
    """One test digit the model got wrong."""

    index: int              # position in the test set
    true: int
    predicted: int
    pixels: bytes           # 28 x 28 grey levels, row by row


@dataclass(frozen=True)
class LayerRow:
    name: str
    description: str
    output_shape: tuple[int, ...]
    parameters: int
    receptive_field: int


@dataclass(frozen=True)
class TrainingRecord:
    """Everything the MNIST sheets show."""

    run_name: str
    metrics: tuple[dict[str, float], ...]
    layers: tuple[LayerRow, ...]
    total_parameters: int
    confusion: tuple[tuple[int, ...], ...] | None   # rows: true digit, columns: predicted
    misclassified: tuple[Misclassified, ...]
    live: LiveNetwork | None = None   # None: the run dir has no inference.json

    def to_json(self) -> str:
        data = {
            "run_name": self.run_name,
            "metrics": list(self.metrics),
            "layers": [{"name": r.name, "description": r.description,
                        "output_shape": list(r.output_shape), "parameters": r.parameters,
                        "receptive_field": r.receptive_field} for r in self.layers],
            "total_parameters": self.total_parameters,
            "confusion": None if self.confusion is None else [list(r) for r in self.confusion],
            "misclassified": [_misclassified_dict(m) for m in self.misclassified],
        }
        if self.live is not None:  # absent, not null: older workbooks' records stay as they were
            data["live"] = self.live.to_dict()
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TrainingRecord:
        data = json.loads(text)
        return cls(
            run_name=data["run_name"],
            metrics=tuple(data["metrics"]),
            layers=tuple(_layer_row(r) for r in data["layers"]),
            total_parameters=data["total_parameters"],
            confusion=None if data["confusion"] is None
            else tuple(tuple(r) for r in data["confusion"]),
            misclassified=tuple(_misclassified(m) for m in data["misclassified"]),
            live=_live(data["live"], "the record") if "live" in data else None,
        )


def _live(data, where: str) -> LiveNetwork:
    try:
        return network_from_dict(data)
    except LiveError as exc:
        raise RunError(f"{where}: {exc}") from None


def _misclassified_dict(m: Misclassified) -> dict[str, Any]:
    return {"index": m.index, "true": m.true, "predicted": m.predicted,
            "pixels": base64.b64encode(m.pixels).decode("ascii")}


def _misclassified(data: dict[str, Any]) -> Misclassified:
    pixels = base64.b64decode(data["pixels"])
    if len(pixels) != 28 * 28:
        raise RunError(f"misclassified digit {data.get('index')} has {len(pixels)} pixels, "
                       "not 784")
    return Misclassified(int(data["index"]), int(data["true"]), int(data["predicted"]), pixels)


def _layer_row(data: dict[str, Any]) -> LayerRow:
    return LayerRow(str(data["name"]), str(data["description"]),
                    tuple(int(v) for v in data["output_shape"]), int(data["parameters"]),
                    int(data["receptive_field"]))


def read_metrics(path: Path) -> tuple[dict[str, float], ...]:
    """metrics.csv as rows of floats (epoch as int), checking its exact columns."""
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            if tuple(reader.fieldnames or ()) != METRIC_COLUMNS:
                raise RunError(f"{path} has columns {reader.fieldnames}, expected "
                               f"{','.join(METRIC_COLUMNS)}")
            rows = []
            for line, raw in enumerate(reader, start=2):
                try:
                    row = {k: float(raw[k]) for k in METRIC_COLUMNS}
                except (TypeError, ValueError):
                    raise RunError(f"{path} line {line} holds a value that is not a number") \
                        from None
                if not all(math.isfinite(v) for v in row.values()):
                    raise RunError(f"{path} line {line} holds a value that is not finite")
                row["epoch"] = int(row["epoch"])
                rows.append(row)
    except FileNotFoundError:
        raise RunError(f"{path} does not exist: is it a run dir of `sheetgen mnist train`?") \
            from None
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not rows:
        raise RunError(f"{path} has no epochs yet")
    return tuple(rows)


def read_run(run_dir: str | Path) -> TrainingRecord:
    """The training record of a run dir (metrics so far, model table, latest evaluation)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run dir {run_dir} does not exist")
    metrics = read_metrics(run_dir / METRICS_CSV)
    summary = _read_json(run_dir / SUMMARY_JSON)
    evaluation = _read_json(run_dir / EVALUATION_JSON, required=False)
    try:
        layers = tuple(_layer_row(r) for r in summary["layers"])
        total = int(summary["total_parameters"])
        confusion = misclassified = None
        if evaluation is not None:
            confusion = tuple(tuple(int(v) for v in row) for row in evaluation["confusion"])
            misclassified = tuple(_misclassified(m) for m in evaluation["misclassified"])
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{run_dir}: summary.json or evaluation.json is malformed ({exc})") \
            from None
    return TrainingRecord(run_name=run_dir.name, metrics=metrics, layers=layers,
                          total_parameters=total, confusion=confusion,
                          misclassified=misclassified or (), live=read_inference(run_dir))


def read_inference(run_dir: Path) -> LiveNetwork | None:
    """The run's inference.json, checked; None when the run dir has none (made before it was).

    Raises:
        RunError: the file is too large, not JSON, or not a usable network (one line, why).
    """
    path = Path(run_dir) / INFERENCE_JSON
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise RunError(f"{path} is not a regular file")
    if size > MAX_INFERENCE_BYTES:
        raise RunError(f"{path} is {size:,} bytes, more than the {MAX_INFERENCE_BYTES:,} an "
                       "inference file can be; is it the run's?")
    try:
        data = _read_json(path)
    except RecursionError:  # nesting deeper than any network's
        raise RunError(f"cannot read {path}: nested too deeply") from None
    return _live(data, str(path))


def _read_json(path: Path, required: bool = True):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise RunError(f"{path} does not exist: is it a run dir of `sheetgen mnist train`?") \
                from None
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"cannot read {path}: {exc}") from None
