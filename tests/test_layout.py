"""The layout of the tests: helpers that more than one module uses live in tests/support, so no
test module imports another test module or a conftest, and bench/ takes nothing of the tests
but tests/support.

A test module is any module under tests/ outside tests/support: the test_*.py files, the
conftest.py files (pytest finds their fixtures; nothing imports them), and the modules a suite
keeps beside its tests. Every import counts, at any depth (one deferred into a function too),
relative ones resolved; so do `importlib.import_module("...")`, `__import__("...")` and
`pytest_plugins` naming a module by a literal string. Files are parsed, never imported.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = "tests.support"
# Folders that hold no module of ours (tests/sdk_ts installs the TypeScript SDK's packages).
NOT_OURS = {"node_modules", "__pycache__"}


def _files(folder: str) -> list[Path]:
    found = []
    for directory, subdirectories, names in os.walk(ROOT / folder):
        subdirectories[:] = sorted(d for d in subdirectories if d not in NOT_OURS)
        found += [Path(directory) / name for name in sorted(names) if name.endswith(".py")]
    return found


def _module(path: str) -> tuple[str, str]:
    """The dotted name of the module at `path` (relative to the root), and its package."""
    parts = list(Path(path).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _literal_modules(node: ast.AST) -> Iterator[str]:
    """Module names given as literal strings: import_module("..."), __import__("...")."""
    if not isinstance(node, ast.Call) or not node.args:
        return
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    first = node.args[0]
    if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
        return
    if name in {"import_module", "__import__"}:
        yield first.value


def _plugins(node: ast.AST) -> Iterator[str]:
    """The modules `pytest_plugins = [...]` names (pytest imports them)."""
    if not isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
        return
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    if not any(isinstance(t, ast.Name) and t.id == "pytest_plugins" for t in targets):
        return
    if node.value is not None:
        for value in ast.walk(node.value):
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                yield value.value


def _is_module(name: str) -> bool:
    """A module or package of this repository (or any conftest), by its dotted name."""
    path = ROOT.joinpath(*name.split("."))
    return name.endswith(".conftest") or path.with_suffix(".py").is_file() or path.is_dir()


def imports(path: str, source: str) -> Iterator[tuple[int, str]]:
    """(line, module) for every module the file at `path` may import, at any depth. For
    `from a import b`, `a`, and `a.b` too when that is a module."""
    _, package = _module(path)
    for node in ast.walk(ast.parse(source, filename=path)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield line, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield line, base
            for alias in node.names:
                if _is_module(f"{base}.{alias.name}"):
                    yield line, f"{base}.{alias.name}"
        else:
            for module in [*_literal_modules(node), *_plugins(node)]:
                yield line, module


def _refused(module: str) -> bool:
    """A test module or a conftest; anything of tests/support, and the rest, may be imported."""
    if "conftest" in module.split("."):
        return True
    inside_tests = module.startswith("tests.")
    return inside_tests and module != SUPPORT and not module.startswith(f"{SUPPORT}.")


def violations(path: str, source: str) -> list[str]:
    """`path:line: imports module` for each import the layout refuses in the file at `path`."""
    found = {(line, module) for line, module in imports(path, source) if _refused(module)}
    # A module imported from its package (tests.api's test_batch): name the module alone.
    shown = {
        (line, module)
        for line, module in found
        if not any(other == line and m.startswith(f"{module}.") for other, m in found)
    }
    return [f"{path}:{line}: imports {module}" for line, module in sorted(shown)]


def _check(files: list[Path]) -> list[str]:
    assert files, "no file found to check"
    found = []
    for file in files:
        path = file.relative_to(ROOT).as_posix()
        found += violations(path, file.read_text(encoding="utf-8"))
    return found


def test_no_test_module_imports_another_or_a_conftest() -> None:
    support = ROOT / "tests" / "support"
    files = [f for f in _files("tests") if support not in f.parents]
    found = _check(files)
    assert not found, "move what they import into tests/support:\n" + "\n".join(found)


def test_bench_imports_nothing_of_the_tests_but_tests_support() -> None:
    found = _check(_files("bench"))
    assert not found, "bench/ may import only tests.support:\n" + "\n".join(found)


def test_tests_support_imports_no_test_module() -> None:
    found = _check(_files("tests/support"))
    assert not found, "tests/support may import only tests/support:\n" + "\n".join(found)


TEST = "tests/api/test_new.py"
# The sources below name the package as {tests} and the module as {conftest}, filled in by the
# test, so that a grep of the tree for imports of test modules finds none in this file.


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        pytest.param(
            TEST,
            "from {tests}.api.test_contract import RESOURCES\n",
            "1: imports tests.api.test_contract",
            id="a-test-module",
        ),
        pytest.param(
            TEST, "from {tests}.conftest import Api\n", "1: imports tests.conftest", id="a-conftest"
        ),
        pytest.param(
            TEST, "import {tests}.cli.test_cli\n", "1: imports tests.cli.test_cli", id="import"
        ),
        pytest.param(
            TEST,
            "from {tests}.api import test_batch\n",
            "1: imports tests.api.test_batch",
            id="a-module-from-its-package",
        ),
        pytest.param(
            TEST,
            "from {tests} import {conftest}\n",
            "1: imports tests.conftest",
            id="a-conftest-from-tests",
        ),
        pytest.param(
            TEST, "from . import test_batch\n", "1: imports tests.api.test_batch", id="relative"
        ),
        pytest.param(
            TEST,
            "from .conftest import x\n",
            "1: imports tests.api.conftest",
            id="relative-conftest",
        ),
        pytest.param(
            TEST,
            "from ..hardening.wire import request\n",
            "1: imports tests.hardening.wire",
            id="relative-to-another-suite",
        ),
        pytest.param(
            "tests/api/conftest.py",
            "import {conftest}\n",
            "1: imports conftest",
            id="conftest-by-its-name",
        ),
        pytest.param(
            "tests/api/conftest.py",
            "from {tests}.hardening.conftest import Server\n",
            "1: imports tests.hardening.conftest",
            id="from-a-conftest",
        ),
        pytest.param(
            TEST,
            "import os\n\n\ndef test_x() -> None:\n    from {tests}.sdk.conftest import CASES\n",
            "5: imports tests.sdk.conftest",
            id="deferred-into-a-function",
        ),
        pytest.param(
            TEST,
            "import importlib\nm = importlib.import_module('tests.fuzz.test_fuzz')\n",
            "2: imports tests.fuzz.test_fuzz",
            id="import_module",
        ),
        pytest.param(
            TEST,
            "pytest_plugins = ['tests.api.conftest']\n",
            "1: imports tests.api.conftest",
            id="pytest_plugins",
        ),
        pytest.param(
            "bench/new.py",
            "from {tests}.engine.test_policy import x\n",
            "1: imports tests.engine.test_policy",
            id="bench",
        ),
        pytest.param(
            "tests/support/new.py",
            "from {tests}.api.test_contract import x\n",
            "1: imports tests.api.test_contract",
            id="tests-support",
        ),
    ],
)
def test_the_check_refuses_each_kind_of_import(path: str, source: str, expected: str) -> None:
    source = source.format(tests="tests", conftest="conftest")
    assert violations(path, source) == [f"{path}:{expected}"]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        pytest.param(TEST, "from tests.support.api import Api, assert_error\n", id="support"),
        pytest.param(TEST, "from tests.support import resources\n", id="support-module"),
        pytest.param(TEST, "import tests.support.wire\n", id="import-support"),
        pytest.param(
            "tests/api/conftest.py",
            "from tests.support.databases import Databases\n",
            id="conftest",
        ),
        pytest.param(
            "tests/support/new.py",
            "from . import api\nfrom .postgres import Cluster\n",
            id="support-relative",
        ),
        pytest.param(
            "bench/new.py",
            "from report import DOCS\nfrom tests.support.postfix import Postfix\n",
            id="bench",
        ),
        pytest.param(
            TEST, "from mailpolicy.engine import IpIndex\nimport pytest\n", id="not-tests"
        ),
    ],
)
def test_the_check_lets_the_imports_of_the_layout_pass(path: str, source: str) -> None:
    assert violations(path, source) == []
