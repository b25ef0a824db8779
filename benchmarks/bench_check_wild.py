"""Score `sheetgen check` on real hand-made workbooks against independent verdicts.

    python benchmarks/bench_check_wild.py --corpus FOLDER

The corpus folder holds the workbooks and `expected.tsv`: per sheet, what an independent float64
recomputation found (`right`, `wrong` or `typed`) and, for `wrong`, the origin cells: where a
column first goes wrong from its own inputs. A workbook counts only when every expected table
is found, no table is reported where none is expected, each verdict is right, and for `wrong`
exactly the expected origin cells are flagged (check's first wrong cell of each `wrong`
column). `typed` means the sheet holds typed numbers (no formulas); check must say so (its
table is marked typed); expected.tsv lists no origins for those, so flagged cells are shown but
not scored.

Prints one line per workbook, the total, the time check took per file (median) and the machine;
then times a class's worth of submissions: `--class-size` files (the corpus repeated, under other
names) checked as `sheetgen check FOLDER` checks them, medians of `--repeats` runs, and the
peak resident memory of one `sheetgen check FOLDER` process on that class (and whether it
imported torch: it must not).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sheetgen.analyse.check import CheckError, NoTableError, check_many, check_workbook, workbook_paths
from sheetgen.analyse.reading import WorkbookError
from sheetgen.machine import cpu_name


def read_expected(corpus: Path) -> dict[str, dict[str, tuple[str, set[str]]]]:
    """{workbook id: {sheet: (verdict, origin cells)}} from expected.tsv."""
    expected: dict[str, dict[str, tuple[str, set[str]]]] = {}
    with open(corpus / "expected.tsv", newline="", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t"):
            if not row or row[0].startswith("#"):
                continue
            ident, sheet, verdict, origins = row[0], row[1], row[2], row[3]
            cells = {c.strip() for c in origins.split(",") if c.strip()}
            expected.setdefault(ident, {})[sheet] = (verdict, cells)
    return expected


def _verdict(table) -> str:
    if table.typed:
        return "typed"
    return "right" if table.ok else "wrong"


def score(path: Path, expected: dict[str, tuple[str, set[str]]]) -> tuple[bool, str, float]:
    """(passed, one line saying why, seconds check took) for one workbook."""
    start = time.perf_counter()
    try:
        report = check_workbook(path)
    except (WorkbookError, NoTableError, CheckError) as exc:
        return False, f"error: {str(exc)[:160]}", time.perf_counter() - start
    seconds = time.perf_counter() - start
    by_sheet: dict[str, list] = {}
    for table in report.tables:
        by_sheet.setdefault(table.sheet, []).append(table)
    problems, notes = [], []
    for sheet, (verdict, origins) in expected.items():
        tables = by_sheet.get(sheet, [])
        if len(tables) != 1:
            problems.append(f"{sheet}: {len(tables)} tables found, 1 expected")
            continue
        table = tables[0]
        got = _verdict(table)
        flagged = {c.first_cell for c in table.mistakes}
        if got != verdict:
            problems.append(f"{sheet}: {got}, expected {verdict}")
        elif verdict == "wrong" and flagged != origins:
            missing, extra = sorted(origins - flagged), sorted(flagged - origins)
            problems.append(f"{sheet}: flagged cells differ (missing {missing}, extra {extra})")
        else:
            notes.append(f"{sheet} {got}" + (f" {','.join(sorted(flagged))}" if flagged else ""))
    for sheet in by_sheet:
        if sheet not in expected:
            problems.append(f"{sheet}: a table found where none is expected")
    if problems:
        return False, "; ".join(problems), seconds
    return True, "; ".join(notes), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", type=Path, required=True, help="folder with the workbooks and expected.tsv"
    )
    parser.add_argument(
        "--class-size", type=int, default=30, help="files in the timed batch (default 30; 0 skips it)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed batch runs (default 3)")
    args = parser.parse_args(argv)
    expected = read_expected(args.corpus)
    files = {path.name.split("_", 1)[0]: path for path in sorted(args.corpus.glob("*.xls*"))}
    print(f"command: python benchmarks/bench_check_wild.py --corpus {args.corpus}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    passed, times = 0, []
    for ident in sorted(expected):
        path = files.get(ident)
        if path is None:
            print(f"{ident}  MISSING  no workbook with id {ident} in {args.corpus}")
            continue
        ok, why, seconds = score(path, expected[ident])
        passed += ok
        times.append(seconds)
        print(f"{ident}  {'pass' if ok else 'FAIL'}  {seconds:5.2f} s  {path.name[:48]:<48}  {why}")
    print(
        f"total: {passed}/{len(expected)} workbooks judged fully right "
        f"(every table found, verdicts right, exactly the expected cells flagged)"
    )
    if times:
        print(f"time per workbook: median {statistics.median(times):.2f} s, total {sum(times):.1f} s")
    if args.class_size:
        print(time_class(sorted(files.values()), args.class_size, args.repeats))
    return 0 if passed == len(expected) else 1


def time_class(sources: list[Path], size: int, repeats: int) -> str:
    """A folder of `size` submissions (copies of the corpus) checked as `sheetgen check FOLDER`
    does: the median wall time of `repeats` runs."""
    with tempfile.TemporaryDirectory(prefix="bench-class-") as temp:
        folder = Path(temp)
        for i in range(size):
            source = sources[i % len(sources)]
            shutil.copyfile(source, folder / f"student{i:02d}{source.suffix}")
        runs = []
        for _ in range(repeats):
            start = time.perf_counter()
            outcomes = check_many(workbook_paths([folder]))
            runs.append(time.perf_counter() - start)
        checked = sum(o.report is not None for o in outcomes)
        peak, torch = class_memory(folder)
    return (
        f"a class of {size} submissions (sheetgen check FOLDER): median {statistics.median(runs):.1f} s "
        f"over {repeats} runs ({', '.join(f'{r:.1f}' for r in runs)} s); {checked} of {size} "
        f"checked (target: under 60 s)\n"
        f"peak memory of `sheetgen check FOLDER` on the class: {peak:.0f} MB resident "
        f"(target: under 200 MB); torch imported: {'yes' if torch else 'no'}"
    )


# `sheetgen check FOLDER` in a fresh interpreter: its own peak resident memory, and whether
# torch was ever loaded.
_MEASURE = """
import json, resource, sys
from sheetgen.cli import main
try:
    main(["check", sys.argv[1]])
except SystemExit:
    pass
# VmHWM, this process's own high-water mark: ru_maxrss would carry over the RSS of the
# process this one was forked from (Linux keeps it across exec)
status = open("/proc/self/status").read().split("VmHWM:")
if len(status) > 1:
    peak = int(status[1].split()[0]) / 1024
else:  # not Linux
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"peak": peak, "torch": any(m.split(".")[0] == "torch" for m in sys.modules)}))
"""


def class_memory(folder: Path) -> tuple[float, bool]:
    """(peak resident MB, whether torch was imported) of one `sheetgen check FOLDER` process."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(folder)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["peak"], result["torch"]


if __name__ == "__main__":
    sys.exit(main())
