"""A class checked on several processes gives what one process gives: the same findings for
each file, in the order given, the same annotated copies, a file that cannot be checked
reported in its place; and the command line takes --jobs."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sheetgen.analyse.classroom import _shares, check_class
from sheetgen.cli import main
from tests.excel_saved import picture, write_excel_saved
from tests.handmade import layout_block

PLANTS = [
    {},
    {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 3)},
    {"w5": ("{w5@p}+{eta}*{g5@p}", 1)},
    {"E1": ("({t1}-{ao1})^2", 0)},
    {},
    {"dh2": ("{dah2}*{ah1}*(1-{ah1})", 0)},
]


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("class")
    png = picture(folder / "p.png")
    paths = [
        write_excel_saved(folder / f"s{n}.xlsx", "block", layout_block(plants), png)
        for n, plants in enumerate(PLANTS)
    ]
    broken = folder / "s9-broken.xlsx"
    broken.write_bytes(b"not a zip file")
    return [*paths[:3], broken, *paths[3:]]


def _findings(result) -> list[dict]:
    found = []
    for outcome in result.outcomes:
        data = outcome.to_dict()
        data.pop("seconds", None)
        if "error" in data:  # each run converts in a scratch folder of its own
            data["error"] = re.sub(r"/\S*sheetgen-check-\w+/in/\d+-", "SCRATCH/", data["error"])
        found.append(data)
    return found


@pytest.mark.parametrize(
    "count, jobs, sizes",
    [
        (0, 2, []),
        (1, 2, [1]),
        (7, 2, [1] * 7),  # 4 shares per process where the files allow
        (300, 2, [38] * 7 + [34]),
        (1000, 2, [40] * 25),  # never more than one LibreOffice batch per share
        (5, 1, [2, 2, 1]),
    ],
)
def test_shares_cover_every_file_once_in_order(count, jobs, sizes):
    shares = _shares(count, jobs)
    assert [len(s) for s in shares] == sizes
    assert [i for s in shares for i in s] == list(range(count))


@pytest.mark.slow
@pytest.mark.libreoffice  # the file that is no workbook is tried with LibreOffice too
def test_several_processes_give_what_one_gives(submissions, tmp_path):
    copies_one = {p: tmp_path / "one" / f"{p.stem}.checked.xlsx" for p in submissions}
    copies_two = {p: tmp_path / "two" / f"{p.stem}.checked.xlsx" for p in submissions}
    seen: list[Path] = []
    one = check_class(submissions, copies_one, jobs=1)
    two = check_class(submissions, copies_two, jobs=2, progress=seen.append)

    assert [o.path for o in two.outcomes] == submissions
    assert _findings(two) == _findings(one)
    assert sorted(seen) == sorted(submissions)
    assert [o.status for o in two.outcomes] == ["right", "wrong", "wrong", "error", "wrong", "right", "wrong"]
    assert list(two.copies) == [p for p in submissions if "broken" not in p.name]
    for path, copy in two.copies.items():
        assert copy == copies_two[path] and copy.is_file()
        assert copy.read_bytes() == copies_one[path].read_bytes()
    assert two.failed == one.failed == {}


@pytest.mark.slow
@pytest.mark.libreoffice
def test_check_takes_jobs_and_refuses_nonsense(submissions, tmp_path):
    folder = submissions[0].parent
    result = CliRunner().invoke(main, ["check", str(folder), "--jobs", "2", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [Path(d["file"]).name for d in data] == sorted(p.name for p in submissions)

    result = CliRunner().invoke(main, ["check", str(folder), "--jobs", "0"])
    assert result.exit_code == 2 and "--jobs" in result.output and "Traceback" not in result.output
