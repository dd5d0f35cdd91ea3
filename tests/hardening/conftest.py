"""The guarded server on a real socket, with deadlines short enough to watch them fire.

`live_server` (tests/conftest.py) configures uvicorn and the app from the `settings` fixture, so
the protocol's deadlines and the guard's body deadline are the same short ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from mailpolicy.config import Settings
from tests.support.api import LiveServer, Tenant
from tests.support.hardening import BODY_TIMEOUT, HEADER_TIMEOUT, KEEPALIVE_TIMEOUT, Server


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        header_timeout=HEADER_TIMEOUT,
        keepalive_timeout=KEEPALIVE_TIMEOUT,
        body_timeout=BODY_TIMEOUT,
    )


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# Where an unhandled exception would be logged: uvicorn ("Exception in ASGI application"),
# asyncio (a protocol callback that raised) and mailpolicy's own 500 handler.
_WATCHED = ("uvicorn.error", "asyncio", "mailpolicy")


@pytest.fixture
def server(live_server: LiveServer, tenant: Tenant) -> Iterator[Server]:
    """The guarded server; the test fails if anything was logged as an error while it ran."""
    collect = _Collect()
    loggers = [logging.getLogger(name) for name in _WATCHED]
    for logger in loggers:
        logger.addHandler(collect)
    try:
        port = urlsplit(live_server.base_url).port
        assert port is not None
        yield Server(live_server, port, tenant)
    finally:
        for logger in loggers:
            logger.removeHandler(collect)
    errors = [f"{r.name}: {r.getMessage()}" for r in collect.records]
    assert not errors, errors
