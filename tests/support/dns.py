"""Protected domains and their DNS checks, as the verification tests drive them: a domain made
through the API (`new_domain`) and read back (`fetch`), its ownership record published on the
test's DNS server (`publish_ownership`), the verifier run until something holds (`run_until`),
and the `mailpolicy` command with the test's database and DNS settings (`mailpolicy`).

The DNS server itself is in tests/support/authority.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from mailpolicy.cli import app as cli_app
from mailpolicy.config import Settings
from mailpolicy.dns.verifier import Verifier
from tests.support.api import Api
from tests.support.authority import Zones

PATH = "domains"


def new_domain(api: Api, name: str) -> dict[str, Any]:
    body = {"allowed_delivery_modes": ["DIRECT"], "drop_dispositions": [], "ip_restrictions": []}
    return api.create(PATH, {"domain": name, "regions": ["GLOBAL"], **body})


def fetch(api: Api, domain_id: str) -> dict[str, Any]:
    response = api.get(PATH, domain_id)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["result"]
    return result


def publish_ownership(api: Api, zones: Zones, domain_id: str) -> None:
    record = api.get(PATH, domain_id, "verification").json()["result"]
    zones.publish(f'{record["txt_record_name"]}. 60 IN TXT "{record["txt_record_value"]}"')


def run_until(verifier: Verifier, done: Callable[[], bool], seconds: float = 10) -> None:
    """Run the verifier's passes (as `serve` does) until `done()` or the time is up."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the verifier did not get there in time"
        verifier.run_once()
        time.sleep(0.05)


def mailpolicy(settings: Settings, *args: str, **env: str) -> Result:
    variables = {
        "MAILPOLICY_DATABASE_URL": settings.database_url,
        "MAILPOLICY_DNS_RESOLVERS": settings.dns_resolvers or "",
        "MAILPOLICY_DNS_TIMEOUT": str(settings.dns_timeout),
        **env,
    }
    return CliRunner().invoke(cli_app, list(args), env=variables)
