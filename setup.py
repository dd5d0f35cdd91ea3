"""Build hook: compile the policy engine with mypyc.

The engine is plain, fully typed Python; mypyc turns its modules into C extensions, which
evaluates messages about 40% faster (docs/benchmarks.md). The Python sources stay in the
package and are what runs when MAILPOLICY_PURE_PYTHON=1 is set at install time, or when no
C compiler is available.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

ENGINE = [
    "src/mailpolicy/engine/model.py",
    "src/mailpolicy/engine/parse.py",
    "src/mailpolicy/engine/index.py",
    "src/mailpolicy/engine/decide.py",
    "src/mailpolicy/engine/snapshot.py",
    "src/mailpolicy/engine/evaluator.py",
]


def engine_extensions() -> list[object]:
    if os.environ.get("MAILPOLICY_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify

        return list(mypycify(["--config-file", "mypyc.ini", *ENGINE], opt_level="3"))
    except Exception as exc:  # any failure leaves the pure-Python engine
        print(f"mailpolicy: building the pure-Python engine ({exc})", file=sys.stderr)
        return []


setup(ext_modules=engine_extensions())
