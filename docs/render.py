"""Re-make README's pictures of the workbook: build it, render it with LibreOffice, crop pages.

    python docs/render.py                          # needs LibreOffice and pdftoppm
    python docs/render.py output/runs/demo         # also the MNIST sheets of that run
    python docs/render.py output/runs/demo mnist-live.png   # only the pictures named
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

from sheetgen.recalc import to_pdf
from sheetgen.spec import load_spec
from sheetgen.training import read_run
from sheetgen.writer import build_workbook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# (template, page of the PDF, crop box as fractions of the page, file)
PICTURES = [
    ("seed", 2, (0.05, 0.08, 0.93, 0.45), "overview.png"),
    ("seed", 6, (0.05, 0.08, 0.55, 0.42), "sheet-lr-0.8.png"),
    ("seed", 1, (0.05, 0.06, 0.95, 0.80), "network.png"),
    ("xor", 2, (0.43, 0.09, 0.93, 0.45), "xor-overview.png"),
]


# pages 9 and 11 of the seed workbook with a run's MNIST sheets: metrics and confusion matrix
RUN_PICTURES = [
    ("run", 9, (0.04, 0.05, 0.96, 0.62), "mnist-metrics.png"),
    # the first page of 'MNIST live' (with the six rate sheets on two pages each, and the four
    # metrics sheets before it): the panel, the input and conv1's feature maps
    ("run", 19, (0.04, 0.07, 0.92, 0.92), "mnist-live.png"),
]


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
                build_workbook(load_spec(), book, training=read_run(run_dir))
            else:
                build_workbook(load_spec(ROOT / "templates" / f"{template}.toml"), book)
            pdfs[template] = to_pdf(book, temp)
        for template, page, (left, top, right, bottom), name in pictures:
            pdf = pdfs[template]
            stem = temp / f"{template}-page{page}"
            subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", "-f", str(page),
                            "-l", str(page), str(pdf), str(stem)], check=True)
            image = Image.open(f"{stem}.png")
            w, h = image.size
            image.crop((int(w * left), int(h * top), int(w * right), int(h * bottom))).save(
                HERE / name, optimize=True)
            print(f"wrote {HERE / name}")


if __name__ == "__main__":
    sys.exit(main())
