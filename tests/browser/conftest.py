"""The dashboard in a real browser: Debian's chromium driven by Playwright's sync API, a real
`mailpolicy serve` per test module, axe-core from npm (tests/browser/package.json).

- `server`: the module's server (uvicorn on a free port of 127.0.0.1, a migrated SQLite
  database in a temporary directory) and an account with a Write and a Read token;
  `base_url`, `account_id`, `write_token` and `read_token` hand out its parts, `settings_api`
  speaks to the account's settings API, `sdk` is the official Python SDK pointed at it. A
  module gives its server other MAILPOLICY_* settings by overriding `server_settings` (e.g.
  {"dashboard_idle_seconds": "3"});
- `protect_domain(domain, *drops)`: a protected domain made ACTIVE on the module's server;
- `mail` and `mail_server`: a real Postfix whose listener quarantines (a milter with
  MAILPOLICY_DROP_ACTION=quarantine), and its app served on 127.0.0.1 (a module that sends
  mail overrides `server` with `mail_server`); `tour`: entries in every resource and mail
  through that Postfix on `mail_server`'s account, and the path of every page;
- `browser`: one chromium for the session; `context` and `page`: a fresh context (its own
  cookies) per test at a desktop's size; every error its pages log is collected by
  `console`, and a test whose pages logged one fails;
- `login(page, token=None)`: the login form, as a person fills it in;
- `axe(page)`: axe-core's rules on the page; fails on a serious or critical violation.

The layout of the suite keeps helpers shared by modules in tests/support, and no test module
imports another (tests/test_layout.py): what is particular to the browser is handed out here,
as fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from cloudflare import Cloudflare
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Response,
    ViewportSize,
    WebError,
    sync_playwright,
)

from mailpolicy import migrate
from mailpolicy.db import Database
from mailpolicy.resources import REGISTRY
from tests.support.api import SETTINGS_PATH, Tenant, listening, make_tenant, protect
from tests.support.mailflow import (
    MAILPOLICY,
    Account,
    MailSystem,
    Process,
    eventually,
    message,
    milter_environment,
    running,
    send,
    settle,
)
from tests.support.postfix import Postfix, free_port
from tests.support.sdk import CASES
from tests.support.servers import Replica

# Debian's package (the Makefile installs it when missing); Playwright never downloads one.
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
# What axe-core reports that a page must not have.
BARRING_IMPACTS = ("serious", "critical")
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


# ---- the server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """The dashboard's server on 127.0.0.1 and an account with a Write and a Read token."""

    base: str  # http://127.0.0.1:PORT
    tenant: Tenant
    database_url: str
    log: Path | None = None  # the server's stderr, when it runs in a process of its own


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """MAILPOLICY_* settings of the module's server, by their names (a module overrides it)."""
    return {}


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_settings: dict[str, str]
) -> Iterator[Server]:
    """`mailpolicy serve` (uvicorn, one worker) in a subprocess, as an operator runs it."""
    directory = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{directory / 'mailpolicy.db'}"
    migrate.upgrade(url)
    database = Database(url)
    try:
        tenant = make_tenant(database, "browser")
    finally:
        database.dispose()
    replica = Replica(directory, url, settings=server_settings)
    replica.start()
    try:
        yield Server(replica.base, tenant, url, replica.log)
    finally:
        replica.stop()


@pytest.fixture
def base_url(server: Server) -> str:
    """The server's root: the dashboard is at {base_url}/dashboard."""
    return server.base


@pytest.fixture
def account_id(server: Server) -> str:
    return server.tenant.id


@pytest.fixture
def write_token(server: Server) -> str:
    return server.tenant.write_token


@pytest.fixture
def read_token(server: Server) -> str:
    return server.tenant.read_token


@pytest.fixture(scope="module")
def settings_api(server: Server) -> Iterator[httpx.Client]:
    """The account's settings API with its Write token: `settings_api.get("block_senders")`."""
    with httpx.Client(
        base_url=server.base + SETTINGS_PATH.format(account=server.tenant.id) + "/",
        headers=server.tenant.write,
        timeout=30,
    ) as client:
        yield client


