"""Shared fixtures: the default workbook, built once, and LibreOffice's recalculation of it."""

import os
from pathlib import Path

import openpyxl
import pytest

from sheetgen.analyse.recalc import find_soffice, recalculate
from sheetgen.build.spec import load_spec
from sheetgen.build.writer import build_workbook

ROOT = Path(__file__).resolve().parents[1]


def require_libreoffice():
    """Skip without LibreOffice on a developer's machine; in CI its absence is a failure."""
    if find_soffice() is None:
        message = "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def seed_spec():
    return load_spec()


@pytest.fixture(scope="session")
def seed_workbook(tmp_path_factory, seed_spec):
    path = tmp_path_factory.mktemp("build") / "backprop.xlsx"
    build_workbook(seed_spec, path)
    return path


@pytest.fixture(scope="session")
def recalculated(seed_workbook, tmp_path_factory):
    """The default workbook after LibreOffice recomputed every formula, opened for values."""
    require_libreoffice()
    path = recalculate(seed_workbook, tmp_path_factory.mktemp("recalc"))
    return openpyxl.load_workbook(path, data_only=True)
