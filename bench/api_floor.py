"""The floor of bench/api.py: what the server stack costs when the application does nothing.

Run: .venv/bin/python bench/api_floor.py --port PORT --bytes N [--log-level LEVEL]

One constant JSON body of exactly N bytes (bench/api.py passes the size of a get-by-id
answer), from a route mounted at /client/v4 as the API is, behind the same middleware
(mailpolicy.api.guard's RequestGuard outside, the JSON relabelling inside), with the same error
handlers, served by uvicorn with `mailpolicy.api.server.server_config`: the same protocol class,
deadlines and log level as `mailpolicy serve`. The route is public, so the guard passes it
through without a database trip, and it is `async`: no thread-pool hop either.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

from mailpolicy.api.errors import install
from mailpolicy.api.guard import Limits, RequestGuard
from mailpolicy.api.server import raise_file_limit, server_config
from mailpolicy.app import API_PREFIX, JsonBodies
from mailpolicy.config import Settings
from mailpolicy.db import Database

FLOOR_PATH = "/floor"


def constant_body(size: int) -> bytes:
    """A v4 success envelope of exactly `size` bytes."""
    head = b'{"success":true,"errors":[],"messages":[],"result":{"padding":"'
    tail = b'"}}'
    padding = size - len(head) - len(tail)
    if padding < 0:
        raise ValueError(f"a body of {size} bytes cannot hold an envelope")
    body = head + b"x" * padding + tail
    json.loads(body)
    return body


def floor_app(settings: Settings, size: int) -> FastAPI:
    body = constant_body(size)
    database = Database(settings.database_url)  # the guard holds one; this route never asks it
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    install(app)
    app.add_middleware(
        RequestGuard,
        database=database,
        limits=Limits(max_body_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout),
    )
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    api.add_middleware(JsonBodies)
    install(api)

    @api.get(FLOOR_PATH)
    async def floor() -> Response:
        return Response(body, media_type="application/json")

    app.mount(API_PREFIX, api)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bytes", type=int, required=True, help="size of the body served")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            database_url=f"sqlite:///{Path(directory) / 'floor.db'}",
            host="127.0.0.1",
            port=args.port,
            log_level=args.log_level,
        )
        raise_file_limit()
        uvicorn.Server(server_config(floor_app(settings, args.bytes), settings)).run()


if __name__ == "__main__":
    main()