@pytest.fixture
def sdk(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloudflare]:
    """The official SDK with the Write token, pointed at the server by its base_url alone; it
    never retries and validates every answer against its types."""
    for name in list(os.environ):
        if name.startswith("CLOUDFLARE_"):
            monkeypatch.delenv(name)  # a developer's real credentials must not leak in
    with Cloudflare(
        base_url=f"{server.base}/client/v4",
        api_token=server.tenant.write_token,
        max_retries=0,
        _strict_response_validation=True,
    ) as client:
        yield client


@pytest.fixture(scope="module")
def protect_domain(server: Server, settings_api: httpx.Client) -> Callable[..., dict[str, Any]]:
    """`protect_domain(domain, *drops)`: a protected domain created through the API, dropping
    the dispositions `drops`, and made ACTIVE (as `mailpolicy domains activate` does)."""

    def create(resource: str, body: dict[str, Any]) -> dict[str, Any]:
        response = settings_api.post(resource, json=body)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()["result"]
        return result

    def protected(domain: str, *drops: str) -> dict[str, Any]:
        database = Database(server.database_url)
        try:
            return protect(create, database, domain, *drops)
        finally:
            database.dispose()

    return protected


# ---- mail through Postfix -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mail(template_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailSystem]:
    """A real Postfix with one listener, "quarantine", whose milter holds what a protected
    domain drops in Postfix's hold queue; its app (on the same database) can release it."""
    if shutil.which("postfix") is None or shutil.which("smtp-sink") is None:
        raise RuntimeError("Postfix is not installed: `make unit` installs it (see Makefile)")
    directory = tmp_path_factory.mktemp("mailflow")
    database = directory / "mailpolicy.db"
    shutil.copyfile(template_db, database)
    url = f"sqlite:///{database}"
    port = free_port()
    postfix = Postfix({"quarantine": {"smtpd_milters": f"inet:127.0.0.1:{port}"}})
    milters = {
        "quarantine": Process(
            [str(MAILPOLICY), "milter", "--listen", f"inet:127.0.0.1:{port}"],
            port,
            milter_environment(url, drop_action="quarantine"),
            directory / "milter-quarantine.log",
        )
    }
    with running(postfix, milters, directory, url) as system:
        yield system


@pytest.fixture(scope="module")
def mail_server(mail: MailSystem) -> Iterator[Server]:
    """The mail system's app (the dashboard with it) served by uvicorn on 127.0.0.1, and an
    account of its own."""
    tenant = make_tenant(mail.app.state.db, mail.unique("browser"))
    with listening(mail.app, mail.app.state.settings) as port:
        yield Server(f"http://127.0.0.1:{port}", tenant, mail.app.state.db.url)


# The resources whose CSV import is one atomic batch of creates and edits.
IMPORTABLE = {spec.path for spec, _ in REGISTRY if spec.batch == "full"}


@pytest.fixture(scope="module")
def tour(mail: MailSystem, mail_server: Server) -> dict[str, str]:
    """On `mail_server`'s account: three entries in every resource, a protected domain, and
    mail through Postfix: a message delivered, one held in quarantine, one refused at RCPT.
    Gives each page's path under /dashboard by a name: "overview", "messages", "message",
    "held message", "refused message", "test", "whatif", "audit", and for each resource R
    "R", "R/new", "R/entry" (its first entry) and, if it has an atomic batch, "R/import"."""
    tenant = mail_server.tenant
    account = Account(mail, tenant)
    entries = {
        case.attr: [account.create(case.attr, case.nth(n)) for n in range(3)] for case in CASES
    }
    domain = account.protect(mail.unique("tour") + ".example", "MALICIOUS")["domain"]
    account.create(
        "content_policies",
        {"name": "Wire", "pattern": "wire transfer", "targets": ["BODY"], "enabled": True},
    )
    account.create(
        "block_senders",
        {"pattern": "spam.example", "pattern_type": "DOMAIN", "is_regex": False},
    )
    settle()
    to = [f"ann@{domain}", f"bob@{domain}"]
    mails = {
        "message": ("friend@partner.example", "Lunch on Friday", "Shall we meet at noon?\n"),
        "held message": ("boss@vendor.example", "Urgent payment", "Make the wire transfer.\n"),
        "refused message": ("promo@mail.spam.example", "Offers", "Cheap watches.\n"),
    }
    for sender, subject, text in mails.values():
        send(
            mail.postfix.port("quarantine"),
            sender,
            to,
            message(subject, sender, to, text=text, display_name=sender.split("@")[0].title()),
        )

    def records() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = mail.client.get(
            f"/client/v4/accounts/{tenant.id}/email-security/investigate",
            headers=tenant.read,
        ).json()["result"]
        return found

    found = eventually(records, lambda found: len(found) == len(mails))
    assert len(found) == len(mails), found
    by_sender = {r["envelope_from"]: r["id"] for r in found}
    paths = {
        "overview": "",
        "messages": "/messages",
        "test": "/test",
        "whatif": "/whatif",
        "audit": "/audit",
    }
    for name, (sender, _, _) in mails.items():
        paths[name] = f"/messages/{quote(by_sender[sender], safe='')}"
    for path, made in entries.items():
        paths[path] = f"/{path}"
        paths[f"{path}/new"] = f"/{path}/new"
        paths[f"{path}/entry"] = f"/{path}/{quote(str(made[0]['id']), safe='')}"
        if path in IMPORTABLE:
            paths[f"{path}/import"] = f"/{path}/import"
    return paths


