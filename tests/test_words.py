"""The project's text speaks to its users: README, docs, code, benchmarks and tests say what
was measured and why, not where a request came from, and name no path a user's clone lacks."""

import re

from conftest import ROOT

# written in pieces so that this file does not match itself
INTERNAL = re.compile(
    "|".join(
        (
            "iss" + r"ue [0-9]",  # our tracker's numbers: users cannot read them
            "sand" + "box",
            "session" + r"s? (were|was)",
            r"\.\./" + "shared",  # a folder of the development machine
        )
    ),
    re.IGNORECASE,
)
FOLDERS = ("docs", "sheetgen", "mnist", "benchmarks", "tests", "examples", "templates")
SUFFIXES = {".py", ".md", ".toml", ".txt"}


def project_text():
    yield ROOT / "README.md"
    for folder in FOLDERS:
        yield from (p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in SUFFIXES)


def test_no_internal_words_in_the_projects_text():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in project_text()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if INTERNAL.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_pattern_finds_what_it_is_for():
    for text in ("as Iss" + "ue 12 measured", "the project's sand" + "box", "../" + "shared/wild"):
        assert INTERNAL.search(text), text
