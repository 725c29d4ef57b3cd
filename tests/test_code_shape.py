"""The code stays in pieces a person can hold: no class over 150 lines, no function over 40, in
the tap outside its sandbox (which emulates three APIs and is allowed to be long); no stream more
than three of the tap's classes deep (the tests' fourth provider's too)."""

from __future__ import annotations

import ast
from pathlib import Path

import tap_replies
from tests.contract.instantly import REGISTRY

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


MOST_TAP_CLASSES_IN_A_STREAM = 3  # the base, at most one replication strategy, the leaf


def test_every_stream_is_the_base_at_most_one_strategy_and_its_leaf():
    streams = [stream for provider in REGISTRY.values() for stream in provider.streams]
    deep = {stream.__name__: [c.__name__ for c in stream.__mro__
                              if c.__module__.split(".")[0] in ("tap_replies", "tests")]
            for stream in streams}
    assert {name: mro for name, mro in deep.items()
            if len(mro) > MOST_TAP_CLASSES_IN_A_STREAM} == {}
    assert all(mro[-1] == "ProviderStream" for mro in deep.values())
