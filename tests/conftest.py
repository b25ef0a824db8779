"""Shared fixtures (the default workbook, built once, and LibreOffice's recalculation of it) and
the markers' rules.

Markers: `libreoffice` on every test that starts LibreOffice (itself or through a fixture it
requests), `slow` on every test that takes more than about a second; every libreoffice test is
also slow. `python -m pytest -m "not slow"` is the inner loop; CI runs everything. A test that
starts LibreOffice without the marker fails, so the marker cannot drift from the truth.
"""

import os
import shutil
import tempfile
from pathlib import Path

import openpyxl
import pytest

import sheetgen.analyse.recalc as recalc
from sheetgen.analyse.recalc import find_soffice, recalculate
from sheetgen.workbook.spec import load_spec
from sheetgen.workbook.writer import build_workbook

ROOT = Path(__file__).resolve().parents[1]

# sheetgen's user cache (the network pictures) goes to a folder of the test run's own, for
# every test and every process the tests start: never the user's, and empty at the start.
CACHE_DIR = Path(tempfile.mkdtemp(prefix="sheetgen-test-cache-"))
os.environ["SHEETGEN_CACHE_DIR"] = str(CACHE_DIR)


def pytest_unconfigure(config):
    shutil.rmtree(CACHE_DIR, ignore_errors=True)


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


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("libreoffice") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


_running: list = []  # the test being run, setup and teardown included


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item):
    _running.append(item)
    try:
        yield
    finally:
        _running.pop()


@pytest.fixture(autouse=True, scope="session")
def _libreoffice_only_where_marked():
    """Every LibreOffice run of sheetgen goes through recalc._convert; one started by a test
    without the libreoffice marker (or by a fixture such a test requested first) fails it."""
    real = recalc._convert

    def convert(*args, **kwargs):
        if _running and not _running[-1].get_closest_marker("libreoffice"):
            pytest.fail(
                f"{_running[-1].nodeid} starts LibreOffice: mark it @pytest.mark.libreoffice", pytrace=False
            )
        return real(*args, **kwargs)

    recalc._convert = convert
    yield
    recalc._convert = real
