"""The compiled engine must be built from the sources beside it."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

MODULES = ["model", "parse", "index", "decide", "snapshot", "evaluator"]


@pytest.mark.parametrize("name", MODULES)
def test_compiled_module_is_not_older_than_its_source(name: str) -> None:
    # An editable install puts the mypyc extension beside the .py and Python loads the
    # extension first, so an edit without a rebuild would test stale code. `make` rebuilds.
    module = importlib.import_module(f"mailpolicy.engine.{name}")
    loaded = Path(module.__file__ or "")
    source = loaded.with_name(f"{name}.py")
    assert source.exists()
    if loaded.suffix == ".py":
        return
    assert loaded.stat().st_mtime >= source.stat().st_mtime, (
        f"{loaded.name} is older than {source.name}: run `make test` (it rebuilds the engine)"
    )


@pytest.mark.parametrize("name", MODULES)
def test_the_engine_is_compiled_unless_pure_python_was_asked_for(name: str) -> None:
    # The install fails rather than fall back when mypyc cannot compile the engine; only an
    # install with MAILPOLICY_PURE_PYTHON=1 runs the Python sources.
    module = importlib.import_module(f"mailpolicy.engine.{name}")
    compiled = Path(module.__file__ or "").suffix != ".py"
    assert compiled or os.environ.get("MAILPOLICY_PURE_PYTHON") == "1", (
        f"mailpolicy.engine.{name} is not compiled: run `make test` (it builds the engine), "
        "or set MAILPOLICY_PURE_PYTHON=1"
    )
