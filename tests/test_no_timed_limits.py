"""The suite never depends on the machine's speed (issue #14, item 20): every time limit in a test is a hang guard
(``tests.conftest.HANG_GUARD_S``), never a number a loaded machine could exceed; speed is the benchmark's."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LIMITS = {"timeout", "deadline", "stall", "timeout_seconds"}  # the names a time limit goes by in the suite
ALLOWED = {"HANG_GUARD_S", "HANG_GUARD_MS", "GRACE_S"}  # the hang guards, and a clean-up grace that never fails
CLOCKS = {"monotonic", "perf_counter", "time", "process_time", "thread_time"}


def _limit_problem(value: ast.expr | None) -> str | None:
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return None
    if isinstance(value, ast.Name) and value.id in ALLOWED:
        return None
    return ast.unparse(value)


def _clocked(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in CLOCKS
               and isinstance(n.func.value, ast.Name) and n.func.value.id == "time" for n in ast.walk(node))


def test_every_time_limit_in_the_tests_is_a_hang_guard():
    problems = []
    for path in sorted(TESTS.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            found = []
            if isinstance(node, ast.Call):
                found += [(k.arg, k.value) for k in node.keywords if k.arg in LIMITS]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.args[len(node.args.args) - len(node.args.defaults):] + node.args.kwonlyargs
                found += [(a.arg, d) for a, d in zip(args, node.args.defaults + node.args.kw_defaults)
                          if a.arg in LIMITS]
            elif isinstance(node, ast.Assert) and _clocked(node.test):  # an assertion on elapsed time
                if any(isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(
                        n.value, bool) for n in ast.walk(node.test)):
                    found.append(("assert", node.test))
            for name, value in found:
                if (bad := _limit_problem(value)) is not None:
                    problems.append(f"{path.name}:{node.lineno}: {name} = {bad}")
    assert problems == [], "time limits that are not hang guards (use tests.conftest.HANG_GUARD_S):\n" + \
        "\n".join(problems)
