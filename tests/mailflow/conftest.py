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

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.api import make_tenant
from tests.support.mailflow import (
    MAILPOLICY,
    Account,
    MailSystem,
    Process,
    milter_environment,
    running,
)
from tests.support.postfix import TRUSTED_AUTHSERV_ID, Postfix, free_port

AUTH_MILTER = Path(__file__).with_name("authmilter.py")
PASSING_DOMAINS = "partner.example"


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
            # One milter per Postfix follows its log (more would add each line twice).
            milter_environment(
                url, milter_socket_group="postfix", postfix_maillog=str(postfix.maillog)
            ),
            directory / "milter-main.log",
        )
    }
    for name, settings in (("quarantine", {"drop_action": "quarantine"}), ("restart", {})):
        milters[name] = Process(
            [str(MAILPOLICY), "milter", "--listen", f"inet:127.0.0.1:{ports[name]}"],
            ports[name],
            milter_environment(url, **settings),
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
    with running(postfix, milters, directory, url) as system:
        yield system


# ---- settings through the API -------------------------------------------------------------


@pytest.fixture
def account(mail: MailSystem) -> Account:
    return Account(mail, make_tenant(mail.app.state.db, mail.unique("mailflow")))
