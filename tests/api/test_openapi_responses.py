"""The served OpenAPI document describes what the service answers.

A tour makes every operation answer (successes and the usual 4xx), then:
- the document is a valid OpenAPI document;
- every answer validates against the schema the document declares for its status;
- models generated from the document (datamodel-code-generator, as a client generator would)
  read every answer and write it back unchanged.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import sys
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from datamodel_code_generator import DataModelType, InputFileType, generate
from fastapi.testclient import TestClient
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from mailpolicy.audit.events import CLI
from mailpolicy.db import Database
from mailpolicy.resources.domains import activate
from tests.support.api import Tenant
from tests.support.messages import record_message
from tests.support.resources import RESOURCES, Resource

ROOT = "/client/v4"
SETTINGS = "/accounts/{account_id}/email-security/settings"


@dataclass(frozen=True)
class Answer:
    template: str  # the document's path, e.g. /accounts/{account_id}/.../{policy_id}
    method: str
    status: int
    body: Any


class Tour:
    """Calls operations by their document path and keeps every answer."""

    def __init__(self, client: TestClient, tenant: Tenant) -> None:
        self.client = client
        self.tenant = tenant
        self.answers: list[Answer] = []

    def call(
        self,
        method: str,
        template: str,
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        values = dict(re.findall(r"\{(\w+)\}", template) and kwargs.pop("ids", {}))
        values.setdefault("account_id", self.tenant.id)
        url = ROOT + template.format(**values)
        response = self.client.request(
            method, url, headers=self.tenant.write if headers is None else headers, **kwargs
        )
        body = response.json() if response.content else None
        self.answers.append(Answer(template, method.lower(), response.status_code, body))
        return body


def _template(resource: Resource, *rest: str) -> str:
    return "/".join([f"{SETTINGS}/{resource.path}", *rest])


def tour_resource(tour: Tour, resource: Resource) -> None:
    collection = _template(resource)
    item = _template(resource, f"{{{resource.id_param}}}")
    first = tour.call("POST", collection, json=resource.make(0))["result"]
    second = tour.call("POST", collection, json=resource.make(1))["result"]
    ids = {resource.id_param: first["id"]}
    tour.call("GET", collection, params={"per_page": 1})
    tour.call("GET", item, ids=ids)
    tour.call("PATCH", item, ids=ids, json=resource.patch)
    tour.call("POST", collection, json={})  # 400
    tour.call("POST", collection, json=resource.make(0))  # 409
    tour.call("GET", item, ids={resource.id_param: str(uuid.uuid4())})  # 404
    tour.call("GET", collection, headers={})  # 401
    tour.call("POST", collection, headers=tour.tenant.read, json=resource.make(5))  # 403
    if resource.batch != "none":
        body: dict[str, Any] = {"deletes": [{"id": second["id"]}]}
        if resource.batch == "full":
            put = resource.put(first) if resource.put else {}
            body |= {
                "patches": [{"id": first["id"], **resource.patch}],
                "puts": [{"id": first["id"], **put}],
                "posts": [resource.make(2)],
            }
        tour.call("POST", _template(resource, "batch"), json=body)
    tour.call("DELETE", item, ids=ids)


def tour_domains(tour: Tour, resource: Resource, database: Database) -> None:
    collection = _template(resource)
    item = _template(resource, "{domain_id}")
    verification = _template(resource, "{domain_id}", "verification")
    created = tour.call("POST", collection, json=resource.make(7))["result"]
    ids = {"domain_id": created["id"]}
    tour.call("GET", verification, ids=ids)  # 200: the record to publish
    with database.transaction() as session:
        activate(session, created["id"], CLI)
    tour.call("GET", verification, ids=ids)  # 204: nothing to publish
    put = resource.put(created) if resource.put else {}
    tour.call("PUT", item, ids=ids, json=put)
    tour.call("DELETE", collection, json=[{"id": created["id"]}])


def tour_evaluate(tour: Tour) -> None:
    message = {
        "envelope_from": "billing@vendor.example",
        "header_from": '"Billing" <billing@vendor.example>',
        "recipients": ["ann@corp1.example.com", "bob@elsewhere.example"],
        "client_ip": "203.0.113.9",
        "subject": "invoice 3 attached",
        "findings": [{"kind": "content", "disposition": "SPAM"}],
    }
    path = "/accounts/{account_id}/email-security/evaluate"
    tour.call("POST", path, headers=tour.tenant.read, json=message)
    tour.call("POST", path, headers=tour.tenant.read, json={**message, "client_ip": "nope"})
    scan = "/accounts/{account_id}/email-security/scan"
    raw = (
        b"From: Billing <billing@vendor.example>\r\nTo: ann@corp1.example.com\r\n"
        b"Subject: invoice 3 attached\r\n\r\nPlease find it attached.\r\n"
    )
    rfc822 = {**tour.tenant.read, "Content-Type": "message/rfc822"}
    tour.call("POST", scan, headers=rfc822, content=raw, params={"client_ip": "203.0.113.9"})
    tour.call("POST", scan, headers=rfc822, content=raw, params={"client_ip": "nope"})
    tour.call("POST", scan, headers=rfc822, content=b"", params={"client_ip": "203.0.113.9"})


def tour_stats(tour: Tour) -> None:
    path = "/accounts/{account_id}/email-security/stats/entries"
    tour.call("GET", path, headers=tour.tenant.read)
    tour.call("GET", path, headers=tour.tenant.read, params={"stale_days": 0})


def tour_audit(tour: Tour) -> None:
    path = "/accounts/{account_id}/email-security/audit"
    # Every kind of event the tour left: creates, edits, replaces, deletes, an activation.
    tour.call("GET", path, headers=tour.tenant.read, params={"per_page": 1000})
    tour.call("GET", path, headers=tour.tenant.read, params={"since": "yesterday"})


def tour_investigate(tour: Tour, database: Database) -> None:
    corp = tour.call(
        "POST",
        f"{SETTINGS}/domains",
        json={
            "domain": "tour-mail.example",
            "allowed_delivery_modes": ["DIRECT"],
            "drop_dispositions": ["MALICIOUS"],
            "ip_restrictions": [],
            "regions": ["GLOBAL"],
        },
    )["result"]
    with database.transaction() as session:
        activate(session, corp["id"], CLI)
    tour.call(
        "POST",
        f"{SETTINGS}/block_senders",
        json={"pattern": "bad.example", "pattern_type": "DOMAIN", "is_regex": False},
    )
    to = ["ann@tour-mail.example"]
    (delivered,) = record_message(database, "friend@ok.example", to, queue_id="4TOUR00001")
    (held,) = record_message(
        database, "boss@bad.example", to, drop_action="quarantine", queue_id="4TOUR00002"
    )
    record_message(database, "promo@bad.example", to)  # refused at RCPT
    base = "/accounts/{account_id}/email-security/investigate"
    read = tour.tenant.read
    one = {"investigate_id": held.id}
    tour.call("GET", base, headers=read, params={"per_page": 2})
    tour.call("GET", base, headers=read, params={"start": "2999-01-01T00:00:00Z"})  # 400
    tour.call("GET", f"{base}/{{investigate_id}}", headers=read, ids=one)
    tour.call("GET", f"{base}/{{investigate_id}}", headers=read, ids={"investigate_id": "nope"})
    tour.call("GET", f"{base}/{{investigate_id}}/detections", headers=read, ids=one)
    tour.call("GET", f"{base}/{{investigate_id}}/trace", headers=read, ids=one)
    tour.call("GET", f"{base}/{{investigate_id}}/raw", headers=read, ids=one)
    tour.call("GET", f"{base}/{{investigate_id}}/preview", headers=read, ids=one)
    tour.call("POST", f"{base}/preview", headers=read, json={"id": held.id})
    tour.call("POST", f"{base}/release", json={"ids": [delivered.id]})  # 409: not held
    tour.call("POST", f"{base}/release", headers=read, json={"ids": [held.id]})  # 403
    tour.call(
        "POST",
        f"{base}/{{investigate_id}}/reclassify",
        ids=one,
        json={"expected_disposition": "NONE"},
    )
    tour.call("POST", f"{base}/{{investigate_id}}/move", ids=one, json={"destination": "Inbox"})
    tour.call("POST", f"{base}/move", json={"destination": "Inbox", "ids": [held.id]})
    tour.call("GET", "/accounts/{account_id}/email-security/submissions", headers=read)
    whatif = "/accounts/{account_id}/email-security/whatif"
    tour.call(
        "POST",
        whatif,
        json={
            "block_senders": {
                "posts": [{"pattern": "ok.example", "pattern_type": "DOMAIN", "is_regex": False}]
            }
        },
    )
    tour.call("POST", whatif, json={"block_senders": {"posts": [{"pattern_type": "DOMAIN"}]}})


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get(f"{ROOT}/openapi.json")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture(scope="module")
def answers(client: TestClient, app: Any) -> list[Answer]:
    from tests.support.api import make_tenant

    tour = Tour(client, make_tenant(app.state.db, f"tour{uuid.uuid4().hex[:8]}"))
    for resource in RESOURCES:
        tour_resource(tour, resource)
        if resource.path == "domains":
            tour_domains(tour, resource, app.state.db)
    tour_evaluate(tour)
    tour_stats(tour)
    tour_investigate(tour, app.state.db)
    tour_audit(tour)
    return tour.answers


@pytest.fixture(scope="module")
def generated(
    document: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("generated")
    output = folder / "mailpolicy_client_models.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generator's notices about its own defaults
        generate(
            json.dumps(document),
            input_file_type=InputFileType.OpenAPI,
            output=output,
            output_model_type=DataModelType.PydanticV2BaseModel,
        )
    spec = importlib.util.spec_from_file_location(output.stem, output)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[output.stem] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[output.stem]


def declared(document: dict[str, Any], answer: Answer) -> dict[str, Any] | None:
    """The schema the document declares for this answer (None: declared without a body)."""
    responses = document["paths"][answer.template][answer.method]["responses"]
    entry = responses.get(str(answer.status)) or responses.get(f"{str(answer.status)[0]}XX")
    assert entry is not None, f"{answer.method} {answer.template} does not declare {answer.status}"
    content = entry.get("content")
    if content is None:
        return None
    schema: dict[str, Any] = content["application/json"]["schema"]
    return schema


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_the_tour_covers_every_operation(document: dict[str, Any], answers: list[Answer]) -> None:
    visited = {(a.template, a.method) for a in answers}
    operations = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if path.startswith("/accounts/")
    }
    assert operations - visited == set()
    # The 50 settings operations, evaluate, scan, the hit counts and the audit history; 12 of
    # investigate and submissions, and what-if.
    assert len(operations) == 67
    assert {a.status for a in answers} >= {200, 201, 204, 400, 401, 403, 404, 409}


def test_every_answer_matches_its_declared_schema(
    document: dict[str, Any], answers: list[Answer]
) -> None:
    for answer in answers:
        schema = declared(document, answer)
        if schema is None:
            assert answer.body is None, answer
            continue
        validator = OAS31Validator({**schema, "components": document["components"]})
        errors = [e.message for e in validator.iter_errors(answer.body)]
        assert errors == [], (answer.method, answer.template, answer.status, answer.body)


def test_the_declared_schemas_are_precise(document: dict[str, Any]) -> None:
    """An answer with a field the document does not declare would fail the test above."""
    read = document["components"]["schemas"]["BlockedSenderRead"]
    assert read["additionalProperties"] is False
    assert set(read["required"]) >= {"id", "pattern", "pattern_type", "created_at"}


def _model(module: ModuleType, schema: dict[str, Any]) -> Any:
    name = schema["$ref"].rsplit("/", 1)[1]
    wanted = re.sub(r"[^0-9a-zA-Z]", "", name).lower()
    classes = {
        n.lower(): getattr(module, n) for n in dir(module) if isinstance(getattr(module, n), type)
    }
    assert wanted in classes, f"no generated model for {name}"
    return classes[wanted]


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def _instants(value: Any) -> Any:
    """The JSON with its timestamps read as instants: 00:00:00Z and 00:00:00.000000Z agree."""
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instants(v) for v in value]
    if isinstance(value, str) and _STAMP.fullmatch(value):
        return dt.datetime.fromisoformat(value)
    return value


def test_generated_models_read_and_write_every_answer(
    document: dict[str, Any], answers: list[Answer], generated: ModuleType
) -> None:
    for answer in answers:
        schema = declared(document, answer)
        if schema is None:
            continue
        model = _model(generated, schema)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # deprecated fields are kept
            parsed = model.model_validate(answer.body)
            again = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert _instants(again) == _instants(answer.body), (answer.method, answer.template)


def test_models_are_generated_from_the_served_document(generated: ModuleType) -> None:
    source = Path(str(generated.__file__)).read_text(encoding="utf-8")
    assert "class ContentPolicyRead(BaseModel)" in source
    assert "class FailureEnvelope(BaseModel)" in source
