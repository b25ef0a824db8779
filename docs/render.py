"""Re-make README's pictures of the workbook: build it, render it with LibreOffice, crop pages.

python docs/render.py                          # into output/pictures/; needs LibreOffice,
                                               # poppler-utils and the Carlito font
python docs/render.py --out docs               # replace the pictures README shows
python docs/render.py output/runs/demo         # also the MNIST sheets of that run
python docs/render.py output/runs/demo mnist-live.png   # only the pictures named
python docs/render.py feedback                 # check's annotated copy and class report
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Pictures go here unless --out names a folder: docs/ holds the ones README shows, which a trial
# run should not overwrite.
DEFAULT_OUT = ROOT / "output" / "pictures"
sys.path.insert(0, str(ROOT))  # draw this checkout's workbook, not an installed sheetgen's

from sheetgen.analyse.recalc import to_pdf
from sheetgen.runs.export import build_run_workbook
from sheetgen.runs.training import read_run
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook

# (template, text that starts the page, crop box as fractions of the page, file)
PICTURES = [
    ("seed", "Every learning rate side by side", (0.05, 0.07, 0.95, 0.60), "overview.png"),
    ("seed", "Backpropagation with η = 0.8", (0.05, 0.07, 0.75, 0.62), "sheet-lr-0.8.png"),
    ("seed", "The network: seed", (0.05, 0.07, 0.84, 0.92), "network.png"),
    ("xor", "Every learning rate side by side", (0.05, 0.07, 0.95, 0.60), "xor-overview.png"),
]


# the MNIST metrics sheet of the seed workbook with a run's MNIST sheets
RUN_PICTURES = [
    ("run", "MNIST training, run", (0.04, 0.07, 0.96, 0.75), "mnist-metrics.png"),
    # the first page of 'MNIST live': the panel, the canvas, the input grid and its normalisation
    ("run", "The trained CNN, live", (0.04, 0.07, 0.97, 0.70), "mnist-live.png"),
    # the first rows of 'MNIST digits', the gallery the chooser picks from
    ("run", "The 100 stored test digits", (0.04, 0.07, 0.86, 0.50), "mnist-digits.png"),
]


def find_page(pdf: Path, marker: str) -> int:
    """The first page of `pdf` whose text starts with `marker` (1-based)."""
    pages = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.split("\f")
    for number, text in enumerate(pages, start=1):
        if text.strip().startswith(marker):
            return number
    raise SystemExit(f"no page of {pdf} starts with {marker!r}")


def _crop_to_content(image: Image.Image, margin: int = 12) -> Image.Image:
    """The part of a page that is not white, with a margin."""
    grey = image.convert("L").point(lambda v: 255 if v < 250 else 0)
    left, top, right, bottom = grey.getbbox() or (0, 0, *image.size)
    return image.crop((max(left - margin, 0), max(top - margin, 0), right + margin, bottom + margin))


def _pages(pdf: Path, folder: Path) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", "110", "-png", str(pdf), str(folder / pdf.stem)], check=True)
    return sorted(folder.glob(f"{pdf.stem}-*.png"))


def _page_matching(pdf: Path, pattern: str) -> int:
    """The first page of `pdf` whose text starts with a match of `pattern` (1-based)."""
    pages = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout.split("\f")
    return next(n for n, text in enumerate(pages, start=1) if re.match(pattern, text.strip()))


def _page(pdf: Path, number: int, folder: Path) -> Image.Image:
    stem = folder / f"{pdf.stem}-page{number}"
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "110",
            "-png",
            "-singlefile",
            "-f",
            str(number),
            "-l",
            str(number),
            str(pdf),
            str(stem),
        ],
        check=True,
    )
    return Image.open(f"{stem}.png")


def _red_pixels(page: Path) -> int:
    from sheetgen.analyse.feedback.styles import MISTAKE_FILL

    red = tuple(int(MISTAKE_FILL[i : i + 2], 16) for i in (2, 4, 6))
    colours = Image.open(page).convert("RGB").getcolors(1 << 22) or []
    return sum(n for n, c in colours if all(abs(a - b) <= 6 for a, b in zip(c, red)))


def feedback(out_dir: Path) -> None:
    here = os.getcwd()
    try:
        _feedback(out_dir)
    finally:
        os.chdir(here)


def _feedback(out_dir: Path) -> None:
    """A hand-made workbook with a planted mistake, checked and annotated (its check sheet and
    the page with the red cell), and the class report of a few such submissions."""
    from sheetgen.analyse.check import check_many
    from sheetgen.analyse.feedback import annotate_workbook, write_class_report
    from tests.excel_saved import picture, write_excel_saved
    from tests.handmade import layout_block

    plants = {
        "anna": {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 3)},
        "ben": {"w5": ("{w5@p}+{eta}*{g5@p}", 1)},
        "carl": {"E1": ("({t1}-{ao1})^2", 0)},
        "dora": {},
        "emil": {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 0)},
    }
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        os.chdir(temp)  # the class report names the files as given: class/anna.xlsx
        png = picture(temp / "p.png")
        Path("class").mkdir()
        Path("checked").mkdir()
        paths = [
            write_excel_saved(Path("class") / f"{n}.xlsx", "block", layout_block(p), png)
            for n, p in plants.items()
        ]
        outcomes = check_many(paths)
        copies = {
            o.path: annotate_workbook(o.report, o.path, Path("checked") / f"{o.path.stem}.checked.xlsx")
            for o in outcomes
        }
        report = write_class_report(outcomes, temp / "class.xlsx", copies)
        pdf = to_pdf(copies[paths[0]], temp)
        pictures = {
            "annotated-check-sheet.png": _page(pdf, find_page(pdf, "sheetgen check of"), temp),
            "annotated-sheet.png": Image.open(max(_pages(pdf, temp), key=_red_pixels)),
        }
        pdf = to_pdf(report, temp)
        pictures["class-submissions.png"] = _page(pdf, find_page(pdf, "File"), temp)
        pictures["class-mistakes.png"] = _page(pdf, _page_matching(pdf, r"Mistake\s+Submissions"), temp)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name, image in pictures.items():
            _crop_to_content(image).save(out_dir / name, optimize=True)
            print(f"wrote {out_dir / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "run_dir", nargs="?", type=Path, help="a run dir: also its MNIST sheets; or 'feedback'"
    )
    parser.add_argument("names", nargs="*", help="only these pictures (e.g. mnist-live.png)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"folder for the pictures (default: {DEFAULT_OUT})"
    )
    args = parser.parse_args()
    if args.run_dir == Path("feedback"):
        return feedback(args.out.resolve())
    run_dir = args.run_dir
    pictures = PICTURES + (RUN_PICTURES if run_dir else [])
    if args.names:
        pictures = [p for p in pictures if p[3] in args.names]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        pdfs = {}
        for template in sorted({p[0] for p in pictures}):
            book = temp / f"{template}.xlsx"
            if template == "run":
                build_run_workbook(load_spec(ROOT / "templates" / "seed.toml"), book, read_run(run_dir))
            else:
                build_workbook(load_spec(ROOT / "templates" / f"{template}.toml"), book)
            pdfs[template] = to_pdf(book, temp)
        for template, marker, (left, top, right, bottom), name in pictures:
            pdf = pdfs[template]
            page = find_page(pdf, marker)
            stem = temp / f"{template}-page{page}"
            subprocess.run(
                [
                    "pdftoppm",
                    "-r",
                    "150",
                    "-png",
                    "-singlefile",
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    str(pdf),
                    str(stem),
                ],
                check=True,
            )
            image = Image.open(f"{stem}.png")
            w, h = image.size
            image.crop((int(w * left), int(h * top), int(w * right), int(h * bottom))).save(
                args.out / name, optimize=True
            )
            print(f"wrote {args.out / name}")


if __name__ == "__main__":
    sys.exit(main())
