"""The largest workbook sheetgen builds, built and verified: seconds and peak memory of each side.

    python benchmarks/bench_limit.py                          # default network, 1 learning rate
    python benchmarks/bench_limit.py --rates 6
    python benchmarks/bench_limit.py --template templates/xor.toml

sheetgen/workbook/limits.py refuses a workbook of more than MAX_FORMULA_CELLS formulas, so that
`sheetgen verify` can read back whatever `sheetgen build` writes: this builds one at the limit
(the most iterations check_build_size accepts for the template's last `--rates` learning
rates), then verifies it. Build and verify each run in a child process of their own, which
reports its own peak resident memory (ru_maxrss) and, for verify, that of LibreOffice (its
children's). Also printed: the largest part of the workbook and of LibreOffice's recalculated
copy against limits.package_limits, which verify holds them to. Run it alone: it measures
memory and time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's sheetgen

from sheetgen.machine import cpu_name
from sheetgen.workbook import limits
from sheetgen.workbook.spec import load_spec

# Each step runs in a fresh interpreter and prints one JSON line: what it did, how long, how much.
BUILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook
spec = load_spec(sys.argv[2]).with_training(json.loads(sys.argv[3]), int(sys.argv[4]))
started = time.perf_counter()
report = build_workbook(spec, sys.argv[5])
print(json.dumps({"seconds": time.perf_counter() - started, "formulas": report.formulas,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
VERIFY = """
import json, resource, sys, tempfile, time, zipfile
sys.path.insert(0, sys.argv[1])
import sheetgen.analyse.verify as verify
from sheetgen.analyse import recalc
largest = {}
real = recalc.recalculate
def recalculate(path, out_dir, timeout=600):
    copy = real(path, out_dir, timeout)
    largest["part"] = max(i.file_size for i in zipfile.ZipFile(copy).infolist())
    return copy
verify.recalculate = recalculate
started = time.perf_counter()
report = verify.verify_workbook(sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "ok": report.ok, "cells": report.cells,
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "libreoffice": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                  "copy_part": largest["part"]}))
"""


def largest_allowed(spec) -> int:
    """The most iterations limits.check_build_size accepts for spec's learning rates."""
    low, high = 1, 1_048_548
    while low < high:
        middle = (low + high + 1) // 2
        try:
            limits.check_build_size(spec.with_training(None, middle))
            low = middle
        except Exception:  # noqa: BLE001 - SpecError: too large
            high = middle - 1
    return low


def step(script: str, *args) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT), *map(str, args)], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(done.stderr)
    return json.loads(done.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", default=str(ROOT / "templates" / "seed.toml"))
    parser.add_argument("--rates", type=int, default=1, help="the template's last N learning rates")
    parser.add_argument("--iterations", type=int, help="default: the largest allowed")
    args = parser.parse_args()
    spec = load_spec(args.template)
    rates = list(spec.learning_rates[-args.rates :])
    spec = spec.with_training(rates, None)
    iterations = args.iterations or largest_allowed(spec)
    spec = spec.with_training(None, iterations)
    bound = limits.package_limits(spec).part_bytes
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "limit.xlsx"
        build = step(BUILD, args.template, json.dumps(rates), iterations, path)
        size = path.stat().st_size
        built_part = max(i.file_size for i in zipfile.ZipFile(path).infolist())
        verify = step(VERIFY, path)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}")
    print(
        f"workbook: {Path(args.template).name}, {len(rates)} learning rate(s) x {iterations:,} "
        f"iterations, {build['formulas']:,} formulas (limit {limits.MAX_FORMULA_CELLS:,}), "
        f"{size / 2**20:,.1f} MiB"
    )
    print(f"build:  {build['seconds']:,.1f} s, peak RSS {build['peak']:,.0f} MiB")
    print(
        f"verify: {verify['seconds']:,.1f} s, {'OK' if verify['ok'] else 'DIFFERS'} on "
        f"{verify['cells']:,} cells; peak RSS {verify['peak']:,.0f} MiB, "
        f"LibreOffice's {verify['libreoffice']:,.0f} MiB"
    )
    print(
        f"largest part: built {built_part / 2**20:,.1f} MiB, LibreOffice's copy "
        f"{verify['copy_part'] / 2**20:,.1f} MiB; package_limits allows {bound / 2**20:,.1f} MiB"
    )


if __name__ == "__main__":
    main()
