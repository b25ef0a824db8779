import pytest
import torch
from torch import nn

from mnist.export import export_model, load_model
from mnist.model import DigitNet, count_parameters, format_summary, summarize, summary_dict


def test_model_stays_within_the_parameter_budget_with_the_required_layers():
    model = DigitNet()
    kinds = {type(m) for m in model.modules()}
    assert count_parameters(model) <= 8000
    assert {nn.BatchNorm2d, nn.Dropout, nn.AdaptiveAvgPool2d} <= kinds


def test_summary_rows_give_shape_parameters_and_receptive_field():
    rows = {row.name: row for row in summarize(DigitNet())}
    expected = {  # name: (output shape, receptive field)
        "normalize": ((1, 28, 28), 1),
        "conv1": ((8, 26, 26), 3),
        "conv2": ((12, 24, 24), 5),
        "pool": ((12, 12, 12), 6),
        "conv3": ((16, 10, 10), 10),
        "conv5": ((18, 6, 6), 18),
        "gap": ((18, 1, 1), 28),
        "classifier": ((10,), 28),
    }
    got = {name: (rows[name].output_shape, rows[name].receptive_field) for name in expected}
    assert got == expected
    assert rows["conv1"].parameters == 8 * 9 + 2 * 8  # weights + BN scale and shift
    assert sum(row.parameters for row in rows.values()) == count_parameters(DigitNet())


def test_summary_dict_and_text_report_the_same_total():
    model = DigitNet()
    total = summary_dict(model)["total_parameters"]
    assert total == count_parameters(model)
    assert format_summary(model).endswith(f"total parameters: {total:,}")


def test_summary_leaves_training_mode_alone():
    model = DigitNet().train()
    summarize(model)
    assert model.training


@pytest.mark.slow
def test_exported_model_agrees_with_eager_on_unseen_batch_sizes(tmp_path):
    torch.manual_seed(0)
    model = DigitNet()
    model.train()
    for _ in range(3):  # move BN running statistics away from their initial values
        model(torch.rand(16, 1, 28, 28))
    export_model(model, tmp_path / "model.pt2")
    exported = load_model(tmp_path / "model.pt2")
    model.eval()
    for batch in (1, 7, 33):  # the export example had 4
        images = torch.rand(batch, 1, 28, 28)
        torch.testing.assert_close(exported(images), model(images), rtol=1e-5, atol=1e-5)
