"""Build hook: compile the policy engine with mypyc.

The engine is plain, fully typed Python; mypyc turns its modules into C extensions, which
evaluates messages about 40% faster (docs/benchmarks.md). A failed compile fails the install
rather than quietly leaving the slower engine in place; set MAILPOLICY_PURE_PYTHON=1 at
install time to skip compiling and run the Python sources as they are.
"""

from __future__ import annotations

import os

from setuptools import setup

ENGINE = [
    "src/mailpolicy/engine/model.py",
    "src/mailpolicy/engine/parse.py",
    "src/mailpolicy/engine/index.py",
    "src/mailpolicy/engine/decide.py",
    "src/mailpolicy/engine/snapshot.py",
    "src/mailpolicy/engine/changes.py",
    "src/mailpolicy/engine/evaluator.py",
]


def engine_extensions() -> list[object]:
    if os.environ.get("MAILPOLICY_PURE_PYTHON") == "1":
        return []
    from mypyc.build import mypycify

    try:
        return list(mypycify(["--config-file", "mypyc.ini", *ENGINE], opt_level="3"))
    except Exception as exc:
        raise SystemExit(
            f"mailpolicy: compiling the policy engine with mypyc failed: {exc}\n"
            "Set MAILPOLICY_PURE_PYTHON=1 to install the pure-Python engine instead."
        ) from exc


setup(ext_modules=engine_extensions())
