"""The suite can fail: rules on the tests themselves, checked by reading their source.

- No test asserts only inside a loop (or an ``all(...)``) over a collection that may be empty: such a
  test passes when the thing it checks is missing. Assert the collection first (its length, or what it
  holds), or make a helper that returns it assert that.
- No assertion inside a fake server's or transport's callback: an AssertionError there becomes a transport
  error (or a dropped connection) the code under test may swallow. Record the requests, assert after.
- No sleep stands in for a clock: wait for the condition (tests/waiting.py). A sleep that is the thing
  under test (a request made slow on purpose) says so in a comment on its line.
"""

from __future__ import annotations

import ast
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.waiting import wait_until

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

# --- loop-only assertions ------------------------------------------------------------------------------

#: Where a function's checks run: none, only in loops that may not run, or at least one surely.
NONE, LOOP, SURE = 0, 1, 2

Function = ast.FunctionDef | ast.AsyncFunctionDef
_LITERALS = (ast.List, ast.Tuple, ast.Set, ast.Dict)
_WRAPPERS = {"enumerate", "sorted", "reversed", "list", "tuple", "set", "zip", "iter"}


@dataclass
class Module:
    functions: dict[str, Function] = field(default_factory=dict)
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # local name -> (tests.x module, name)
    constants: dict[str, ast.expr] = field(default_factory=dict)


class LoopOnlyScanner:
    """Finds the tests whose every check runs only inside a loop over a collection not known non-empty.

    A check is an ``assert``, ``pytest.raises``/``pytest.fail``, an ``assert_*`` method, or a call of a
    helper (same module, or imported from ``tests.``) that checks. Known non-empty: a literal with an
    element, ``range`` of constants, a module constant or a local bound once to such a literal.
    ``assert all(... for x in xs)`` and ``assert not any(...)`` count as loops over ``xs``.
    """

    def __init__(self, root: Path = ROOT) -> None:
        self.root = root
        self._modules: dict[Path, tuple[Module, ast.Module]] = {}
        self._placement: dict[tuple[Path, str], int] = {}
        self._scopes: list[tuple[Module, dict[str, ast.expr]]] = []

    def module(self, path: Path, source: str | None = None) -> tuple[Module, ast.Module]:
        if path not in self._modules:
            tree = _parsed(path) if source is None else ast.parse(source, str(path))
            mod = Module()
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    mod.functions[node.name] = node
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests"):
                    for alias in node.names:
                        mod.imports[alias.asname or alias.name] = (node.module or "", alias.name)
                elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                    if isinstance(node.targets[0], ast.Name):
                        mod.constants[node.targets[0].id] = node.value
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
                    mod.constants[node.target.id] = node.value
            self._modules[path] = mod, tree
        return self._modules[path]

    def _imported(self, mod: Module, name: str) -> tuple[Path, Module] | None:
        if name not in mod.imports:
            return None
        base = self.root.joinpath(*mod.imports[name][0].split("."))
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.exists():
                return path, self.module(path)[0]
        return None

    def non_empty(self, node: ast.expr, mod: Module, depth: int = 0) -> bool:
        if depth > 5:
            return False
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            return any(
                not isinstance(e, ast.Starred) or self.non_empty(e.value, mod, depth + 1) for e in node.elts
            )
        if isinstance(node, ast.Dict):
            return bool(node.keys)
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str | bytes) and bool(node.value)
        if isinstance(node, ast.Name):
            local = self._scopes[-1][1].get(node.id) if self._scopes else None
            if local is not None:
                return self.non_empty(local, mod, depth + 1)
            if node.id in mod.constants:
                return self.non_empty(mod.constants[node.id], mod, depth + 1)
            found = self._imported(mod, node.id)
            if found is not None:
                value = found[1].constants.get(mod.imports[node.id][1])
                return value is not None and self.non_empty(value, found[1], depth + 1)
            return False
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id == "range":
                bounds = [
                    a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, int)
                ]
                return len(bounds) == len(node.args) > 0 and len(range(*bounds)) > 0
            if node.func.id in _WRAPPERS and node.args:
                return all(self.non_empty(a, mod, depth + 1) for a in node.args)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            return node.func.attr in {"items", "values", "keys"} and self.non_empty(
                node.func.value, mod, depth
            )
        return False

    def placement(self, fn: Function, mod: Module, path: Path) -> int:
        key = (path, fn.name)
        if key not in self._placement:
            self._placement[key] = NONE  # recursion guard
            self._scopes.append((mod, _bound_once_to_literals(fn)))
            try:
                self._placement[key] = self._block(fn.body, mod, path, in_loop=False)
            finally:
                self._scopes.pop()
        return self._placement[key]

    def _block(self, stmts: list[ast.stmt], mod: Module, path: Path, in_loop: bool) -> int:
        return max((self._stmt(s, mod, path, in_loop) for s in stmts), default=NONE)

    def _stmt(self, stmt: ast.stmt, mod: Module, path: Path, in_loop: bool) -> int:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return NONE  # a callback's checks run only if it is called
        if isinstance(stmt, ast.Assert):
            own = LOOP if in_loop or self._vacuous(stmt.test, mod) else SURE
            return max(own, self._calls(stmt.test, mod, path, in_loop))
        if isinstance(stmt, ast.For | ast.AsyncFor):
            runs = self.non_empty(stmt.iter, mod)
            return max(
                self._calls(stmt.iter, mod, path, in_loop),
                self._block(stmt.body, mod, path, in_loop or not runs),
                self._block(stmt.orelse, mod, path, in_loop),
            )
        parts: list[ast.AST] = []
        blocks: list[list[ast.stmt]] = []
        if isinstance(stmt, ast.While | ast.If):  # a while loop here polls: its body runs at least once
            parts, blocks = [stmt.test], [stmt.body, stmt.orelse]
        elif isinstance(stmt, ast.With | ast.AsyncWith):
            parts, blocks = [i.context_expr for i in stmt.items], [stmt.body]
        elif isinstance(stmt, ast.Try):
            blocks = [stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)]
        elif isinstance(stmt, ast.Match):
            parts, blocks = [stmt.subject], [case.body for case in stmt.cases]
        else:
            parts = [stmt]
        return max(
            [self._calls(p, mod, path, in_loop) for p in parts]
            + [self._block(b, mod, path, in_loop) for b in blocks],
            default=NONE,
        )

    def _vacuous(self, test: ast.expr, mod: Module) -> bool:
        negated = isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        call = test.operand if isinstance(test, ast.UnaryOp) and negated else test
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            return False
        if call.func.id != ("any" if negated else "all") or len(call.args) != 1:
            return False
        generator = call.args[0]
        if not isinstance(generator, ast.GeneratorExp | ast.ListComp | ast.SetComp):
            return False
        return not all(self.non_empty(g.iter, mod) and not g.ifs for g in generator.generators)

    def _calls(self, node: ast.AST, mod: Module, path: Path, in_loop: bool) -> int:
        result = NONE
        for sub in _walk_outside_functions(node):
            if not isinstance(sub, ast.Call):
                continue
            func = sub.func
            if isinstance(func, ast.Attribute) and (
                func.attr.startswith("assert_")
                or (
                    isinstance(func.value, ast.Name)
                    and func.value.id == "pytest"
                    and func.attr in {"raises", "fail"}
                )
            ):
                result = max(result, LOOP if in_loop else SURE)
            elif isinstance(func, ast.Name):
                target = self._helper(func.id, mod, path)
                if target is not None:
                    inner = self.placement(*target)
                    result = max(result, LOOP if inner == SURE and in_loop else inner)
        return result

    def _helper(self, name: str, mod: Module, path: Path) -> tuple[Function, Module, Path] | None:
        if name in mod.functions:
            return mod.functions[name], mod, path
        found = self._imported(mod, name)
        if found is not None and mod.imports[name][1] in found[1].functions:
            return found[1].functions[mod.imports[name][1]], found[1], found[0]
        return None

    def loop_only(self, path: Path, source: str | None = None) -> list[str]:
        mod, tree = self.module(path, source)
        return [name for name, fn in _test_functions(tree) if self.placement(fn, mod, path) == LOOP]


