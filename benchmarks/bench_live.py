"""The live CNN sheet's figures: formula cells, workbook size, export time, LibreOffice's
recalculation time.

    python benchmarks/bench_live.py output/runs/<run>            # a run dir with inference.json
    python benchmarks/bench_live.py output/runs/<run> --repeats 5

- formula cells: counted in the exported workbook's 'MNIST live' sheet (read back).
- workbook size: the default workbook (`sheetgen build`) with the run exported into it.
- export time: `sheetgen export RUN_DIR --workbook FILE` as a user runs it (a fresh process,
  into a fresh copy of the default workbook), with the run's inference.json and with a copy of
  the run dir without it; the difference is what the live sheets cost.
- recalculation: LibreOffice converts the workbook twice per repeat, once with recalculation
  forced on load and once with it off (its default for a file with cached values); the
  difference is the time LibreOffice spends recalculating every formula. Its start-up, loading
  and saving are in both and cancel out.

Targets (issue 13): recalculation under 2 s, export under 10 s, the workbook under 10 MB.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# recalc.py's profile with "never recalculate on load" instead of "always"
NEVER_PROFILE_VALUE = "1"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def timed_export(run_dir: Path, template: Path, folder: Path) -> float:
    """Seconds `python -m sheetgen export` takes on a fresh copy of `template`."""
    workbook = folder / "export.xlsx"
    shutil.copyfile(template, workbook)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sheetgen", "export", str(run_dir), "--workbook",
                    str(workbook)], check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def timed_convert(workbook: Path, folder: Path, recalc: bool) -> float:
    """Seconds LibreOffice takes to open `workbook` and save it as .xlsx."""
    from sheetgen.recalc import _PROFILE, find_soffice

    profile = folder / ("profile-recalc" if recalc else "profile-never")
    shutil.rmtree(profile, ignore_errors=True)
    (profile / "user").mkdir(parents=True)
    text = _PROFILE if recalc else _PROFILE.replace("<value>0</value>",
                                                    f"<value>{NEVER_PROFILE_VALUE}</value>")
    (profile / "user" / "registrymodifications.xcu").write_text(text)
    # a first start creates the profile; time the second
    out = folder / "lo"
    command = [find_soffice(), f"-env:UserInstallation={profile.as_uri()}", "--headless",
               "--norestore", "--nolockcheck", "--convert-to", "xlsx:Calc MS Excel 2007 XML",
               "--outdir", str(out), str(workbook)]
    env = {**os.environ, "HOME": str(profile)}
    subprocess.run(command, check=True, capture_output=True, env=env)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run dir holding inference.json")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import openpyxl

    from sheetgen.live_layout import LIVE_SHEET
    from sheetgen.spec import load_spec
    from sheetgen.training import INFERENCE_JSON
    from sheetgen.writer import build_workbook

    if not (args.run_dir / INFERENCE_JSON).is_file():
        print(f"{args.run_dir} has no {INFERENCE_JSON}; train a run with this sheetgen first")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-live-") as temp:
        temp = Path(temp)
        template = temp / "default.xlsx"
        build_workbook(load_spec(), template)
        old_run = temp / args.run_dir.name
        shutil.copytree(args.run_dir, old_run)
        (old_run / INFERENCE_JSON).unlink()

        with_live, without_live, forced, never = [], [], [], []
        for _ in range(args.repeats):
            with_live.append(timed_export(args.run_dir, template, temp))
            without_live.append(timed_export(old_run, template, temp))
        exported = temp / "exported.xlsx"
        shutil.copyfile(template, exported)
        subprocess.run([sys.executable, "-m", "sheetgen", "export", str(args.run_dir),
                        "--workbook", str(exported)], check=True, capture_output=True, cwd=ROOT)
        for _ in range(args.repeats):
            forced.append(timed_convert(exported, temp, recalc=True))
            never.append(timed_convert(exported, temp, recalc=False))

        book = openpyxl.load_workbook(exported, read_only=True)
        formulas = sum(1 for row in book[LIVE_SHEET].iter_rows(values_only=True)
                       for value in row if isinstance(value, str) and value.startswith("="))
        book.close()
        size = exported.stat().st_size
        template_size = template.stat().st_size

    def show(values):
        return ", ".join(f"{v:.2f}" for v in values)

    med = statistics.median
    differences = [f - n for f, n in zip(forced, never)]
    print(f"command: python benchmarks/bench_live.py {args.run_dir} --repeats {args.repeats}")
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPU cores; Python {platform.python_version()}; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"'{LIVE_SHEET}': {formulas:,} formula cells")
    print(f"workbook: {size / 2**20:.2f} MiB with the live sheets (default workbook "
          f"{template_size / 2**20:.2f} MiB; target < 10 MB)")
    print(f"sheetgen export: median {med(with_live):.2f} s with the live sheets "
          f"(runs: {show(with_live)}), {med(without_live):.2f} s without "
          f"(runs: {show(without_live)}): the live sheets add {med(with_live) - med(without_live):.2f} s "
          "(target: export < 10 s)")
    print(f"LibreOffice open + save: median {med(forced):.2f} s with recalculation forced "
          f"(runs: {show(forced)}), {med(never):.2f} s without (runs: {show(never)})")
    print(f"recalculation: median {med(differences):.2f} s (per repeat: {show(differences)}; "
          "target < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
