"""What the fuzz suite (and bench/fuzz.py through it) is made of: the service, the account
every case is sent to, schemathesis's configuration, and a tally of what the service answered.

schemathesis makes one test per operation when the test module is imported, from the
document the app serves, so the app and everything the configuration names exist from
import on: the account's id and its Write token's secret are fixed, and the app's database
is a file that `prepared` fills (from the migrated template) before any request is sent.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import schemathesis
from fastapi import FastAPI
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER, HookContext
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import delete

from mailpolicy.access.accounts import Account
from mailpolicy.access.credentials import ApiToken, Permission, digest
from mailpolicy.app import create_app
from mailpolicy.config import Settings
from mailpolicy.resources import REGISTRY

DOCUMENT = "/client/v4/openapi.json"
ACCOUNT = "f022" * 8
# The secret of the account's Write token: fixed so that the configuration can carry it
# from import on. It exists only in the fuzz suite's own throwaway database.
TOKEN = "fuzz-write-token-" + "0123456789" * 3
# Every check schemathesis has, but one: positive_data_acceptance expects every request the
# document allows to succeed, and no JSON Schema says which strings are the email addresses,
# domain names and RE2 expressions the service accepts, or which entries exist already.
# POST /scan takes the message itself (message/rfc822): sent as the bytes generated for it.
schemathesis.serializer.alias("message/rfc822", "application/octet-stream")

CHECKS: dict[str, Any] = {
    "positive_data_acceptance": {"enabled": False},
    # The statuses that refuse a request the document calls invalid: schemathesis's own list,
    # and 413, which refuses unread a body over MAILPOLICY_MAX_BODY_BYTES, whatever it holds.
    "negative_data_rejection": {
        "expected-statuses": [
            *(400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429),
            "5xx",
        ]
    },
}


# Values the service accepts, offered in place of what the generator made for the fields that
# hold them: a random string is seldom an email address or a domain name, and a create that
# fails validation leaves nothing for the links to follow. Half of the time only: the
# generator's own strings still reach every field.
DICTIONARIES: dict[str, list[str]] = {
    "addresses": [
        "billing@vendor.example",
        "chief@corp.example",
        "Alerts@Mail.Partner.Example",
        "jane.doe+news@xn--bcher-kva.example",
    ],
    "domains": ["vendor.example", "mail.partner.example", "bücher.example", "corp.example."],
    "networks": ["203.0.113.9", "198.51.100.0/24", "2001:db8::25", "2001:db8:1::/48"],
    "names": ["Jane Doe", "Chief Executive", "Zoë Müller"],
    "uuids": ["3f0c2a7e-5b1d-4c8e-9f6a-0d2b4e6f8a10", "00000000-0000-4000-8000-000000000000"],
}
# Sender patterns: each kind of pattern_type, and expressions for is_regex.
DICTIONARIES["patterns"] = [
    *DICTIONARIES["addresses"],
    *DICTIONARIES["domains"],
    *DICTIONARIES["networks"],
    r"gift\s+cards?",
    r".*@vendor\.example",
]
_FIELDS = {
    "pattern": "patterns",
    "domain": "domains",
    "exclude[*]": "domains",
    "email": "addresses",
    "name": "names",
    "integration_id": "uuids",
    "ip_restrictions[*]": "networks",
    "envelope_from": "addresses",
    "header_from": "addresses",
    "reply_to": "addresses",
    "recipients[*]": "addresses",
    "client_ip": "networks",
    "client_hostname": "domains",
    "helo": "domains",
}
# A bound field takes a dictionary value four times in five. A domain's body holds lists of up
# to ten networks, every one of which must be an address for the entry to be created: at one
# in two, whether any scenario of a resource created an entry came down to how the seed fell
# (with several seeds none did), and the stateful checks below need created entries.
BINDINGS: dict[str, dict[str, Any]] = {
    f"body.{where}{name}": {"dictionary": dictionary, "probability": 0.8}
    for name, dictionary in _FIELDS.items()
    for where in ("", "posts[*].", "puts[*].", "patches[*].")
}


@dataclass(frozen=True)
class Budget:
    """How much to generate. `make test` runs the defaults; bench/fuzz.py asks for more."""

    seed: int = 20261130
    examples: int = 10  # per operation, beyond the examples and coverage phases
    # Stateful scenarios, per resource. Which link a step follows is drawn from a true random
    # source, so at 25 a resource's scenarios sometimes reached no created entry at all (seen
    # for allow_policies and sending_domain_restrictions); at 50 every resource reaches one.
    scenarios: int = 50
    steps: int = 10  # calls per scenario, at most

    @classmethod
    def from_environment(cls) -> Budget:
        def number(name: str, default: int) -> int:
            return int(os.environ.get(f"MAILPOLICY_FUZZ_{name}", default))

        default = cls()
        return cls(
            seed=number("SEED", default.seed),
            examples=number("EXAMPLES", default.examples),
            scenarios=number("SCENARIOS", default.scenarios),
            steps=number("STEPS", default.steps),
        )


def fuzz_app() -> tuple[FastAPI, Path]:
    """The app and the database file it will use (nothing is written to it yet)."""
    path = Path(tempfile.gettempdir()) / f"mailpolicy-fuzz-{os.getpid()}.db"
    # Rate limits are tested on their own (tests/api/test_rate_limits.py): here every case is
    # judged on what it asks, not on how many came before it.
    settings = Settings(database_url=f"sqlite:///{path}", rate_limit=0)
    return create_app(settings), path


def load_schema(app: FastAPI, budget: Budget) -> OpenApiSchema:
    """The document `app` serves, as schemathesis reads it: every case follows from the seed.
    A message/rfc822 body (POST /scan) goes as the bytes generated for it."""
    config = SchemathesisConfig.from_dict(
        {
            "seed": budget.seed,
            "parameters": {"account_id": ACCOUNT, **BINDINGS},
            "dictionaries": {name: {"values": values} for name, values in DICTIONARIES.items()},
            "auth": {"openapi": {"api_token": {"bearer": TOKEN}}},
            "checks": CHECKS,
            "generation": {
                "max-examples": budget.examples,
                "deterministic": True,
                "database": "none",
            },
        }
    )
    return schemathesis.openapi.from_asgi(DOCUMENT, app, config=config)


@contextmanager
def prepared(app: FastAPI, path: Path, template_db: Path) -> Iterator[None]:
    """`app`'s database: the migrated template, with the fuzzed account and its token."""
    shutil.copyfile(template_db, path)
    try:
        with app.state.db.transaction() as session:
            session.add(Account(id=ACCOUNT, name="fuzz"))
            session.flush()
            session.add(
                ApiToken(
                    account_id=ACCOUNT,
                    name="fuzz",
                    permission=Permission.WRITE.value,
                    secret_hash=digest(TOKEN),
                )
            )
        yield
    finally:
        app.state.db.dispose()
        for leftover in (
            path,
            path.with_name(path.name + "-wal"),
            path.with_name(path.name + "-shm"),
        ):
            leftover.unlink(missing_ok=True)


