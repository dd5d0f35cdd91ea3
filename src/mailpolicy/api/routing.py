"""Which routes serve a request: the guard's "is this an operation?", the 405 answer's Allow
header, and building every route before the first request."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import BaseRoute, Match, Mount

CANDIDATE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def id_beside(name: str, *fixed: str) -> str:
    """Register the path convertor `name`: an id that is never one of the `fixed` paths beside
    it. OpenAPI matches a fixed path before a templated one, and so does routing then: another
    method on a fixed path is a 405 naming its own, not a look-up of an entry called so."""

    class Beside(Convertor[str]):
        regex = f"(?!(?:{'|'.join(fixed)})$)[^/]+"

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: str) -> str:
            return value

    register_url_convertor(name, Beside())
    return name


def serves(routes: Sequence[BaseRoute], scope: MutableMapping[str, Any]) -> bool:
    """Whether some route serves this request's path and method (looking inside mounts)."""
    for route in routes:
        match, child = route.matches(scope)
        if match != Match.FULL:
            continue
        if not isinstance(route, Mount):
            return True
        if serves(route.routes, {**scope, **child}):
            return True
    return False


def allowed_methods(routes: Sequence[BaseRoute], scope: dict[str, Any]) -> set[str]:
    """Every method some route serves at this path (Starlette reports only the first route's)."""
    methods: set[str] = set()
    for method in CANDIDATE_METHODS:
        probe = {**scope, "method": method}
        for route in routes:
            match, child = route.matches(probe)
            if match == Match.FULL and isinstance(route, Mount):
                methods |= allowed_methods(route.routes, {**probe, **child}) & {method}
            elif match == Match.FULL:
                methods.add(method)
    return methods


def prepare_routes(app: FastAPI, unserved_path: str) -> None:
    """Build every route's parameter handling now rather than on the first request it sees.

    FastAPI builds it lazily, on the first match, silencing a pydantic warning with
    `warnings.catch_warnings()`, which is not thread-safe: two applications of one process
    answering their first requests at once could let the warning escape as an error (a 500).
    Building here also spares the first request the ~50 ms the routes take to build.
    """
    # No route serves `unserved_path`, so matching it visits every route of every router.
    serves(
        app.routes,
        {
            "type": "http",
            "method": "GET",
            "path": unserved_path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
        },
    )
