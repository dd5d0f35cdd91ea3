"""The mail system the mail-flow tests send through, and how they send: milters in subprocesses
(`Process`), the Postfix, app and milters of one module (`MailSystem`, which the `mail` fixture
of tests/mailflow/conftest.py starts), an account in its database with settings made through
the API (`Account`), the time a running milter takes to pick up a change (`settle`), and SMTP
(`message`, `send`, `Sent`).

The Postfix itself is in tests/support/postfix.py.
"""

from __future__ import annotations

import itertools
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mailpolicy.app import create_app
from mailpolicy.config import Settings
from tests.support.api import Tenant, protect
from tests.support.postfix import TRUSTED_AUTHSERV_ID, Postfix, wait_for

MAILPOLICY = Path(sys.executable).with_name("mailpolicy")

# The milter's records reach the database within this many seconds (written by a thread).
RECORD_WAIT = 10.0
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


def milter_environment(database_url: str, **settings: str) -> dict[str, str]:
    """A milter's environment: only these MAILPOLICY_ settings (`name=value` for each other
    setting), on `database_url`, trusting the test Postfix's authentication milter."""
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


@contextmanager
def running(
    postfix: Postfix, milters: dict[str, Process], directory: Path, url: str
) -> Iterator[MailSystem]:
    """Start the milters, then Postfix, and the app on `url`; stop them all on the way out."""
    app = create_app(Settings(database_url=url, postfix_config_dir=str(postfix.directory)))
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
        return protect(self.create, self.mail.app.state.db, domain, *drops)


def eventually(read: Any, check: Any) -> Any:
    """`read()` again until `check(value)` holds (records are written, and Postfix's log
    followed, by the milter's threads)."""
    deadline = time.monotonic() + RECORD_WAIT
    while True:
        value = read()
        if check(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


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
    client: tuple[str, str] | None = None,
) -> Sent:
    """Send `content`; `client` = (IP, name) makes Postfix (a listener that authorises XCLIENT)
    treat the session as coming from that client, as if it had connected from there."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("client.example")
        if client is not None:
            ip, name = client
            code, text = smtp.docmd("XCLIENT", f"ADDR={ip} NAME={name} HELO={name}")
            assert code == 220, (code, text)
            smtp.ehlo(name)
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
