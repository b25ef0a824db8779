"""A run's checkpoint: what ``--resume`` continues from, checked whole before the first step.

A checkpoint is a file anyone can hand us (torch.load with weights_only=True reads only
tensors and plain data). Before training goes on, every part of it is held against the objects
the run would use: the model's tensors must fit and be finite, the optimiser's state must have
the form of this optimiser's, with a momentum buffer of each parameter's shape, and the
schedule's state the form of this schedule's. A mismatch is one line naming what is wrong,
never a traceback from inside SGD or the scheduler, and never a run that trains to NaN.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from mnist.config import MnistError, TrainConfig
from mnist.data import num_batches
from sheetgen.runs.training import METRIC_COLUMNS

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1


def read_checkpoint(run_dir: Path, device: torch.device | str = "cpu") -> dict:
    """The checkpoint of run_dir, or a MnistError saying why it cannot be used."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        raise MnistError(f"cannot resume: no {CHECKPOINT} in {run_dir}; run without --resume to start it")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # noqa: BLE001 - pickle, zip and torch errors all mean the file is unusable
        raise MnistError(
            f"cannot resume: {path} is unreadable ({type(error).__name__}); start a new run"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise MnistError(f"cannot resume: {path} is not a checkpoint of this version; start a new run")
    for key, kind in (
        ("config", dict),
        ("model", dict),
        ("optimizer", dict),
        ("scheduler", dict),
        ("metrics", list),
    ):
        if not isinstance(state.get(key), kind):
            raise MnistError(
                f"cannot resume: {path} is malformed (its {key} is missing or not a "
                f"{kind.__name__}); start a new run"
            )
    try:
        TrainConfig.from_dict(state["config"])
    except (MnistError, TypeError, ValueError) as error:
        raise MnistError(
            f"cannot resume: {path} holds malformed settings ({error}); start a new run"
        ) from None
    return state


class _Misfit(ValueError):
    """A part of the checkpoint that does not fit the run; the message says which."""


def restore(
    checkpoint: dict, path: Path, config: TrainConfig, model, optimizer, scheduler, train_count: int
) -> list[dict]:
    """Load a checkpoint into the run's objects; the epochs it finished, checked against them.

    Raises:
        MnistError: tensors of the wrong shape or not finite, optimiser or schedule states of
            another form, metrics that are not one row per finished epoch.
    """
    try:
        _check_model(checkpoint["model"])
        _check_optimizer(checkpoint["optimizer"], optimizer)
        _check_form(scheduler.state_dict(), checkpoint["scheduler"], "the schedule")
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        rows = list(checkpoint["metrics"])
        for epoch, row in enumerate(rows, start=1):
            if not (
                isinstance(row, dict)
                and row.get("epoch") == epoch
                and all(isinstance(row.get(c), (int, float)) for c in METRIC_COLUMNS)
            ):
                raise _Misfit(f"metrics row {epoch} is not epoch {epoch}'s metrics")
            if not all(_is_finite_number(row[c]) for c in METRIC_COLUMNS):
                raise _Misfit(f"metrics row {epoch} holds NaN or infinite values")
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise MnistError(
            f"cannot resume: {path} does not fit the model ({reason}); start a new run"
        ) from None
    steps = num_batches(train_count, config.batch_size)
    if (
        len(rows) > config.epochs
        or scheduler.last_epoch != len(rows) * steps
        or getattr(scheduler, "total_steps", None) != config.epochs * steps
    ):
        raise MnistError(
            f"cannot resume: {path} is malformed (its schedule is at step "
            f"{scheduler.last_epoch} after {len(rows)} epochs of {steps} steps); "
            "start a new run"
        )
    return rows


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_finite(tensor: torch.Tensor, where: str) -> None:
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        raise _Misfit(f"{where} holds NaN or infinite values")


def _check_model(state: dict) -> None:
    """Every tensor finite (load_state_dict checks names and shapes itself)."""
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise _Misfit(f"model {name} is not a tensor")
        _check_finite(tensor, f"model {name}")


def _check_optimizer(state: dict, optimizer: torch.optim.Optimizer) -> None:
    """The optimiser's parameter groups in this optimiser's form, and per parameter a momentum
    buffer of its shape and type, finite (SGD adds it to the gradient at the next step)."""
    fresh = optimizer.state_dict()
    if set(state) != set(fresh):
        raise _Misfit(f"the optimiser state has parts {sorted(map(str, state))}, not {sorted(fresh)}")
    _check_form(fresh["param_groups"], state["param_groups"], "the optimiser's parameter groups")
    if [group["params"] for group in state["param_groups"]] != [g["params"] for g in fresh["param_groups"]]:
        raise _Misfit("the optimiser's parameter groups list other parameters than the model's")
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    per_parameter = state["state"]
    if not isinstance(per_parameter, dict):
        raise _Misfit("the optimiser's per-parameter state is not a table")
    for index, entry in per_parameter.items():
        where = f"the optimiser's state of parameter {str(index)[:20]}"
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(parameters):
            raise _Misfit(f"{where}: there are {len(parameters)} parameters")
        if not isinstance(entry, dict) or set(entry) != {"momentum_buffer"}:
            raise _Misfit(f"{where} is not a momentum buffer")
        buffer, parameter = entry["momentum_buffer"], parameters[index]
        if buffer is None:
            continue
        if not isinstance(buffer, torch.Tensor) or buffer.shape != parameter.shape:
            shape = tuple(buffer.shape) if isinstance(buffer, torch.Tensor) else type(buffer).__name__
            raise _Misfit(f"{where} has a momentum buffer of shape {shape}, not {tuple(parameter.shape)}")
        if buffer.dtype != parameter.dtype:
            raise _Misfit(f"{where} has a momentum buffer of {buffer.dtype}, not {parameter.dtype}")
        _check_finite(buffer, where)


def _check_form(reference: Any, value: Any, where: str) -> None:
    """`value` has the form of `reference`, a state of the same kind made for this run: the
    same keys and lengths, text equal, numbers finite numbers, tensors of the same shape."""
    if isinstance(reference, dict):
        if not isinstance(value, dict) or set(value) != set(reference):
            raise _Misfit(f"{where} is not a table of {', '.join(sorted(map(str, reference)))}")
        for key in reference:
            _check_form(reference[key], value[key], f"{where} {key}")
    elif isinstance(reference, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(reference):
            raise _Misfit(f"{where} is not a list of {len(reference)}")
        for index, (expected, got) in enumerate(zip(reference, value)):
            _check_form(expected, got, f"{where}[{index}]")
    elif isinstance(reference, torch.Tensor):
        if not isinstance(value, torch.Tensor) or value.shape != reference.shape:
            raise _Misfit(f"{where} is not a tensor of shape {tuple(reference.shape)}")
        _check_finite(value, where)
    elif isinstance(reference, bool) or reference is None or isinstance(reference, str):
        if type(value) is not type(reference) or (isinstance(reference, str) and value != reference):
            raise _Misfit(f"{where} is {str(value)[:40]!r}, not {reference!r}")
    elif isinstance(reference, int):  # a step count, a parameter's index
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Misfit(f"{where} is {str(value)[:40]!r}, not a whole number")
    elif isinstance(reference, float):
        if not _is_finite_number(value):
            raise _Misfit(f"{where} is {str(value)[:40]!r}, not a finite number")
    else:  # a kind of value a state of this torch version does not hold
        raise _Misfit(f"{where} holds a {type(reference).__name__}")
