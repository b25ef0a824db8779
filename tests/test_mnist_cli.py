import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from mnist_fixtures import mnist_data_dir, mnist_run  # noqa: F401

from mnist.cli import cli


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def train_one_epoch_on_cpu(data_dir, out, *options):
    """`mnist train` on the tiny data set: one epoch, CPU, no download, quiet, plus options."""
    return run(
        "train",
        "--data-dir",
        data_dir,
        "--out",
        out,
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--no-download",
        "--quiet",
        *options,
    )


@pytest.mark.parametrize(
    "options, message",
    [
        (["--epochs", "0"], "epochs must be at least 1, got 0"),
        (["--batch-size", "0"], "batch size must be at least 1, got 0"),
        (["--lr", "0"], "learning rate must be a positive number, got 0.0"),
        (["--lr", "-1"], "learning rate must be a positive number, got -1.0"),
        (
            ["--lr", "nan"],
            "--lr nan: 'nan' is not a plain decimal number (digits 0-9, with an optional sign, "
            "point and exponent)",
        ),
        (["--lr", "1e999"], "learning rate must be a positive number, got inf"),
        (["--device", "tpu"], "device must be one of auto, cpu, cuda, mps; got 'tpu'"),
        (["--seed", "-1"], "seed must be in 0..4294967295, got -1"),
        (["--threads", "-1"], "threads must be 0 (choose while training) or more, got -1"),
    ],
)
def test_bad_values_give_one_line_errors(tmp_path, options, message):
    result = run("train", "--out", tmp_path / "run", *options)
    assert result.exit_code == 1
    assert result.output == f"Error: {message}\n"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path, mnist_data_dir):
    result = run("train", "--data-dir", mnist_data_dir, "--out", tmp_path / "run", "--device", "cuda")
    assert result.exit_code == 1
    assert result.output.startswith("Error: --device cuda was asked for but")
    assert result.output.count("\n") == 1


def test_missing_dataset_is_a_one_line_error(tmp_path):
    result = run("train", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "run", "--no-download")
    assert result.exit_code == 1
    assert result.output.startswith("Error: MNIST files missing (train-images-idx3-ubyte")
    assert result.output.count("\n") == 1


def test_resume_without_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("train", "--out", tmp_path / "empty", "--resume")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot resume: no checkpoint.pt in {tmp_path / 'empty'}; run without --resume to start it\n"
    )


@pytest.mark.slow
def test_resume_with_a_different_setting_is_a_one_line_error(mnist_run):
    result_dir = mnist_run[0].run_dir
    result = run("train", "--out", result_dir, "--resume", "--epochs", "5")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: cannot resume {result_dir}: asked for epochs 5 (the run used 2)")
    assert result.output.count("\n") == 1


def test_resume_uses_the_runs_own_settings(mnist_run):
    result_dir = mnist_run[0].run_dir
    result = run("train", "--out", result_dir, "--resume", "--quiet")
    assert result.exit_code == 0, result.output
    assert "done:" in result.output and "after 2 epochs" in result.output


@pytest.mark.slow
def test_train_prints_a_line_per_epoch(mnist_data_dir, tmp_path):
    result = train_one_epoch_on_cpu(mnist_data_dir, tmp_path / "run", "--batch-size", "100")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epoch  1/1  train loss ")
    assert lines[1].startswith(f"done: {tmp_path / 'run'} after 1 epoch, ")


@pytest.mark.slow
def test_threads_option_fixes_the_count_and_is_recorded(mnist_data_dir, tmp_path):
    import json

    result = train_one_epoch_on_cpu(mnist_data_dir, tmp_path / "run", "--threads", "1")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["settings"]["threads"] == 1
    assert record["threads"]["mode"] == "fixed"
    assert record["threads"]["epochs"][0]["steps_per_thread_count"] == {"1": 4}


def test_summary_prints_the_model_table():
    result = run("summary")
    assert result.exit_code == 0
    assert "conv1" in result.output and "global average pool" in result.output
    assert result.output.splitlines()[-1].startswith("total parameters: ")


def test_python_dash_m_mnist_runs_the_same_cli():
    result = subprocess.run([sys.executable, "-m", "mnist", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "train" in result.stdout and "summary" in result.stdout
