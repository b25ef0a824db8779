"""Re-make README's pictures of the workbook: build it, render it with LibreOffice, crop pages.

python docs/render.py                          # needs LibreOffice, poppler-utils, Carlito
python docs/render.py output/runs/demo         # also the MNIST sheets of that run
python docs/render.py output/runs/demo mnist-live.png   # only the pictures named
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
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


def main() -> None:
    run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    pictures = PICTURES + (RUN_PICTURES if run_dir else [])
    if len(sys.argv) > 2:
        pictures = [p for p in pictures if p[3] in sys.argv[2:]]
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
                HERE / name, optimize=True
            )
            print(f"wrote {HERE / name}")


if __name__ == "__main__":
    sys.exit(main())
