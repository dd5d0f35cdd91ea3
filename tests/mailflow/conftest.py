"""Real mail through a real Postfix and the mailpolicy milter, settings made through the API.

One Postfix and its milters serve the whole module: starting them is most of the cost. Each
test protects domains of its own in an account of its own, so tests cannot see each other's
mail. Listeners (smtpd services):

- main: exactly the README's main.cf lines (only the milter's port differs);
- authenticated: a stand-in authentication milter before mailpolicy, as the README shows;
- quarantine: a mailpolicy milter with MAILPOLICY_DROP_ACTION=quarantine;
- restart: a milter of its own, which a test stops and starts again.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.audit.events import CLI
from mailpolicy.config import Settings
from mailpolicy.resources.domains import activate
from tests.conftest import Tenant, make_tenant
from tests.mailflow.postfix import TRUSTED_AUTHSERV_ID, Postfix, free_port, wait_for

MAILPOLICY = Path(sys.executable).with_name("mailpolicy")
AUTH_MILTER = Path(__file__).with_name("authmilter.py")
PASSING_DOMAINS = "partner.example"
# A change through the API is enforced by a running milter within this many seconds.
SETTLE = 1.0


class Process:
    """A milter in a subprocess, listening on 127.0.0.1:`port`."""

    def __init__(
        self, arguments: list[str], address: int | Path, env: dict[str, str], log: Path
    ) -> None:
        self.arguments = arguments
        self.address = address
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.arguments, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_for(self.address)
        except OSError:
            raise AssertionError(self.log.read_text(errors="replace")) from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class MailSystem:
    postfix: Postfix
    app: FastAPI
    client: TestClient
    milters: dict[str, Process]
    directory: Path
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._serial)}"


def _environment(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPOLICY_")}
    env.update(
        MAILPOLICY_DATABASE_URL=database_url,
        MAILPOLICY_TRUSTED_AUTHSERV_ID=TRUSTED_AUTHSERV_ID,
        MAILPOLICY_MILTER_REFRESH_SECONDS="0.25",
        MAILPOLICY_STATS_FLUSH_SECONDS="0.2",
        MAILPOLICY_LOG_LEVEL="info",
        **{f"MAILPOLICY_{name.upper()}": value for name, value in settings.items()},
    )
    return env


@pytest.fixture(scope="module")
def mail(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSystem]:
    if shutil.which("postfix") is None or shutil.which("smtp-sink") is None:
        raise RuntimeError("Postfix is not installed: `make test` installs it (see Makefile)")
    directory = tmp_path_factory.mktemp("mailflow")
    database = directory / "mailpolicy.db"
    shutil.copyfile(template_db, database)
    url = f"sqlite:///{database}"
    ports = {name: free_port() for name in ("quarantine", "restart", "auth")}
    milter = "inet:127.0.0.1:{}".format
    postfix = Postfix(
        {
            "main": {},  # the README's lines as they are: the milter on its unix socket
            "authenticated": {
                "smtpd_milters": f"{milter(ports['auth'])},unix:mailpolicy/milter.sock"
            },
            # Over TCP, as a milter on another host would be.
            "quarantine": {"smtpd_milters": milter(ports["quarantine"])},
            "restart": {"smtpd_milters": milter(ports["restart"])},
        },
    )
    milters = {
        "main": Process(
            [str(MAILPOLICY), "milter", "--listen", f"unix:{postfix.milter_socket}"],
            postfix.milter_socket,
            _environment(url, milter_socket_group="postfix"),
            directory / "milter-main.log",
        )
    }
    for name, settings in (("quarantine", {"drop_action": "quarantine"}), ("restart", {})):
        milters[name] = Process(
            [str(MAILPOLICY), "milter", "--listen", f"inet:127.0.0.1:{ports[name]}"],
            ports[name],
            _environment(url, **settings),
            directory / f"milter-{name}.log",
        )
    milters["auth"] = Process(
        [
            sys.executable,
            str(AUTH_MILTER),
            str(ports["auth"]),
            TRUSTED_AUTHSERV_ID,
            PASSING_DOMAINS,
        ],
        ports["auth"],
        dict(os.environ),
        directory / "milter-auth.log",
    )
    app = create_app(Settings(database_url=url))
    try:
        postfix.write_configuration()  # the milter's socket directory
        for process in milters.values():
            process.start()
        postfix.start()
        with TestClient(app) as client:
            yield MailSystem(postfix, app, client, milters, directory)
    finally:
        postfix.stop()
        for process in milters.values():
            process.stop()
        app.state.db.dispose()


# ---- settings through the API -------------------------------------------------------------


@dataclass
class Account:
    """An account of the mail system's database, with its Write token."""

    mail: MailSystem
    tenant: Tenant

    def api(self, method: str, resource: str, *parts: str, **kwargs: Any) -> httpx.Response:
        response = self.mail.client.request(
            method, self.tenant.url(resource, *parts), headers=self.tenant.write, **kwargs
        )
        assert response.status_code in {200, 201}, response.text
        return response

    def create(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.api("POST", resource, json=body).json()["result"]
        return result

    def protect(self, domain: str, *drops: str) -> dict[str, Any]:
        """A protected domain, made ACTIVE (as `mailpolicy domains activate` does)."""
        created = self.create(
            "domains",
            {
                "domain": domain,
                "allowed_delivery_modes": ["DIRECT"],
                "drop_dispositions": list(drops),
                "ip_restrictions": [],
                "regions": ["GLOBAL"],
            },
        )
        with self.mail.app.state.db.transaction() as session:
            activate(session, created["id"], CLI)
        return created


@pytest.fixture
def account(mail: MailSystem) -> Account:
    return Account(mail, make_tenant(mail.app.state.db, mail.unique("mailflow")))


def settle() -> None:
    """Give the running milters the time the product promises to pick up a change."""
    time.sleep(SETTLE)


# ---- SMTP ---------------------------------------------------------------------------------


@dataclass
class Sent:
    """What the SMTP server answered, step by step."""

    rcpt: dict[str, tuple[int, str]]
    data: tuple[int, str] | None  # None when no recipient was accepted


def message(
    subject: str,
    sender: str,
    recipients: list[str],
    *,
    text: str = "Hello.\n",
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    display_name: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    for name, value in headers:
        msg[name] = value
    msg["From"] = f'"{display_name}" <{sender}>' if display_name else sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg.set_content(text)
    return msg


def send(
    port: int,
    sender: str,
    recipients: list[str],
    content: EmailMessage | bytes,
    *,
    tls: bool = False,
) -> Sent:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("client.example")
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            smtp.starttls(context=context)
            smtp.ehlo("client.example")
        code, text = smtp.mail(sender)
        assert code == 250, (code, text)
        rcpt = {}
        for recipient in recipients:
            reply_code, reply = smtp.rcpt(recipient)
            rcpt[recipient] = (reply_code, reply.decode(errors="replace"))
        if not any(code == 250 for code, _ in rcpt.values()):
            return Sent(rcpt, None)
        raw = content if isinstance(content, bytes) else content.as_bytes()
        try:
            data_code, data_text = smtp.data(raw)
        except smtplib.SMTPDataError as exc:
            data_code, data_text = exc.smtp_code, exc.smtp_error
        return Sent(rcpt, (data_code, data_text.decode(errors="replace")))
