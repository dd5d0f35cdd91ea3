"""A real authoritative DNS server per test, and settings that send mailpolicy's questions to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailpolicy.config import Settings
from tests.support.authority import Zones, authority, silent_resolver


@pytest.fixture(scope="session")
def dns_server() -> Iterator[tuple[Zones, int]]:
    """One server for the session (stopping one takes a second); each test starts it empty."""
    with authority() as served:
        yield served


@pytest.fixture
def zones(dns_server: tuple[Zones, int]) -> Iterator[Zones]:
    dns_server[0].clear()
    yield dns_server[0]
    dns_server[0].clear()


@pytest.fixture
def dns_port(dns_server: tuple[Zones, int]) -> int:
    return dns_server[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    with silent_resolver() as port:
        yield port


@pytest.fixture
def dns_settings(database_url: str, dns_port: int, zones: Zones) -> Settings:
    return Settings(
        database_url=database_url,
        dns_resolvers=f"127.0.0.1:{dns_port}",
        dns_timeout=1.0,
        # A pending domain is looked at again a fifth of a second later, not 5 s.
        dns_retry_max_seconds=0.2,
    )


@pytest.fixture
def settings(dns_settings: Settings) -> Settings:
    """The app of these tests sends its DNS questions to the test's server."""
    return dns_settings
