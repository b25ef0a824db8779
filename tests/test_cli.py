"""The command line, driven as a user drives it: exit codes, exact messages, nothing lost."""

import json
import subprocess
import sys

import openpyxl
import pytest
from click.testing import CliRunner

from sheetgen.cli import main
from tests.conftest import ROOT
from tests.run_fixtures import write_run_dir

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


def test_missing_folders_of_the_output_are_created(tmp_path):
    out = tmp_path / "new" / "folder" / "b.xlsx"
    result = run("build", "--iterations", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_folders_made_for_a_failed_build_are_removed(tmp_path):
    result = run("build", "--lr", "1e7", "--iterations", "3", "-o", str(tmp_path / "new" / "b.xlsx"))
    assert result.exit_code == 1 and "EXP overflows" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_cannot_be_written_is_a_clear_error(tmp_path, monkeypatch):
    (tmp_path / "a file").write_text("not a folder")
    out = tmp_path / "a file" / "b.xlsx"
    result = run("build", "-o", str(out))
    assert result.exit_code == 1
    assert result.output == f"Error: cannot write {out}: Not a directory\n"
    result = run("build", "-o", str(tmp_path))
    assert result.exit_code == 1 and "it is a folder" in result.output

    def refuse(*args, **kwargs):  # simulated: tests may run as root, who may write anywhere
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("pathlib.Path.mkdir", refuse)
    out = tmp_path / "new" / "b.xlsx"
    result = run("build", "-o", str(out))
    assert result.exit_code == 1
    assert (
        result.output == f"Error: cannot write {out}: cannot create folder {out.parent}: Permission denied\n"
    )


def test_help_says_that_folders_are_created():
    result = run("build", "--help")
    assert "missing folders are created" in " ".join(result.output.split())


@pytest.mark.parametrize("given", ["xor", "xor.toml", "templates/xor.toml"])
def test_a_shipped_template_is_found_by_name_from_any_folder(tmp_path, monkeypatch, given):
    """By name from anywhere; as a path, relative to the current folder (here the checkout)."""
    monkeypatch.chdir(ROOT if "/" in given else tmp_path)
    out = tmp_path / f"{given.replace('/', '_')}.xlsx"
    result = run("build", "--template", given, "--iterations", "3", "-o", str(out))
    assert result.exit_code == 0, result.output
    reference = tmp_path / "reference.xlsx"
    assert (
        run(
            "build",
            "--template",
            str(ROOT / "templates" / "xor.toml"),
            "--iterations",
            "3",
            "-o",
            str(reference),
        ).exit_code
        == 0
    )
    assert out.read_bytes() == reference.read_bytes()


def test_a_missing_template_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("build", "--template", "templates/xor.toml", "-o", str(tmp_path / "b.xlsx"))
    assert result.exit_code == 1
    assert result.output == (
        "Error: template templates/xor.toml does not exist; the templates that come with "
        "sheetgen, usable by name from any folder: mazur, seed, xor\n"
    )


def test_a_build_over_a_workbook_with_a_runs_sheets_is_refused_without_force(tmp_path):
    from sheetgen.runs.export import build_run_workbook
    from sheetgen.runs.mnist_sheets import SHEETS
    from sheetgen.runs.training import read_run
    from sheetgen.workbook.spec import load_spec

    path = tmp_path / "with_run.xlsx"
    build_run_workbook(load_spec().with_training([0.5], 3), path, read_run(write_run_dir(tmp_path / "run")))
    before = path.read_bytes()
    result = run("build", "--iterations", "3", "-o", str(path))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path} holds a training run's sheets ({', '.join(SHEETS)}), which a build would "
        "drop; build into another file (-o), or replace it with --force\n"
    )
    assert path.read_bytes() == before
    result = run("build", "--iterations", "3", "-o", str(path), "--force")
    assert result.exit_code == 0, result.output
    assert not set(SHEETS) & set(openpyxl.load_workbook(path, read_only=True).sheetnames)
    assert run("build", "--iterations", "3", "-o", str(path)).exit_code == 0  # no run's sheets now


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


@pytest.mark.slow
@pytest.mark.parametrize("command", [["mnist", "train", "--epochs", "1"], ["mnist", "summary"]])
def test_the_mnist_commands_without_torch_say_how_to_install_it(command):
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from sheetgen.cli import main\n"
        "main(sys.argv[1:], prog_name='sheetgen')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *command], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: sheetgen {' '.join(command[:2])} needs torch, which is not installed: pip install "
        "'sheetgen[mnist]' (torch with CUDA, about 4.5 GB; CPU only, much smaller: pip install torch "
        "torchvision --index-url https://download.pytorch.org/whl/cpu first)\n"
    )


@pytest.mark.parametrize("name", ["xor", "deep"])
def test_check_on_a_workbook_sheetgen_built_points_to_verify(tmp_path, name):
    """Workbooks check cannot read: XOR's four samples, and a network beyond the exercise."""
    from sheetgen.workbook.spec import load_spec, spec_from_dict
    from sheetgen.workbook.writer import build_workbook
    from tests.test_render import DEEP

    path = tmp_path / f"{name}.xlsx"
    build_workbook(load_spec("xor") if name == "xor" else spec_from_dict(DEEP), path)
    result = run("check", str(path))
    assert result.exit_code == 2
    assert result.output.startswith(
        f"Error: {path} was built by sheetgen (template {name!r}): check it cell by cell with "
        f"sheetgen verify {path}; check, which reads hand-made workbooks, says: no training table "
        f"recognised in {path} ("
    )
    assert result.output.count("\n") == 1
    result = run("check", str(path), "--json")
    assert result.exit_code == 2
    assert "sheetgen verify" in json.loads(result.output)["error"]
