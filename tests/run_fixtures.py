"""A run dir as `sheetgen mnist train` leaves it, written without torch, for the export tests."""

import base64
import json
from pathlib import Path

import numpy as np

from sheetgen.runs.training import METRIC_COLUMNS


def write_run_dir(folder: Path, epochs: int = 4, seed: int = 0) -> Path:
    """metrics.csv, summary.json and evaluation.json with plausible numbers."""
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
    return folder
