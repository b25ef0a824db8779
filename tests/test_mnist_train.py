import csv
import json

import pytest
import torch
from mnist_fixtures import mnist_data_dir, mnist_run, tiny_config  # noqa: F401

from mnist.config import MnistError
from mnist.export import load_model
from mnist.model import DigitNet
from mnist.train import COLUMNS, train


def without_time(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


class StopAfter(Exception):
    pass


def stop_after(epoch):
    def on_epoch(run_dir, rows):
        if rows[-1]["epoch"] == epoch:
            raise StopAfter

    return on_epoch


@pytest.mark.slow
def test_run_dir_holds_every_file(mnist_run):
    result, _ = mnist_run
    names = sorted(p.name for p in result.run_dir.iterdir())
    assert names == [
        "checkpoint.pt",
        "evaluation.json",
        "inference.json",
        "metrics.csv",
        "metrics.json",
        "model.pt2",
        "summary.json",
    ]


def test_metrics_csv_has_exactly_the_columns_and_one_row_per_epoch(mnist_run):
    result, _ = mnist_run
    with open(result.run_dir / "metrics.csv", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert tuple(reader.fieldnames) == COLUMNS
    assert COLUMNS == ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row in rows:
        assert 0 <= float(row["train_accuracy"]) <= 100 and 0 <= float(row["test_accuracy"]) <= 100
        assert float(row["test_loss"]) > 0.0001  # per sample, not divided by the set size again
        assert float(row["seconds"]) > 0


def test_metrics_json_records_settings_versions_machine_and_the_same_rows(mnist_run):
    result, _ = mnist_run
    record = json.loads((result.run_dir / "metrics.json").read_text())
    assert record["epochs"] == result.metrics
    assert record["settings"]["seed"] == 0 and record["settings"]["epochs"] == 2
    assert record["versions"]["torch"] == torch.__version__
    assert record["machine"]["device"] == "cpu"
    assert record["threads"] == {
        "mode": "fixed",
        "epochs": [
            {"epoch": 1, "steps_per_thread_count": {"1": 4}, "probes": 0, "threads_at_end": 1},
            {"epoch": 2, "steps_per_thread_count": {"1": 4}, "probes": 0, "threads_at_end": 1},
        ],
    }


def test_summary_json_lists_layers_and_total(mnist_run):
    result, _ = mnist_run
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["total_parameters"] == result.parameters <= 8000
    assert {"name", "output_shape", "parameters", "receptive_field"} <= set(summary["layers"][0])


def test_tiny_run_learns_the_synthetic_digits(mnist_run):
    result, _ = mnist_run
    assert result.metrics[-1]["train_loss"] < result.metrics[0]["train_loss"]


def test_on_epoch_gets_the_run_dir_and_the_rows_so_far(mnist_run):
    result, calls = mnist_run
    assert [run_dir for run_dir, _ in calls] == [result.run_dir] * 2
    assert [len(rows) for _, rows in calls] == [1, 2]
    assert calls[-1][1] == result.metrics


@pytest.mark.slow
def test_exported_model_matches_the_checkpointed_weights(mnist_run):
    result, _ = mnist_run
    model = DigitNet()
    model.load_state_dict(torch.load(result.run_dir / "checkpoint.pt", weights_only=True)["model"])
    model.eval()
    images = torch.rand(13, 1, 28, 28)
    torch.testing.assert_close(load_model(result.run_dir / "model.pt2")(images), model(images))


@pytest.mark.slow
def test_interrupted_then_resumed_run_equals_the_uninterrupted_one(mnist_run, mnist_data_dir, tmp_path):
    result, _ = mnist_run
    config = tiny_config(mnist_data_dir, tmp_path / "run")
    with pytest.raises(StopAfter):
        train(config, on_epoch=stop_after(1), progress=False)
    with open(tmp_path / "run" / "metrics.csv") as f:
        assert len(f.readlines()) == 2  # header and epoch 1
    resumed = train(tiny_config(mnist_data_dir, tmp_path / "run", resume=True), progress=False)
    assert [row["epoch"] for row in resumed.metrics] == [1, 2]
    assert without_time(resumed.metrics) == without_time(result.metrics)  # same seed, same numbers


def test_resume_takes_the_runs_own_settings_for_those_not_chosen(mnist_run, mnist_data_dir, tmp_path):
    """What the CLI does with --resume: only the options given are chosen; train() decides."""
    from dataclasses import replace

    from mnist.config import TrainConfig

    result, _ = mnist_run
    config = tiny_config(mnist_data_dir, tmp_path / "run")
    with pytest.raises(StopAfter):
        train(config, on_epoch=stop_after(1), progress=False)
    started = []
    resumed = train(
        TrainConfig(out=tmp_path / "run", resume=True),
        progress=False,
        explicit={"out", "resume"},
        on_start=started.append,
    )
    assert started == [replace(config, resume=True)]  # data_dir, epochs, threads: the run's
    assert without_time(resumed.metrics) == without_time(result.metrics)
    with pytest.raises(MnistError, match=r"asked for epochs 5 \(the run used 2\)"):
        train(
            TrainConfig(out=tmp_path / "run", resume=True, epochs=5),
            progress=False,
            explicit={"out", "resume", "epochs"},
        )


@pytest.mark.slow
def test_only_the_epochs_before_the_clean_ones_are_augmented(mnist_data_dir, tmp_path, monkeypatch):
    import mnist.data

    augmented_batches, per_epoch = [], []
    real_affine = mnist.data.random_affine
    monkeypatch.setattr(
        mnist.data,
        "random_affine",
        lambda *args, **kw: augmented_batches.append(1) or real_affine(*args, **kw),
    )
    on_epoch = lambda run_dir, rows: per_epoch.append(len(augmented_batches))  # noqa: E731
    train(tiny_config(mnist_data_dir, tmp_path / "run", epochs=3, clean_epochs=2), on_epoch, progress=False)
    assert per_epoch == [4, 4, 4]  # 4 batches in epoch 1, none in epochs 2 and 3
    per_epoch.clear(), augmented_batches.clear()
    train(tiny_config(mnist_data_dir, tmp_path / "all", epochs=2, clean_epochs=5), on_epoch, progress=False)
    assert per_epoch == [0, 0]  # more clean epochs than epochs: every epoch is clean


def test_resuming_a_finished_run_trains_nothing(mnist_run, mnist_data_dir):
    result, _ = mnist_run
    calls = []
    again = train(
        tiny_config(mnist_data_dir, result.run_dir, resume=True),
        on_epoch=lambda *args: calls.append(args),
        progress=False,
    )
    assert again.metrics == result.metrics and calls == []


def test_new_run_refuses_to_overwrite_a_run(mnist_run, mnist_data_dir):
    result, _ = mnist_run
    with pytest.raises(MnistError, match="already holds a run"):
        train(tiny_config(mnist_data_dir, result.run_dir), progress=False)


def test_resume_refuses_changed_settings(mnist_run, mnist_data_dir):
    result, _ = mnist_run
    with pytest.raises(MnistError, match="lr 0.5"):
        train(tiny_config(mnist_data_dir, result.run_dir, resume=True, lr=0.5), progress=False)


def test_negative_clean_epochs_are_refused(mnist_data_dir, tmp_path):
    with pytest.raises(MnistError, match="clean epochs must be 0 or more, got -1"):
        tiny_config(mnist_data_dir, tmp_path / "run", clean_epochs=-1)


@pytest.mark.slow
def test_seconds_counts_everything_between_rows(mnist_data_dir, tmp_path, monkeypatch):
    """A slow export and a slow on_epoch (the CLI's workbook refresh) land in the next row."""
    import time

    import mnist.train

    pause = 1.0
    real_export = mnist.train.export_model
    monkeypatch.setattr(mnist.train, "export_model", lambda *args: time.sleep(pause) or real_export(*args))
    started, last_row_at = time.perf_counter(), []

    def slow_refresh(run_dir, rows):
        last_row_at[:] = [time.perf_counter() - started]
        time.sleep(pause)

    result = train(tiny_config(mnist_data_dir, tmp_path / "run", epochs=3), slow_refresh, progress=False)
    seconds = [row["seconds"] for row in result.metrics]
    assert all(s >= 2 * pause for s in seconds[1:]), seconds  # export + refresh of the row before
    assert seconds[0] > 0
    # One running clock: the rows add up to no more than the time until the last row's files
    # were written (the export after the last row is in no row).
    assert sum(seconds) <= last_row_at[0]
    assert sum(seconds) >= last_row_at[0] - pause - 5, (seconds, last_row_at)


@pytest.mark.slow
def test_adaptive_threads_are_recorded_per_epoch_and_put_back(mnist_data_dir, tmp_path, monkeypatch):
    import mnist.threads

    monkeypatch.setattr(mnist.threads, "WINDOW_STEPS", 1)  # tiny epochs: probe within them
    monkeypatch.setattr(mnist.threads, "FIRST_PROBE_INTERVAL", 2)
    before = torch.get_num_threads()
    result = train(tiny_config(mnist_data_dir, tmp_path / "run", epochs=3, threads=0), progress=False)
    assert torch.get_num_threads() == before
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    assert metrics["machine"]["torch_threads"] == before  # torch's default, not a probe's count
    record = metrics["threads"]
    assert record["mode"] == "adaptive" and [e["epoch"] for e in record["epochs"]] == [1, 2, 3]
    candidates = {str(n) for n in mnist.threads.candidate_counts(before)}
    for epoch in record["epochs"]:
        assert sum(epoch["steps_per_thread_count"].values()) == 4
        assert set(epoch["steps_per_thread_count"]) <= candidates
        assert str(epoch["threads_at_end"]) in candidates
    assert record["epochs"][0]["probes"] >= 1


@pytest.mark.slow
def test_resumed_run_keeps_the_earlier_epochs_thread_record(mnist_data_dir, tmp_path):
    with pytest.raises(StopAfter):
        train(tiny_config(mnist_data_dir, tmp_path / "run"), on_epoch=stop_after(1), progress=False)
    resumed = train(tiny_config(mnist_data_dir, tmp_path / "run", resume=True, threads=2), progress=False)
    record = json.loads((resumed.run_dir / "metrics.json").read_text())["threads"]
    assert [e["steps_per_thread_count"] for e in record["epochs"]] == [{"1": 4}, {"2": 4}]


@pytest.mark.slow
@pytest.mark.parametrize("history", [5, "x", [{"epoch": 7}], None])
def test_an_odd_thread_record_in_a_checkpoint_is_dropped_not_fatal(mnist_data_dir, tmp_path, history):
    with pytest.raises(StopAfter):
        train(tiny_config(mnist_data_dir, tmp_path / "run"), on_epoch=stop_after(1), progress=False)
    path = tmp_path / "run" / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    state["threads"] = history
    torch.save(state, path)
    resumed = train(tiny_config(mnist_data_dir, tmp_path / "run", resume=True), progress=False)
    record = json.loads((resumed.run_dir / "metrics.json").read_text())["threads"]
    assert [e["epoch"] for e in record["epochs"]] == [2]  # only what this process saw
