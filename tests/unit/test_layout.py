"""The one-way import rule: benchmatrix/ never imports prefect, flows/ or tasks/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("prefect", "flows", "tasks")


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    "path", sorted((ROOT / "benchmatrix").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_core_library_never_imports_the_orchestrator(path: Path) -> None:
    bad = _imported_roots(path) & set(FORBIDDEN)
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: keep benchmatrix/ free of Prefect"


def test_tasks_do_not_import_flows() -> None:
    for path in (ROOT / "tasks").rglob("*.py"):
        assert "flows" not in _imported_roots(path), f"{path} imports flows/: tasks sit below flows"