def clear(app: FastAPI) -> None:
    """Remove every settings entry of the fuzzed account."""
    with app.state.db.transaction() as session:
        for spec, _ in REGISTRY:
            session.execute(delete(spec.model).where(spec.model.account_id == ACCOUNT))


@dataclass
class Tally:
    """The status codes each operation answered."""

    answers: dict[str, Counter[int]] = field(default_factory=dict)

    def record(self, case: Case, response: Response) -> None:
        label = f"{case.operation.method.upper()} {case.operation.path}"
        self.answers.setdefault(label, Counter())[response.status_code] += 1

    def merge(self, other: Tally) -> None:
        for label, counts in other.answers.items():
            self.answers.setdefault(label, Counter()).update(counts)

    def calls(self) -> int:
        return sum(sum(counts.values()) for counts in self.answers.values())

    def succeeded(self) -> set[str]:
        return {label for label, counts in self.answers.items() if any(s < 300 for s in counts)}


def stateful_settings(budget: Budget) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=budget.scenarios,
        stateful_step_count=budget.steps,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )


def run_stateful(schema: OpenApiSchema, app: FastAPI, budget: Budget, resource: str) -> Tally:
    """Scenarios of calls to one resource's operations (its tag), chained along the document's
    links, every answer checked. One resource at a time, so that a scenario's steps land on
    the entries it created rather than spread over fifty operations."""
    tally = Tally()
    operations: Any = schema.include(tag=resource)

    class Machine(operations.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts from an empty account, so what it draws never depends on
            # what an earlier scenario left behind.
            clear(app)

        def after_call(self, response: Response, case: Case) -> None:
            super().after_call(response, case)
            tally.record(case, response)

    hypothesis.seed(budget.seed)(Machine)
    # Scenarios start with calls the state machine generates whole, account_id included (the
    # configured parameters bind only the per-operation tests). A before_call hook moves them
    # to the fuzzed account where schemathesis sees the change: a case generated as invalid
    # only for its account_id is judged as the valid request it becomes.
    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(_to_fuzzed_account, "before_call")
    try:
        Machine.run(settings=stateful_settings(budget))
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(_to_fuzzed_account)
    return tally


def _to_fuzzed_account(_context: HookContext, case: Case, _kwargs: dict[str, Any]) -> None:
    case.path_parameters["account_id"] = ACCOUNT
