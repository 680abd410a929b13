"""tests/ is a map of the code: every module with code has its test module, which imports it.

`components/x.py` is tested by `tests/components/test_x.py`, `render/engine/x.py` by
`tests/render/engine/test_x.py`; a package's `__init__.py` by `test_init.py` and its
`__main__.py` by `test_main.py` (a private module `_x.py` by `test_x.py`). Modules without code (a docstring, imports, `__all__`) need none.
"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import ROOT

PACKAGES = ("components", "policies", "render", "verify")


def _has_code(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        return True
    return False


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _test_module(path: Path) -> Path:
    relative = path.relative_to(ROOT)
    stem = {"__init__": "init", "__main__": "main"}.get(path.stem, path.stem.lstrip("_"))
    return ROOT / "tests" / relative.parent / f"test_{stem}.py"


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def test_every_module_with_code_has_its_test_module_and_that_names_it():
    missing, not_named = [], []
    for path in _modules():
        tree = ast.parse(path.read_text())
        if not _has_code(tree):
            continue
        test = _test_module(path)
        if not test.is_file():
            missing.append(f"{path.relative_to(ROOT)} -> {test.relative_to(ROOT)}")
            continue
        module = _module_name(path)
        doc = ast.get_docstring(ast.parse(test.read_text())) or ""
        if not doc.startswith(f"{module}:"):
            not_named.append(f"{test.relative_to(ROOT)}: its docstring does not start with '{module}:'")
    assert not missing, "modules without their test module:\n" + "\n".join(missing)
    assert not not_named, "\n".join(not_named)


def test_every_test_module_under_a_package_mirrors_a_module_or_says_what_it_covers():
    """Mirrored test modules name a module; others in the package folders are about one of its aspects
    and say so in their docstring's first line (`components.config: ...`)."""
    strays = []
    for test in sorted((ROOT / "tests").rglob("test_*.py")):
        relative = test.relative_to(ROOT / "tests")
        if len(relative.parts) == 1:
            continue  # project-wide
        stem = test.stem.removeprefix("test_")
        source = ROOT.joinpath(*relative.parts[:-1], {"init": "__init__", "main": "__main__"}.get(stem, stem) + ".py")
        if source.is_file() or source.with_name(f"_{source.name}").is_file():
            continue
        doc = ast.get_docstring(ast.parse(test.read_text())) or ""
        package = ".".join(relative.parts[:-1])
        if not doc.startswith(package + "."):
            strays.append(f"tests/{relative}: no {source.relative_to(ROOT)}, and its docstring does not start with a {package}.<module> it covers")
    assert not strays, "\n".join(strays)
