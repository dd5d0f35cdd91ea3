"""The import rules of docs/architecture.md, which ruff enforces in `make lint`: that their ban
lists cover the project as it grows (a new package must be placed on one side of each rule),
and that ruff, run as `make lint` runs it, refuses a file that breaks one."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mailpolicy"
RUFF = Path(sys.executable).parent / "ruff"

# What the HTTP edge may build on: who may call, and plumbing. Everything else is a resource
# or a feature, which build on the edge.
EDGE_MAY_IMPORT = {"access", "api", "config", "db", "errors", "migrate", "mime", "timefmt"}


def _banned(config: Path) -> set[str]:
    data: dict[str, Any] = tomllib.loads(config.read_text())
    lint = data["tool"]["ruff"]["lint"] if "tool" in data else data["lint"]
    return set(lint["flake8-tidy-imports"]["banned-api"])


def _top_level() -> set[str]:
    """Every module and package directly under src/mailpolicy, by name."""
    names = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()
    }
    return names - {"__init__", "__main__"}


def _dependencies() -> set[str]:
    """The distributions the project installs (runtime and extras), by normalised name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    specs += project["optional-dependencies"].get("milter", [])
    return {_normalise(re.split(r"[\[=<>~! ]", spec, maxsplit=1)[0]) for spec in specs}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_engine_may_import_nothing_of_mailpolicy_outside_itself() -> None:
    banned = _banned(PACKAGE / "engine" / "ruff.toml")
    expected = {f"mailpolicy.{name}" for name in _top_level() - {"engine"}}
    assert expected - banned == set(), "add these to src/mailpolicy/engine/ruff.toml"


def test_the_engine_may_import_no_dependency_but_re2() -> None:
    banned = _banned(PACKAGE / "engine" / "ruff.toml")
    wanted = _dependencies() - {"google-re2"}
    imports = {
        module
        for module, distributions in packages_distributions().items()
        if {_normalise(d) for d in distributions} & wanted and not module.startswith("_")
    }
    assert imports, "the project's dependencies are not installed"
    assert imports - banned == set(), "add these to src/mailpolicy/engine/ruff.toml"


def test_outside_the_engine_only_its_door_is_imported() -> None:
    banned = _banned(ROOT / "pyproject.toml")
    submodules = {p.stem for p in (PACKAGE / "engine").glob("*.py")} - {"__init__"}
    assert {f"mailpolicy.engine.{name}" for name in submodules} - banned == set()


def test_the_edge_imports_no_resource_or_feature() -> None:
    banned = {name.removeprefix("mailpolicy.") for name in _banned(PACKAGE / "api" / "ruff.toml")}
    assert banned & EDGE_MAY_IMPORT == set()
    unplaced = _top_level() - banned - EDGE_MAY_IMPORT
    assert unplaced == set(), "place these in src/mailpolicy/api/ruff.toml or EDGE_MAY_IMPORT"


def _ruff(path: str, source: str) -> str:
    """What ruff says of `source` as if it were the file at `path` (nothing is written)."""
    done = subprocess.run(
        [
            *(str(RUFF), "check", "--no-cache", "--quiet", "--output-format", "concise"),
            *("--select", "TID251", "--stdin-filename", path, "-"),
        ],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("path", "source", "refused"),
    [
        ("src/mailpolicy/engine/new.py", "import sqlalchemy\n", "sqlalchemy"),
        ("src/mailpolicy/engine/new.py", "from pydantic import BaseModel\n", "pydantic"),
        ("src/mailpolicy/engine/new.py", "from fastapi import FastAPI\n", "fastapi"),
        ("src/mailpolicy/engine/new.py", "from mailpolicy.db import Base\n", "mailpolicy.db"),
        ("src/mailpolicy/engine/new.py", "from mailpolicy import config\n", "mailpolicy.config"),
        (
            "src/mailpolicy/resources/new.py",
            "from mailpolicy.engine.parse import normalize_domain\n",
            "mailpolicy.engine.parse",
        ),
        (
            "src/mailpolicy/milter/new.py",
            "import mailpolicy.engine.snapshot\n",
            "mailpolicy.engine.snapshot",
        ),
        (
            "src/mailpolicy/api/new.py",
            "from mailpolicy.resources import REGISTRY\n",
            "mailpolicy.resources",
        ),
        ("src/mailpolicy/api/new.py", "from mailpolicy.audit import query\n", "mailpolicy.audit"),
        (
            "src/mailpolicy/api/new.py",
            "from mailpolicy.engine.parse import normalize_domain\n",
            "mailpolicy.engine",
        ),
    ],
)
def test_ruff_refuses_an_import_across_a_boundary(path: str, source: str, refused: str) -> None:
    assert f"TID251 `{refused}` is banned" in _ruff(path, source)


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("src/mailpolicy/engine/new.py", "import re2\nfrom mailpolicy.engine.parse import x\n"),
        ("src/mailpolicy/resources/new.py", "from mailpolicy.engine import normalize_domain\n"),
        ("src/mailpolicy/api/new.py", "from mailpolicy.access.credentials import Permission\n"),
        ("tests/engine/test_new.py", "from mailpolicy.engine.index import IpIndex\n"),
    ],
)
def test_ruff_lets_an_import_within_the_rules_pass(path: str, source: str) -> None:
    assert _ruff(path, source) == ""
