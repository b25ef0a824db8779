"""The Python API: the command line's commands as functions, listed where a notebook looks
(dir, help, tab completion), and importing sheetgen stays light."""

import inspect
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import sheetgen
from sheetgen.cli import main
from sheetgen.files import OutputError
from sheetgen.workbook.spec import SpecError
from tests.conftest import ROOT, require_libreoffice
from tests.run_fixtures import write_run_dir

API = ["build_workbook", "check_workbook", "export_run", "read_history", "verify_workbook"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_dir_and_all_list_the_api():
    assert sorted(sheetgen.__all__) == API
    assert set(API) <= set(dir(sheetgen))
    done = subprocess.run(
        [sys.executable, "-c", "import sheetgen; print(dir(sheetgen))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert all(repr(name) in done.stdout for name in API), done.stdout


@pytest.mark.parametrize("name", API)
def test_each_function_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(getattr(sheetgen, name))
    assert "Example:" in doc and ">>> " in doc and "Raises:" in doc


def test_help_lists_the_api():
    import pydoc

    text = pydoc.render_doc(sheetgen, renderer=pydoc.plaintext)
    assert all(f"{name}(" in text for name in API)


def test_importing_sheetgen_loads_none_of_the_heavy_libraries():
    code = (
        "import json, sys, sheetgen\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'pandas', 'matplotlib', 'numpy', 'openpyxl', 'xlsxwriter'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    "options, arguments",
    [
        ([], {}),
        (["--lr", "0.8", "--lr", "2", "--iterations", "30"], {"learning_rates": [0.8, 2], "iterations": 30}),
        (["--lr", "0.5"], {"learning_rates": 0.5}),
        (["--template", "xor", "--iterations", "10"], {"template": "xor", "iterations": 10}),
    ],
    ids=["defaults", "rates and iterations", "one rate", "a shipped template"],
)
def test_building_from_python_gives_the_bytes_the_command_line_writes(tmp_path, options, arguments):
    assert cli("build", *options, "-o", tmp_path / "cli.xlsx").exit_code == 0
    report = sheetgen.build_workbook(tmp_path / "python.xlsx", **arguments)
    assert (tmp_path / "python.xlsx").read_bytes() == (tmp_path / "cli.xlsx").read_bytes()
    assert report.path == tmp_path / "python.xlsx"
    assert report.formulas > 0 and len(report.final_loss) == len(report.spec.learning_rates)


def test_build_writes_output_backprop_in_the_current_folder_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = sheetgen.build_workbook(iterations=2)
    assert report.path.as_posix() == "output/backprop.xlsx" and report.path.is_file()


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        (
            {"learning_rates": [0]},
            SpecError,
            "training.learning_rates: 0.0 must be a finite number greater than 0",
        ),
        ({"learning_rates": ["fast"]}, SpecError, "training.learning_rates: 'fast' is not a number"),
        ({"learning_rates": [0.5, 0.5]}, SpecError, "training.learning_rates lists a learning rate twice"),
        ({"iterations": 0}, SpecError, "training.iterations must be between 1"),
        ({"template": "nope"}, SpecError, "template nope does not exist; the templates that come with"),
    ],
)
def test_bad_arguments_raise_with_the_message(tmp_path, arguments, error, message):
    with pytest.raises(error) as raised:
        sheetgen.build_workbook(tmp_path / "b.xlsx", **arguments)
    assert str(raised.value).startswith(message)
    assert list(tmp_path.iterdir()) == []


def test_a_workbook_with_a_runs_sheets_needs_force(tmp_path):
    path = tmp_path / "book.xlsx"
    sheetgen.export_run(write_run_dir(tmp_path / "run"), path)
    with pytest.raises(OutputError, match="holds a training run's sheets"):
        sheetgen.build_workbook(path, iterations=2)
    assert sheetgen.build_workbook(path, iterations=2, force=True).sheets[-1] == "lr 2"


def test_export_run_and_read_history(tmp_path):
    path = tmp_path / "book.xlsx"
    done = sheetgen.export_run(write_run_dir(tmp_path / "run"), path)
    assert done.report.path == path and "MNIST metrics" in done.report.sheets
    tables = sheetgen.read_history(path)
    assert list(tables) == list(done.report.spec.learning_rates)
    assert tables[0.8]["E_total"].iloc[-1] == pytest.approx(done.report.final_loss[0.8], rel=1e-12)


@pytest.mark.slow
def test_check_workbook_reads_the_exercise_sheetgen_built(seed_workbook):
    report = sheetgen.check_workbook(seed_workbook)
    assert report.ok and len(report.tables) == 6


@pytest.mark.libreoffice
def test_verify_workbook_recalculates_and_agrees(seed_workbook):
    require_libreoffice()
    report = sheetgen.verify_workbook(seed_workbook, tolerance=1e-9)
    assert report.ok and report.tolerance == 1e-9 and report.largest("engine") <= 1e-12
