"""The package's shape: which part may import which (sheetgen/*/__init__.py says why), and the
edges cut on purpose: layout.py alone maps quantities to cells, formulas.py alone
writes spreadsheet syntax, and a module that reached across for a constant does not again.

workbook makes a workbook from a spec and must stay light: it never imports analyse, runs, mnist
or torch, not even inside a function. runs reads what a training run wrote and never imports
analyse, mnist or torch. analyse never imports torch either: check recomputes hand-made tables
with the build's NumPy engine. Importing any module of sheetgen loads no torch.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sheetgen"

# part -> the top-level names its modules may never import (anywhere in the module)
FORBIDDEN = {
    "workbook": ("sheetgen.analyse", "sheetgen.runs", "sheetgen.cli", "mnist", "torch", "torchvision"),
    "runs": ("sheetgen.analyse", "sheetgen.cli", "mnist", "torch", "torchvision"),
    "analyse": ("sheetgen.cli", "mnist", "torch", "torchvision"),
}


def _imported_names(source: str, package: str) -> list[tuple[int, str]]:
    """Every module an import statement in the source names, with its line (relative imports
    are resolved against `package`, the module's package)."""
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from a import b` names a, and a.b (b may be a module: `from sheetgen import runs`)
            names.append((node.lineno, base))
            names += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return names


def _modules(part: str) -> list[Path]:
    return sorted((PACKAGE / part).rglob("*.py"))


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_imports_follow_the_intended_direction(part):
    wrong = []
    for path in _modules(part):
        package = ".".join(path.relative_to(ROOT).parts[:-1])
        for line, name in _imported_names(path.read_text(), package):
            if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[part]):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "source, named",
    [
        ("def f():\n    from sheetgen.analyse import verify\n", "sheetgen.analyse"),
        ("def f():\n    import torch.nn\n", "torch.nn"),
        ("from sheetgen import runs\n", "sheetgen.runs"),
        ("from ..runs import export\n", "sheetgen.runs"),
    ],
)
def test_the_scan_finds_imports_anywhere(source, named):
    """The scan itself, on a module of sheetgen.workbook: imports inside functions, of a package
    by name, and relative ones are all seen."""
    assert named in {name for _, name in _imported_names(source, "sheetgen.workbook")}


def _every_module() -> list[str]:
    return sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
        if path.name != "__main__.py"
    )


def test_no_module_of_sheetgen_loads_torch_at_import():
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'torchvision', 'mnist'))))\n"
    )
    modules = _every_module()
    assert "sheetgen.analyse.check.judge" in modules and "sheetgen.workbook.writer" in modules
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(modules)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_importing_workbook_loads_neither_analyse_nor_runs():
    code = (
        "import importlib, json, sys\n"
        "for name in json.loads(sys.argv[1]):\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('sheetgen.analyse', "
        "'sheetgen.runs')))))\n"
    )
    build = [m for m in _every_module() if m.startswith("sheetgen.workbook")]
    assert len(build) >= 10
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(build)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    "module, forbidden, why",
    [
        (
            "sheetgen/workbook/spec.py",
            "sheetgen.workbook.layout",
            "layout reads the spec; the spec owns the iteration budget (MAX_ITERATIONS)",
        ),
        (
            "sheetgen/analyse/verify.py",
            "sheetgen.workbook.writer",
            "the Overview's cells and its 'not reached' text are the layout's",
        ),
    ],
)
def test_a_cut_edge_stays_cut(module, forbidden, why):
    names = {name for _, name in _imported_names((ROOT / module).read_text(), "")}
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
        elif (
            isinstance(node, ast.Constant)
            and id(node) not in parts
            and isinstance(node.value, str)
            and node.value.startswith("=")
            and node.value != "="
        ):  # "=": a test for one
            found.append(node.value)
    return found


@pytest.mark.parametrize(
    "module",
    sorted(
        str(p.relative_to(ROOT))
        for folder in ("sheetgen/workbook", "sheetgen/runs")
        for p in (ROOT / folder).glob("*.py")
        if p.name != "formulas.py"
    ),
)
def test_only_formulas_py_writes_a_formula(module):
    assert formula_literals(ROOT / module) == []


def test_the_check_finds_a_formula_written_elsewhere(tmp_path):
    source = tmp_path / "sheet.py"
    source.write_text('a = f"=SUM({cells})"\nb = "=1+1"\nc = text.startswith("=")\n')
    assert formula_literals(source) == ["f'=SUM({cells})'", "=1+1"]


def _import_graph() -> dict[str, set[str]]:
    """module -> the sheetgen modules it imports anywhere (functions included)."""
    modules = set(_every_module())
    graph = {}
    for name in modules:
        path = ROOT / (name.replace(".", "/") + ".py")
        is_package = not path.exists()
        if is_package:
            path = ROOT / name.replace(".", "/") / "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        graph[name] = {n for _, n in _imported_names(path.read_text(), package) if n in modules and n != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import circle found by a depth-first walk, as the modules along it."""
    found, state = [], {}

    def walk(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


def test_no_module_imports_one_that_imports_it_back():
    """A package's __init__ re-exporting its own modules is not a circle; two modules that each
    need the other are (verify and verify_live shared result types that now live apart)."""
    graph = _import_graph()
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}  # a module and its package
    assert _cycles(graph) == []


def test_the_circle_scan_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
