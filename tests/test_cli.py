"""The command line, driven as a user drives it: exit codes, exact messages, nothing lost."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from sheetgen.cli import main

ORIGINAL = b"an existing workbook that must survive a failed build"


def run(*args):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def existing(tmp_path):
    path = tmp_path / "book.xlsx"
    path.write_bytes(ORIGINAL)
    return path


def test_build_writes_the_workbook(tmp_path):
    out = tmp_path / "b.xlsx"
    result = run("build", "--lr", "0.8", "--lr", "2", "--iterations", "30", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: 2 learning rates × 30 iterations")
    assert "η=0.8" in result.output and "η=2" in result.output
    assert out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["b.xlsx"]


def test_default_output_goes_to_output_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("build", "--iterations", "5")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "output" / "backprop.xlsx").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--lr", "0"], "Error: --lr 0: 0.0 must be a finite number greater than 0"),
        (["--lr", "-1"], "Error: --lr -1: -1.0 must be a finite number greater than 0"),
        (["--lr", "nan"], "Error: --lr nan: 'nan' is not a number"),
        (["--lr", "inf"], "Error: --lr inf: 'inf' is not a number"),
        (["--lr", "1e999"], "Error: --lr 1e999: inf must be a finite number greater than 0"),
        (["--lr", "fast"], "Error: --lr fast: 'fast' is not a number"),
        (["--lr", "0.5", "--lr", "0.5"], "Error: --lr: a learning rate is given twice"),
        (
            ["--iterations", "0"],
            "Error: --iterations 0 must be between 1 and 1,048,548 (rows left on a sheet), not 0",
        ),
        (
            ["--iterations", "2000000"],
            "Error: --iterations 2000000 must be between 1 and 1,048,548 (rows left on a sheet), not 2000000",
        ),
        (["--iterations", "ten"], "Error: --iterations ten must be a whole number, not 'ten'"),
        (
            ["--lr", "1e7", "--iterations", "3"],
            "Error: learning rate 10000000: a net input of layer 'h' reaches 879.4 at iteration 1, "
            "where a spreadsheet's EXP overflows (#NUM!)",
        ),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_workbook(existing, args, message):
    result = run("build", *args, "-o", str(existing))
    assert result.exit_code == 1
    assert result.output.startswith(message)
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert existing.read_bytes() == ORIGINAL
    assert [p.name for p in existing.parent.iterdir()] == ["book.xlsx"]


@pytest.mark.parametrize(
    "template, message",
    [
        ("missing.toml", "does not exist"),
        ("[[layers]\n", "is not valid TOML"),
        (
            'name = "x"\n[data]\ninputs=[[1,2]]\ntargets=[[1]]\n[[layers]]\nunits=1\n'
            'activation="softsign"\nweights=[[1,2]]\n',
            "layers[1].activation must be one of sigmoid, tanh, relu, leaky_relu, identity, softmax, "
            "not 'softsign'",
        ),
        (
            "[data]\ninputs=[[1,2]]\ntargets=[[1]]\n[[layers]]\nunits=1\nweights=[[1,2,3]]\n",
            "layers[1].weights is 1x3 but must be 1x2",
        ),
        (
            '[data]\ninputs=[[1,2]]\ntargets=[[1]]\n[[layers]]\nunits="one"\nweights=[[1,2]]\n',
            "layers[1].units must be a whole number ≥ 1, not 'one'",
        ),
        ("colour = 3\n[data]\ninputs=[[1,2]]\ntargets=[[1]]\n", "unknown key colour"),
        ("[data]\ninputs=[[1,2]]\n", "data.targets is missing"),
    ],
)
def test_bad_template_is_named_and_explained(tmp_path, existing, template, message):
    path = tmp_path / "t.toml"
    if template != "missing.toml":
        path.write_text(template)
    else:
        path = tmp_path / template
    result = run("build", "--template", str(path), "-o", str(existing))
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: template {path}")
    assert message in result.output and result.output.count("\n") == 1
    assert existing.read_bytes() == ORIGINAL


def test_unwritable_output_is_a_clear_error(tmp_path):
    result = run("build", "-o", str(tmp_path / "no" / "such" / "folder" / "b.xlsx"))
    assert result.exit_code == 1
    assert "folder" in result.output and "does not exist" in result.output
    result = run("build", "-o", str(tmp_path))
    assert result.exit_code == 1 and "it is a folder" in result.output


def test_folder_without_write_permission(tmp_path, monkeypatch):
    # Simulated: tests may run as root, who can write into a read-only folder.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("sheetgen.files._create_beside", refuse)
    result = run("build", "-o", str(tmp_path / "b.xlsx"))
    assert result.exit_code == 1
    assert result.output == f"Error: cannot write {tmp_path / 'b.xlsx'}: Permission denied\n"


@pytest.mark.slow
def test_failed_rename_keeps_the_old_workbook_and_no_temporary(existing, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("sheetgen.files.os.replace", refuse)
    result = run("build", "-o", str(existing))
    assert result.exit_code == 1 and "Permission denied" in result.output
    assert existing.read_bytes() == ORIGINAL
    assert [p.name for p in existing.parent.iterdir()] == ["book.xlsx"]


@pytest.mark.slow
def test_build_does_not_import_torch(tmp_path):
    code = (
        "import sys; from sheetgen.cli import main\n"
        "try: main(['build', '--iterations', '3', '-o', sys.argv[1]])\n"
        "except SystemExit: pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "b.xlsx")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_python_dash_m_and_help():
    done = subprocess.run(
        [sys.executable, "-m", "sheetgen", "build", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "Example: sheetgen build --lr 0.8" in done.stdout
