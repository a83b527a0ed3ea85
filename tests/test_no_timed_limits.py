"""The suite never depends on the machine's speed (issue #14, item 20): every time limit in a test is a hang guard
(``tests.conftest.HANG_GUARD_S``), never a number a loaded machine could exceed; speed is the benchmark's."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LIMITS = {"timeout", "deadline", "stall", "timeout_seconds"}  # the names a time limit goes by in the suite
ALLOWED = {"HANG_GUARD_S", "HANG_GUARD_MS", "GRACE_S"}  # the hang guards, and a clean-up grace that never fails
CLOCKS = {"monotonic", "perf_counter", "time", "process_time", "thread_time"}  # time.X()
CLOCKS |= {f"{c}_ns" for c in CLOCKS}
CPU_CLOCKS = {"cpu_times", "getrusage"}  # psutil.Process().cpu_times(), resource.getrusage(): clocks by any name


def _limit_problem(value: ast.expr | None) -> str | None:
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return None
    if isinstance(value, ast.Name) and value.id in ALLOWED:
        return None
    return ast.unparse(value)


def _is_clock(call: ast.AST) -> bool:
    """``time.monotonic()`` and its kin, ``perf_counter()`` imported bare, ``...cpu_times()``, ``getrusage(...)``."""
    if not isinstance(call, ast.Call):
        return False
    f = call.func
    if isinstance(f, ast.Attribute):
        return f.attr in CPU_CLOCKS or (f.attr in CLOCKS and isinstance(f.value, ast.Name) and f.value.id == "time")
    return isinstance(f, ast.Name) and f.id in (CLOCKS - {"time"}) | CPU_CLOCKS


def _clocked(node: ast.AST, names: set[str] = frozenset()) -> bool:
    """Whether ``node`` reads a clock, directly or through a name assigned from one (``elapsed``)."""
    return any(_is_clock(n) or (isinstance(n, ast.Name) and n.id in names) for n in ast.walk(node))


def _clock_names(tree: ast.AST) -> set[str]:
    """Names assigned from a clock, or from other such names (``t0 = time.monotonic()``, ``elapsed = now - t0``)."""
    names: set[str] = set()
    while True:
        found = {t.id for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign))
                 and n.value is not None and _clocked(n.value, names)
                 for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        if found <= names:
            return names
        names |= found


def time_limits(source: str, name: str = "<test>") -> list[str]:
    """Every time limit in a test module's source that is not a hang guard: a ``timeout=``-like argument or default
    other than ``HANG_GUARD_S`` (or None), and an assertion comparing a clock reading with a number."""
    tree = ast.parse(source, name)
    clock_names = _clock_names(tree)
    problems = []
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.Call):
            found += [(k.arg, k.value) for k in node.keywords if k.arg in LIMITS]
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args[len(node.args.args) - len(node.args.defaults):] + node.args.kwonlyargs
            found += [(a.arg, d) for a, d in zip(args, node.args.defaults + node.args.kw_defaults)
                      if a.arg in LIMITS]
        elif isinstance(node, ast.Assert) and _clocked(node.test, clock_names):  # an assertion on elapsed time
            if any(isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) and not isinstance(
                    n.value, bool) for n in ast.walk(node.test)):
                found.append(("assert", node.test))
        for key, value in found:
            if (bad := _limit_problem(value)) is not None:
                problems.append(f"{name}:{node.lineno}: {key} = {bad}")
    return problems


def test_every_time_limit_in_the_tests_is_a_hang_guard():
    problems = [p for path in sorted(TESTS.glob("*.py")) for p in time_limits(path.read_text(), path.name)]
    assert problems == [], "time limits that are not hang guards (use tests.conftest.HANG_GUARD_S):\n" + \
        "\n".join(problems)


def test_the_check_finds_the_timed_assertions_issue_14_found():
    """Issue #14, item 20: a CPU time under 1.0 s and a 60 s browser limit failed on a busy 2-core machine. The check
    sees such a limit however it is written (a clock read into a name first, a CPU clock, a bare import), and lets
    hang guards and measurements that are only reported pass."""
    timed = ["import psutil\ndef test_x():\n    cpu = psutil.Process().cpu_times().user\n    assert cpu < 1.0\n",
             "import time\ndef test_x():\n    t0 = time.perf_counter()\n    f()\n    elapsed = time.perf_counter() - t0"
             "\n    assert elapsed < 60\n",
             "from time import monotonic\ndef test_x():\n    assert monotonic() - T0 < 5\n",
             "import resource\ndef test_x():\n    assert resource.getrusage(0).ru_utime <= 2\n",
             "def test_x(page):\n    page.wait_for_selector('x', timeout=60_000)\n",
             "def test_x(proc):\n    proc.wait(timeout=60)\n"]
    for source in timed:
        assert time_limits(source), source
    fine = ["import time\ndef test_x(proc):\n    hung = time.monotonic() + HANG_GUARD_S\n"
            "    assert time.monotonic() < hung, 'hang guard'\n    proc.wait(timeout=HANG_GUARD_S)\n",
            "import time\ndef test_x():\n    t0 = time.monotonic()\n    seconds = time.monotonic() - t0\n"
            "    print(seconds)\n    assert 1 + 1 == 2\n"]
    for source in fine:
        assert time_limits(source) == [], source
