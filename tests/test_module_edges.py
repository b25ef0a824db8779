"""Edges cut on purpose (issue 14): layout.py alone maps quantities to cells, formulas.py alone
writes spreadsheet syntax, and a module that reached across for a constant does not again."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function, with `from a import b`
    counted as both a and a.b (b may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module, forbidden, why", [
    ("sheetgen/build/spec.py", "sheetgen.build.layout",
     "layout reads the spec; the spec owns the iteration budget (MAX_ITERATIONS)"),
    ("sheetgen/analyse/verify.py", "sheetgen.build.writer",
     "the Overview's cells and its 'not reached' text are the layout's"),
])
def test_a_cut_edge_stays_cut(module, forbidden, why):
    names = imported(ROOT / module)
    assert not {n for n in names if n == forbidden or n.startswith(forbidden + ".")}, why


def formula_literals(path: Path) -> list[str]:
    """String literals and f-strings that begin a formula ("=SUM(...", f"={cell}")."""
    found = []
    nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
    parts = {id(part) for node in nodes if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in nodes:
        if isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and str(head.value).startswith("="):
                found.append(ast.unparse(node))
        elif (isinstance(node, ast.Constant) and id(node) not in parts
              and isinstance(node.value, str)
              and node.value.startswith("=") and node.value != "="):  # "=": a test for one
            found.append(node.value)
    return found


@pytest.mark.parametrize("module", sorted(
    str(p.relative_to(ROOT)) for folder in ("sheetgen/build", "sheetgen/runs")
    for p in (ROOT / folder).glob("*.py") if p.name != "formulas.py"))
def test_only_formulas_py_writes_a_formula(module):
    assert formula_literals(ROOT / module) == []


def test_the_check_finds_a_formula_written_elsewhere(tmp_path):
    source = tmp_path / "sheet.py"
    source.write_text('a = f"=SUM({cells})"\nb = "=1+1"\nc = text.startswith("=")\n')
    assert formula_literals(source) == ["f'=SUM({cells})'", "=1+1"]
