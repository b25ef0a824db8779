"""The live CNN sheet's figures: formula cells, workbook size, export time, LibreOffice's
recalculation time.

    python benchmarks/bench_live.py output/runs/<run>            # a run dir with inference.json
    python benchmarks/bench_live.py output/runs/<run> --repeats 5

- formula cells: counted in the exported workbook's 'MNIST live' sheet (read back).
- workbook size: the default workbook (`sheetgen build`) with the run exported into it.
- export time: `sheetgen export RUN_DIR --workbook FILE` as a user runs it (a fresh process,
  into a fresh copy of the default workbook), with the run's inference.json and with a copy of
  the run dir without it; the difference is what the live sheets cost.
- LibreOffice open + save: the workbook converted by `soffice --convert-to` as a whole run
  (start-up, loading, saving), with recalculation forced on load and with it off.
- recalculation: inside one LibreOffice process, the workbook open, `calculateAll()` timed
  REPEATS times (benchmarks/lo_recalc.py, run by a Python with LibreOffice's uno module:
  python3-uno). Its wall time and the CPU time of LibreOffice's threads during the call.
  (The difference of the two whole runs above is no measure of it: recalculation is a tenth of
  a run's 3 s, within their spread on a shared machine, and that difference came out negative.)

Targets: recalculation under 2 s, export under 10 s, the workbook under 10 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mnist.train import cpu_name

# recalc.py's profile with "never recalculate on load" instead of "always"
NEVER_PROFILE_VALUE = "1"


def timed(command: list[str], **options) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process and its children) of one command. On a
    shared machine the wall time grows with the others' load; the CPU time hardly does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, **options)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def timed_export(run_dir: Path, template: Path, folder: Path) -> tuple[float, float]:
    """`python -m sheetgen export` on a fresh copy of `template`: (wall, CPU) seconds."""
    workbook = folder / "export.xlsx"
    shutil.copyfile(template, workbook)
    return timed(
        [sys.executable, "-m", "sheetgen", "export", str(run_dir), "--workbook", str(workbook)], cwd=ROOT
    )


def timed_convert(workbook: Path, folder: Path, recalc: bool) -> tuple[float, float]:
    """LibreOffice opening `workbook` and saving it as .xlsx: (wall, CPU) seconds."""
    from sheetgen.analyse.recalc import _PROFILE, find_soffice

    profile = folder / ("profile-recalc" if recalc else "profile-never")
    shutil.rmtree(profile, ignore_errors=True)
    (profile / "user").mkdir(parents=True)
    text = (
        _PROFILE if recalc else _PROFILE.replace("<value>0</value>", f"<value>{NEVER_PROFILE_VALUE}</value>")
    )
    (profile / "user" / "registrymodifications.xcu").write_text(text)
    # a first start creates the profile; time the second
    out = folder / "lo"
    command = [
        find_soffice(),
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--nolockcheck",
        "--convert-to",
        "xlsx:Calc MS Excel 2007 XML",
        "--outdir",
        str(out),
        str(workbook),
    ]
    env = {**os.environ, "HOME": str(profile)}
    subprocess.run(command, check=True, capture_output=True, env=env)
    return timed(command, env=env)


def uno_python(given: str | None) -> str | None:
    """A Python that can import LibreOffice's uno module: the one given, this one, the
    system's, or LibreOffice's own; None if there is none."""
    from sheetgen.analyse.recalc import find_soffice

    program = Path(find_soffice() or "soffice").resolve().parent
    candidates = [given] if given else [sys.executable, "/usr/bin/python3", str(program / "python")]
    for python in candidates:
        try:
            done = subprocess.run([python, "-c", "import uno"], capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if done.returncode == 0:
            return python
    return None


def timed_recalculation(workbook: Path, repeats: int, python: str) -> dict:
    """{"wall": [...], "cpu": [...] or None}: seconds of LibreOffice's calculateAll() on the
    open workbook, each of `repeats` times (lo_recalc.py)."""
    from sheetgen.analyse.recalc import find_soffice

    done = subprocess.run(
        [python, str(ROOT / "benchmarks" / "lo_recalc.py"), find_soffice(), str(workbook), str(repeats)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run dir holding inference.json")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--uno-python", help="a Python with LibreOffice's uno module (default: looked for)")
    args = parser.parse_args()

    import warnings

    import openpyxl

    warnings.filterwarnings("ignore", module="openpyxl")  # it does not know XlsxWriter's extensions

    from sheetgen.runs.live_layout import LIVE_SHEET
    from sheetgen.runs.training import INFERENCE_JSON
    from sheetgen.workbook.spec import load_spec
    from sheetgen.workbook.writer import build_workbook

    if not (args.run_dir / INFERENCE_JSON).is_file():
        print(f"{args.run_dir} has no {INFERENCE_JSON}; train a run with this sheetgen first")
        return 2
    load_before = os.getloadavg()[0]
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
        subprocess.run(
            [sys.executable, "-m", "sheetgen", "export", str(args.run_dir), "--workbook", str(exported)],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        for _ in range(args.repeats):
            forced.append(timed_convert(exported, temp, recalc=True))
            never.append(timed_convert(exported, temp, recalc=False))
        python = uno_python(args.uno_python)
        recalculation = timed_recalculation(exported, args.repeats, python) if python else None

        book = openpyxl.load_workbook(exported, read_only=True)
        formulas = sum(
            1
            for row in book[LIVE_SHEET].iter_rows(values_only=True)
            for value in row
            if isinstance(value, str) and value.startswith("=")
        )
        book.close()
        size = exported.stat().st_size
        template_size = template.stat().st_size

    def show(pairs, which=0):
        return ", ".join(f"{p[which]:.2f}" for p in pairs)

    def median(pairs, which=0):
        return statistics.median(p[which] for p in pairs)

    print(f"command: python benchmarks/bench_live.py {args.run_dir} --repeats {args.repeats}")
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPU cores; Python {platform.python_version()}; "
        f"load average before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f}"
    )
    print(f"'{LIVE_SHEET}': {formulas:,} formula cells")
    print(
        f"workbook: {size / 2**20:.2f} MiB with the live sheets (default workbook "
        f"{template_size / 2**20:.2f} MiB; target < 10 MB)"
    )
    for label, which in (("wall", 0), ("CPU", 1)):
        print(
            f"sheetgen export, {label}: median {median(with_live, which):.2f} s with the live "
            f"sheets (runs: {show(with_live, which)}), {median(without_live, which):.2f} s "
            f"without (runs: {show(without_live, which)}): the live sheets add "
            f"{median(with_live, which) - median(without_live, which):.2f} s"
        )
    for label, which in (("wall", 0), ("CPU", 1)):
        print(
            f"LibreOffice open + save, {label}: median {median(forced, which):.2f} s with "
            f"recalculation forced (runs: {show(forced, which)}), {median(never, which):.2f} s "
            f"without (runs: {show(never, which)})"
        )
    if recalculation is None:
        print(
            "recalculation: not measured, no Python with LibreOffice's uno module was found "
            "(install python3-uno, or give --uno-python)"
        )
    for label in ("wall", "cpu") if recalculation else ():
        times = recalculation[label]
        if times:
            print(
                f"recalculation (calculateAll in one LibreOffice process), {label.replace('cpu', 'CPU')}: "
                f"median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})"
            )
    print("targets: recalculation < 2 s, export < 10 s, workbook < 10 MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