@functools.cache
def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _bound_once_to_literals(fn: Function) -> dict[str, ast.expr]:
    """Names the function binds exactly once, to a literal collection."""
    bound: dict[str, list[ast.expr | None]] = {}
    for node in ast.walk(fn):
        targets: list[tuple[ast.expr, ast.expr | None]] = []
        if isinstance(node, ast.Assign):
            targets = [(t, node.value) for t in node.targets]
        elif isinstance(node, ast.AnnAssign):
            targets = [(node.target, node.value)]
        elif isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.comprehension | ast.NamedExpr):
            targets = [(node.target, None)]
        for target, value in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    bound.setdefault(name.id, []).append(value if name is target else None)
    return {
        name: values[0]
        for name, values in bound.items()
        if len(values) == 1 and isinstance(values[0], _LITERALS)
    }


def _walk_outside_functions(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk_outside_functions(child)


def _test_functions(tree: ast.Module) -> Iterator[tuple[str, Function]]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            yield node.name, node
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for sub in node.body:
                if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef) and sub.name.startswith("test"):
                    yield f"{node.name}::{sub.name}", sub


def _test_files() -> list[Path]:
    files = sorted(TESTS.rglob("test_*.py"))
    assert len(files) > 50, files  # the scan below must read the suite, not an empty folder
    return files


