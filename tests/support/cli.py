"""The `mailpolicy` command as the CLI tests drive it: the `Cli` that the `cli` fixture
(tests/cli/conftest.py) hands out, the accounts and tokens it makes (`new_account`,
`new_token`), the last line of what it printed (`last_line`), and the API paths, headers and
bodies to check what it made (`url`, `bearer`, `BLOCK_SENDER`, `DOMAIN`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from click.testing import Result

Cli = Callable[..., Result]

SETTINGS = "/client/v4/accounts/{account}/email-security/settings"
BLOCK_SENDER = {"pattern": "spam.example.net", "pattern_type": "DOMAIN", "is_regex": False}
DOMAIN = {
    "domain": "mail.example.com",
    "allowed_delivery_modes": ["DIRECT"],
    "drop_dispositions": [],
    "ip_restrictions": [],
    "regions": ["GLOBAL"],
}
HEX32 = re.compile(r"[0-9a-f]{32}")
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def last_line(result: Result) -> str:
    lines = result.stdout.splitlines()
    assert lines, result.stdout
    return lines[-1]


def new_account(cli: Cli, name: str = "ops") -> str:
    account = last_line(cli("accounts", "create", "--name", name))
    assert HEX32.fullmatch(account), account
    return account


def new_token(cli: Cli, account: str, permission: str) -> tuple[str, str]:
    """(token id, secret): the secret alone on stdout's last line, the id in the note on stderr."""
    result = cli("tokens", "create", "--account", account, "--permission", permission)
    secret = last_line(result)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32,}", secret), result.stdout
    found = re.search(rf"token ({UUID})", result.stderr)
    assert found, result.stderr
    return found.group(1), secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def url(account: str, resource: str, *parts: str) -> str:
    return "/".join([SETTINGS.format(account=account), resource, *parts])
