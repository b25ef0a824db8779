"""A run dir as `sheetgen mnist train` leaves it, written without torch, for the export tests."""

import base64
import json
from pathlib import Path

import numpy as np

from sheetgen.runs.cnn import Conv, LiveNetwork
from sheetgen.runs.training import INFERENCE_JSON, METRIC_COLUMNS

# The shapes of mnist/model.py's network: five 3x3 convolutions, the max-pool after the second.
CHANNELS, POOL_AFTER = (8, 12, 16, 16, 18), 2


def write_run_dir(folder: Path, epochs: int = 4, seed: int = 0, live: bool = False) -> Path:
    """metrics.csv, summary.json and evaluation.json with plausible numbers; with `live`, an
    inference.json too (write_inference)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(METRIC_COLUMNS)]
    for e in range(1, epochs + 1):
        lines.append(
            f"{e},{0.6 / e:.6f},{92 + e * 0.5:.4f},{0.25 / e:.6f},{96 + e * 0.3:.4f},"
            f"{0.1 / e:.6f},{20 + e * 0.25:.3f}"
        )
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "layers": [
                    {
                        "name": "normalize",
                        "description": "(x - 0.1307) / 0.3081",
                        "output_shape": [1, 28, 28],
                        "parameters": 0,
                        "receptive_field": 1,
                    },
                    {
                        "name": "conv1",
                        "description": "conv 3x3 1->8, BN, ReLU",
                        "output_shape": [8, 26, 26],
                        "parameters": 88,
                        "receptive_field": 3,
                    },
                    {
                        "name": "gap",
                        "description": "global average pool",
                        "output_shape": [8, 1, 1],
                        "parameters": 0,
                        "receptive_field": 28,
                    },
                ],
                "total_parameters": 88,
            }
        )
    )
    off_diagonal = rng.integers(0, 5, (10, 10)) * (1 - np.eye(10, dtype=int))
    confusion = (np.eye(10, dtype=int) * 985 + off_diagonal).tolist()
    misclassified = [
        {
            "index": int(i),
            "true": int(i % 10),
            "predicted": int((i + 3) % 10),
            "pixels": base64.b64encode(rng.integers(0, 256, 784, dtype=np.uint8).tobytes()).decode(),
        }
        for i in range(30)
    ]
    (folder / "evaluation.json").write_text(
        json.dumps({"epoch": epochs, "confusion": confusion, "misclassified": misclassified})
    )
    if live:
        write_inference(folder, seed)
    return folder


def write_inference(folder: Path, seed: int = 0) -> Path:
    """inference.json of a network shaped as the real model, with random weights and 100
    stored digits (noise and a bright square), written without torch."""
    rng = np.random.default_rng(seed)
    convs, channels = [], 1
    for out in CHANNELS:
        convs.append(Conv(rng.normal(0, 0.3, (out, channels, 3, 3)), rng.normal(0, 0.2, out)))
        channels = out
    labels = rng.integers(0, 10, 100)
    pixels = rng.integers(0, 40, (100, 28, 28))
    for image, label in zip(pixels, labels):
        row, col = 2 + 6 * (label // 4), 2 + 6 * (label % 4)
        image[row : row + 8, col : col + 8] = 255
    network = LiveNetwork(
        mean=0.1307,
        std=0.3081,
        convs=tuple(convs),
        pool_after=POOL_AFTER,
        linear_weight=rng.normal(0, 0.5, (10, channels)),
        linear_bias=rng.normal(0, 0.1, 10),
        digit_indices=tuple(range(100)),
        digit_labels=tuple(int(v) for v in labels),
        digit_pixels=pixels.astype(np.uint8),
    )
    path = folder / INFERENCE_JSON
    path.write_text(json.dumps(network.to_dict()))
    return path
