"""schemathesis against the document the service serves at /client/v4/openapi.json.

Every operation is fuzzed on its own (schemathesis's examples, coverage and fuzzing phases:
valid and invalid parameters and bodies, boundary values, unknown methods), then stateful
scenarios, one resource at a time, follow the document's links from each create to the
entry it made. Every answer passes every check: no 5xx; a status code, content type, headers
and body the document declares for the operation; invalid input refused; a wrong method
refused with an Allow header naming the right ones; missing credentials refused; a deleted
entry gone. The cases follow from a fixed seed: the same ones on every run, but for which link
values a stateful step uses, which schemathesis draws from a true random source.

MAILPOLICY_FUZZ_SEED, _EXAMPLES, _SCENARIOS and _STEPS ask for other or more cases, and
MAILPOLICY_FUZZ_REPORT names a JSON file for the tally of answers (bench/fuzz.py uses both).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from schemathesis.generation.case import Case

from mailpolicy.resources import REGISTRY
from tests.support.fuzz import Budget, Tally, fuzz_app, load_schema, prepared, run_stateful

BUDGET = Budget.from_environment()
APP, DATABASE = fuzz_app()
schema = load_schema(APP, BUDGET)
TALLIES = {"operations": Tally(), "stateful": Tally()}


@pytest.fixture(scope="module", autouse=True)
def service(template_db: Path) -> Iterator[None]:
    with prepared(APP, DATABASE, template_db):
        yield
    report = os.environ.get("MAILPOLICY_FUZZ_REPORT")
    if report:
        tallies = {name: tally.answers for name, tally in TALLIES.items()}
        Path(report).write_text(json.dumps({"budget": asdict(BUDGET), "answers": tallies}))


@schema.parametrize()
def test_operation(case: Case) -> None:
    response = case.call_and_validate()
    TALLIES["operations"].record(case, response)


def _entry_operations(resource: str) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in schema.raw_schema["paths"].items()
        if f"/settings/{resource}/{{" in path
        for method in item
    }


@pytest.mark.parametrize("resource", [spec.path for spec, _ in REGISTRY])
def test_stateful(resource: str) -> None:
    tally = run_stateful(schema, APP, BUDGET, resource)
    TALLIES["stateful"].merge(tally)
    # The scenarios went where the links lead: entries were created, and operations on them
    # succeeded (ids are UUIDs: only a link finds one). Which links a step follows is drawn
    # outside the seed (schemathesis picks link values with a true random source), so the
    # operations reached vary from run to run; that some are reached does not.
    assert any(label.startswith("POST ") for label in tally.succeeded()), tally.answers
    assert tally.succeeded() & _entry_operations(resource), tally.answers