def test_no_test_asserts_only_inside_a_loop_that_may_not_run() -> None:
    scanner = LoopOnlyScanner()
    found = [f"{p.relative_to(ROOT)}::{name}" for p in _test_files() for name in scanner.loop_only(p)]
    assert found == [], "assert the collection is not empty (or what it holds) before looping over it"


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("def test_x(plan):\n    for r in plan.resources:\n        assert r.ok\n", True),
        ("def test_x(xs):\n    assert all(x.ok for x in xs)\n", True),
        ("def test_x(xs):\n    assert not any(x.bad for x in xs)\n", True),
        ("def mine(p):\n    return p.rs\n\ndef test_x(p):\n    for r in mine(p):\n        assert r\n", True),
        ("def check(p):\n    for r in p:\n        assert r\n\ndef test_x(p):\n    check(p)\n", True),
        ("def test_x(xs):\n    for x in xs:\n        if x:\n            assert x.ok\n", True),
        ("def test_x(xs):\n    assert xs\n    for x in xs:\n        assert x.ok\n", False),
        ("def test_x(xs):\n    assert len(xs) == 2\n    assert all(x.ok for x in xs)\n", False),
        ("def test_x():\n    for x in (1, 2):\n        assert x\n", False),
        ("def test_x():\n    for x in range(3):\n        assert x >= 0\n", False),
        ("CASES = [1, 2]\n\ndef test_x():\n    for c in CASES:\n        assert c\n", False),
        ("def test_x():\n    cases = {'a': 1}\n    for k, v in cases.items():\n        assert v\n", False),
        ("def mine(p):\n    found = p.rs\n    assert found\n    return found\n\ndef test_x(p):\n"
         "    for r in mine(p):\n        assert r\n", False),
        ("def test_x(xs):\n    for x in xs:\n        assert x\n    with pytest.raises(ValueError):\n"
         "        f()\n", False),
        ("def test_x(xs):\n    for x in xs:\n        f(x)\n", False),  # no check at all: not this rule's
    ],
)  # fmt: skip
def test_the_loop_scanner_finds_what_it_should(source: str, flagged: bool, tmp_path: Path) -> None:
    path = tmp_path / "test_sample.py"
    assert LoopOnlyScanner(tmp_path).loop_only(path, source) == (["test_x"] if flagged else [])


# --- assertions inside callbacks -----------------------------------------------------------------------

_CALLBACK_TAKERS = {"MockTransport", "start_server", "serve"}


def _callback_asserts(tree: ast.Module) -> list[int]:
    """Lines of ``assert`` inside a fake's callback: a function handed to MockTransport/start_server, or a
    method of a BaseHTTPRequestHandler subclass."""
    local_functions: dict[str, list[Function]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local_functions.setdefault(node.name, []).append(node)
    callbacks: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            taker = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if taker in _CALLBACK_TAKERS:
                handed = node.args[0]
                if isinstance(handed, ast.Name):
                    callbacks.extend(local_functions.get(handed.id, []))
                elif isinstance(handed, ast.Attribute):  # fake.handle: any method of that name
                    callbacks.extend(local_functions.get(handed.attr, []))
                elif isinstance(handed, ast.Lambda):
                    callbacks.append(handed)
        elif isinstance(node, ast.ClassDef) and any(
            getattr(base, "id", getattr(base, "attr", "")) == "BaseHTTPRequestHandler" for base in node.bases
        ):
            callbacks.extend(node.body)
    return sorted({n.lineno for cb in callbacks for n in ast.walk(cb) if isinstance(n, ast.Assert)})


def test_no_assertion_inside_a_fake_servers_callback() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        lines = _callback_asserts(_parsed(path))
        found += [f"{path.relative_to(ROOT)}:{line}" for line in lines]
    assert found == [], "record the requests in the fake, assert after the call"


def test_the_callback_scanner_finds_an_assert_in_a_transport_handler() -> None:
    source = (
        "def test_x():\n    def handler(request):\n        assert request.url.path == '/v1'\n"
        "        return httpx.Response(200)\n"
        "    client = httpx.Client(transport=httpx.MockTransport(handler))\n"
        "class Handler(BaseHTTPRequestHandler):\n    def do_GET(self):\n        assert self.path\n"
    )
    assert _callback_asserts(ast.parse(source)) == [3, 8]


# --- sleeps --------------------------------------------------------------------------------------------


def _unexplained_sleeps(source: str) -> list[int]:
    """Lines calling ``sleep`` with a non-zero argument and no comment saying why."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name != "sleep":
            continue
        zero = len(node.args) == 1 and isinstance(node.args[0], ast.Constant) and node.args[0].value == 0
        if not zero and "#" not in lines[node.lineno - 1]:
            found.append(node.lineno)
    return found


def test_no_sleep_stands_in_for_a_clock() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path != TESTS / "waiting.py":
            found += [f"{path.relative_to(ROOT)}:{n}" for n in _unexplained_sleeps(path.read_text())]
    assert found == [], (
        "wait for the condition (tests/waiting.py), or say in a comment why the sleep is the test"
    )


def test_the_sleep_scanner_wants_a_reason() -> None:
    source = (
        "time.sleep(1)\nawait asyncio.sleep(0)\ntime.sleep(0.02)  # on purpose: a slow client\nsleep(d)\n"
    )
    assert _unexplained_sleeps(source) == [1, 4]


# --- tests/waiting.py ----------------------------------------------------------------------------------


def test_wait_until_returns_the_first_truthy_answer() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0) == "ready"


def test_wait_until_fails_naming_what_it_waited_for() -> None:
    start = time.monotonic()
    with pytest.raises(pytest.fail.Exception, match=r"not true within 0.05 s: the queue drained"):
        wait_until(lambda: False, timeout=0.05, interval=0.01, what=lambda: "the queue drained")
    assert time.monotonic() - start < 5
