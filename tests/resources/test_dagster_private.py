"""Private Dagster APIs are imported in one module only, `resources/dagster_private.py`."""

import ast
from pathlib import Path

import resources.dagster_private as private

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rt_assets", "lake_assets", "resources")
OWNER = ROOT / "resources" / "dagster_private.py"


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dagster._"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module}")
        elif isinstance(node, ast.Import):
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name}"
                for alias in node.names
                if alias.name.startswith("dagster._")
            ]
    return found


def test_no_other_module_imports_private_dagster():
    modules = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py") if p != OWNER]
    assert len(modules) > 40
    offenders = [hit for path in modules for hit in _private_imports(path)]
    assert offenders == []


def test_the_owner_names_what_it_imports():
    imported = {
        alias.asname or alias.name
        for node in ast.walk(ast.parse(OWNER.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module.startswith("dagster._")
        for alias in node.names
    }
    assert imported == set(private.__all__)
    # each private import (or run of them) follows a comment naming the public API it replaces
    lines = OWNER.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.startswith("from dagster._"):
            above = number - 1
            while lines[above].startswith("from dagster._"):
                above -= 1
            comment = []
            while lines[above].startswith("#"):
                comment.append(lines[above])
                above -= 1
            assert any("Public" in text for text in comment), line
