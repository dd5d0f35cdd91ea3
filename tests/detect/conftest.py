"""A throwaway clamd and rspamd for the session, on loopback, asking DNS of a loopback authority
that serves the test senders' SPF and DMARC records (tests/support/rspamd.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.authority import Zones, authority
from tests.support.rspamd import SENDERS_ZONE, Clamd, Rspamd, clamd_instance, rspamd_instance


@pytest.fixture(scope="session")
def detect_dns() -> Iterator[tuple[Zones, int]]:
    with authority() as (zones, port):
        zones.publish(SENDERS_ZONE)
        yield zones, port


@pytest.fixture(scope="session")
def clamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clamd]:
    with clamd_instance(tmp_path_factory.mktemp("clamd")) as running:
        yield running


@pytest.fixture(scope="session")
def rspamd(
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
    detect_dns: tuple[Zones, int],
    clamd: Clamd,
) -> Iterator[Rspamd]:
    # Hyperscan's compiled public suffix list, kept in pytest's cache between runs.
    assert pytestconfig.cache is not None
    cache = pytestconfig.cache.mkdir("rspamd-hyperscan")
    with rspamd_instance(
        tmp_path_factory.mktemp("rspamd"),
        dns_port=detect_dns[1],
        clamd_port=clamd.port,
        cache=cache,
    ) as running:
        yield running
