"""What the served OpenAPI document says beyond FastAPI's: how to authenticate, and how
operations follow one another.

- Security: every operation under /accounts/ takes an API token (`Authorization: Bearer`) or
  the legacy `X-Auth-Email` + `X-Auth-Key` pair, under Cloudflare's scheme names.
- Links: the id a create answers with (`result.id`) is the path parameter of every operation
  on the entry it created (get, edit, put, delete, verification), and every operation on an
  entry leads to the others on the same entry. A generated client, or a stateful fuzzer,
  can follow them from one answer to the next call.

Both are read off the routes, so a resource added with the generic router gets them too.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

ACCOUNT_PATHS = "/accounts/"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "api_token": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`mailpolicy tokens create`), as `Authorization: Bearer`.",
    },
    "api_email": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Email",
        "description": "The email address of a legacy API key; goes with X-Auth-Key.",
    },
    "api_key": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Key",
        "description": "A legacy API key (`mailpolicy keys create`); goes with X-Auth-Email.",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"api_token": []}, {"api_email": [], "api_key": []}]
METHODS = ("get", "put", "post", "patch", "delete")


def install(api: FastAPI) -> None:
    """Serve `api`'s document with security and links added (built once, on first request)."""

    def document() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = FastAPI.openapi(api)  # kept as api.openapi_schema
            add_security(schema)
            add_links(schema)
            return schema
        return api.openapi_schema

    # Replacing the method is FastAPI's documented way to serve a document of one's own.
    api.openapi = document  # type: ignore[method-assign]


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, item[method])
        for path, item in schema["paths"].items()
        for method in METHODS
        if method in item
    ]


def add_security(schema: dict[str, Any]) -> None:
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, _method, operation in _operations(schema):
        if path.startswith(ACCOUNT_PATHS):
            operation["security"] = SECURITY


def _pointer(path: str, method: str) -> str:
    # A JSON pointer into the document: "~" and "/" in a path are escaped (RFC 6901).
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _link_name(method: str, rest: str) -> str:
    return "_".join([method, *filter(None, rest.split("/"))])


def _entry_operations(schema: dict[str, Any], collection: str) -> tuple[str, list[Any]] | None:
    """The entry parameter under `collection` and every operation on its entries."""
    found: list[tuple[str, str, str]] = []
    param = None
    pattern = re.compile(re.escape(collection) + r"/\{(\w+)\}((?:/[\w-]+)*)")
    for path, method, _operation in _operations(schema):
        match = pattern.fullmatch(path)
        if match is None or (param is not None and match[1] != param):
            continue
        param = match[1]
        found.append((path, method, match[2]))
    return (param, found) if param is not None else None


def _links(
    targets: list[tuple[str, str, str]], param: str, value: str, skip: tuple[str, str] | None
) -> dict[str, Any]:
    return {
        _link_name(method, rest): {
            "operationRef": _pointer(path, method),
            "parameters": {"account_id": "$request.path.account_id", param: value},
        }
        for path, method, rest in targets
        if (path, method) != skip
    }


def add_links(schema: dict[str, Any]) -> None:
    for path, method, operation in _operations(schema):
        if not path.startswith(ACCOUNT_PATHS):
            continue
        created = method == "post" and "201" in operation["responses"]
        entries = _entry_operations(schema, path) if created else None
        if entries is not None:
            param, targets = entries
            operation["responses"]["201"]["links"] = _links(
                targets, param, "$response.body#/result/id", None
            )
            continue
        # An operation on one entry: the others on the same entry follow from its own path.
        parent, _, last = path.rpartition("/")
        entry = re.fullmatch(r"\{(\w+)\}", last)
        if entry is None or "200" not in operation["responses"]:
            continue
        siblings = _entry_operations(schema, parent)
        if siblings is not None and siblings[0] == entry[1]:
            operation["responses"]["200"]["links"] = _links(
                siblings[1], entry[1], f"$request.path.{entry[1]}", (path, method)
            )
