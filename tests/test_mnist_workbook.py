"""`sheetgen mnist train --workbook`: the workbook follows the run epoch by epoch, and a
workbook that cannot be replaced never stops training."""

import json
import os

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from mnist_fixtures import TEST_COUNT, mnist_data_dir  # noqa: F401

from mnist.cli import cli
from sheetgen.record import read_record
from sheetgen.runs.export import recorded_training
from sheetgen.runs.mnist_sheets import METRIC_HEADERS, METRICS_SHEET
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook


def train(data_dir, run_dir, workbook, epochs=2):
    return CliRunner().invoke(
        cli,
        [
            str(a)
            for a in (
                "train",
                "--data-dir",
                data_dir,
                "--out",
                run_dir,
                "--epochs",
                epochs,
                "--batch-size",
                100,
                "--device",
                "cpu",
                "--no-download",
                "--quiet",
                "--workbook",
                workbook,
            )
        ],
    )


@pytest.mark.slow
def test_the_workbook_gains_the_run(mnist_data_dir, tmp_path):
    workbook = tmp_path / "backprop.xlsx"
    build_workbook(load_spec().with_training([0.8], 20), workbook)
    result = train(mnist_data_dir, tmp_path / "run", workbook)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == f"workbook {workbook} holds the run's MNIST sheets"
    record = read_record(workbook)
    assert record.spec.learning_rates == (0.8,)  # the workbook's own spec is kept
    training = recorded_training(record, workbook)
    assert training.live is not None  # the run's inference.json, for the live sheets
    assert "MNIST live" in openpyxl.load_workbook(workbook, read_only=True).sheetnames
    assert len(training.metrics) == 2
    csv = pd.read_csv(tmp_path / "run" / "metrics.csv")
    sheet = pd.read_excel(workbook, sheet_name=METRICS_SHEET, header=2)
    sheet.columns = list(METRIC_HEADERS)  # the sheet's human headers, in metrics.csv's order
    pd.testing.assert_frame_equal(sheet, csv, check_dtype=False, rtol=0, atol=0)
    for name in ("curves.png", "confusion.png", "misclassified.png"):
        assert (tmp_path / "run" / name).exists(), name


@pytest.mark.slow
def test_evaluation_json_is_the_test_sets_confusion_and_mistakes(mnist_data_dir, tmp_path):
    assert train(mnist_data_dir, tmp_path / "run", tmp_path / "b.xlsx", epochs=1).exit_code == 0
    evaluation = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    confusion = evaluation["confusion"]
    assert evaluation["epoch"] == 1
    assert sum(map(sum, confusion)) == TEST_COUNT
    wrong = TEST_COUNT - sum(confusion[d][d] for d in range(10))
    assert len(evaluation["misclassified"]) == min(24, wrong)
    for digit in evaluation["misclassified"]:
        assert digit["true"] != digit["predicted"]


def test_an_edited_workbook_stops_before_training(mnist_data_dir, tmp_path):
    workbook = tmp_path / "backprop.xlsx"
    build_workbook(load_spec().with_training([0.8], 5), workbook)
    book = openpyxl.load_workbook(workbook)
    book["lr 0.8"]["B5"] = 0.3
    book.save(workbook)
    edited = workbook.read_bytes()
    result = train(mnist_data_dir, tmp_path / "run", workbook)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {workbook} has changed since sheetgen wrote it")
    assert not (tmp_path / "run").exists()
    assert workbook.read_bytes() == edited


@pytest.mark.slow
def test_a_locked_workbook_warns_once_and_training_goes_on(mnist_data_dir, tmp_path, monkeypatch):
    workbook = tmp_path / "backprop.xlsx"
    build_workbook(load_spec().with_training([0.8], 5), workbook)
    original = workbook.read_bytes()
    real_replace = os.replace

    def locked(source, target):
        if str(target) == str(workbook):
            raise PermissionError(13, "Permission denied")
        return real_replace(source, target)

    monkeypatch.setattr("sheetgen.files.os.replace", locked)
    result = train(mnist_data_dir, tmp_path / "run", workbook, epochs=2)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: cannot write") == 1
    assert "training goes on" in result.stderr
    instead = tmp_path / "run" / "backprop.xlsx"
    assert result.stdout.splitlines()[-1] == (
        f"could not write {workbook}; the workbook with the run's MNIST sheets is {instead}"
    )
    assert workbook.read_bytes() == original
    assert len(recorded_training(read_record(instead), instead).metrics) == 2
