"""The planner stays pure: no clock, file, socket, environment or randomness imports."""

from __future__ import annotations

import ast
from pathlib import Path

import benchmatrix.planner as planner

FORBIDDEN = {"time", "datetime", "socket", "os", "pathlib", "random", "httpx", "subprocess", "prefect", "yaml"}


def test_planner_imports_nothing_impure() -> None:
    tree = ast.parse(Path(planner.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "open", "the planner must not open files"
    assert not imported & FORBIDDEN, imported & FORBIDDEN
