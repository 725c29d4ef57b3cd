"""The code stays in pieces a person can hold: no class over 150 lines, no function over 40, in
the tap outside its sandbox (which emulates three APIs and is allowed to be long)."""

from __future__ import annotations

import ast
from pathlib import Path

import tap_replies

LONGEST_CLASS = 150
LONGEST_FUNCTION = 40


def too_long(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "sandbox" in path.relative_to(root).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                limit = LONGEST_CLASS
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                limit = LONGEST_FUNCTION
            else:
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                where = f"{path.relative_to(root.parent)}:{node.lineno}"
                found.append(f"{where} {node.name}: {length} lines")
    return found


def test_no_class_or_function_in_the_tap_outgrows_what_a_person_holds():
    assert too_long(Path(tap_replies.__file__).parent) == []


def test_no_class_or_function_in_the_dashboard_outgrows_what_a_person_holds():
    assert too_long(Path(__file__).resolve().parent.parent / "dashboard") == []