# ---- the browser --------------------------------------------------------------------------


@dataclass
class Console:
    """Every error a context's pages logged (a CSP violation is logged as one) and every
    uncaught exception they raised.

    A page's own answer is not an error: Chromium logs "Failed to load resource" for a page
    answered 4xx (a 401 login page, a 403 refusal, a 422 form), whether the browser navigated
    to it or htmx fetched it to swap in (hx-boost), and the tests check those statuses
    themselves. The same message for a 5xx, or for anything else a page loads (a script, a
    style, an image, the icon the browser asks for), is an error."""

    errors: list[str] = field(default_factory=list)
    _answers: set[str] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.on("response", self._response)
        context.on("console", self._console)
        context.on("weberror", self._weberror)

    def _response(self, response: Response) -> None:
        request = response.request
        answer = request.is_navigation_request() or "hx-request" in request.headers
        if answer and response.status < 500:
            self._answers.add(response.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and where in self._answers:
            return
        self.errors.append(f"{message.text} (at {where})")

    def _weberror(self, error: WebError) -> None:
        self.errors.append(f"uncaught: {error.error}")

    def assert_clean(self) -> None:
        assert not self.errors, "the pages logged errors:\n  " + "\n  ".join(self.errors)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `make unit` installs Debian's chromium")
    if not AXE.exists():
        raise RuntimeError(f"{AXE} is missing: `make unit` runs npm ci in tests/browser")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP)
    console.attach(made)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A test whose pages logged an error fails, even when its own assertions held."""
    outcome = yield
    console = getattr(item, "funcargs", {}).get("console")
    if isinstance(console, Console):
        console.assert_clean()
    return outcome


@pytest.fixture
def login(server: Server) -> Callable[..., None]:
    """`login(page, token=None)`: the login form filled in and sent, with the Write token
    unless told otherwise; ends on the overview."""

    def log_in(page: Page, token: str | None = None) -> None:
        page.goto(f"{server.base}/dashboard")
        page.fill("#token", token or server.tenant.write_token)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{server.base}/dashboard")
        assert page.locator("h1").inner_text() == "Overview"

    return log_in


def check_accessibility(page: Page, what: str = "") -> None:
    """axe-core's rules on the page as it is now; fails on any serious or critical violation.

    The script goes in through page.evaluate, which Playwright runs as DevTools does: the
    page's CSP (script-src 'self') does not govern it. page.add_script_tag(path=...) inserts
    an inline <script>, which that CSP refuses (the violation is logged, and axe is never
    defined), and a context made with bypass_csp=True would hide the violations these tests
    look for."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    violations: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ["violations"]});
            return results.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary})),
            }));
        }"""
    )
    barring = [v for v in violations if v["impact"] in BARRING_IMPACTS]
    assert not barring, f"axe-core on {what or page.url}:\n" + "\n".join(
        _described(v) for v in barring
    )


def _described(violation: dict[str, Any]) -> str:
    lines = [f"- [{violation['impact']}] {violation['id']}: {violation['help']}"]
    for node in violation["nodes"][:5]:
        lines.append(f"    at {json.dumps(node['target'])}")
        lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
    if len(violation["nodes"]) > 5:
        lines.append(f"    ... and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


@pytest.fixture
def axe() -> Callable[..., None]:
    """`axe(page, what="")`: see check_accessibility."""
    return check_accessibility
