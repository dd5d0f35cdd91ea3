"""Detections acting on real mail: Postfix, the mailpolicy milter scanning each message with a
real rspamd (and ClamAV through it), smtp-sink.

The session's rspamd asks DNS of the tests' loopback authority, which serves the test senders'
SPF and DMARC records. Postfix's clients here all connect from 127.0.0.1, which rspamd treats as
local and skips SPF, DKIM and DMARC for; the listeners authorise XCLIENT, so each test says which
address a message comes from, as a real client's would be seen.

Listeners (each with a mailpolicy milter of its own, over TCP):

- scan: rspamd as configured in production;
- patient: rspamd's address a socket that never answers, `scan_failure=accept`;
- careful: rspamd's address a closed port, `scan_failure=tempfail`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import acceptable_sender
from tests.support.authority import Zones
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
from tests.support.rdap import RdapServer, serving_rdap
from tests.support.rspamd import (
    CLEAN_DOMAIN,
    CLEAN_HOST,
    CLEAN_IP,
    EICAR,
    GTUBE,
    Rspamd,
)

# A client outside 127.0.0.0/8 whose SPF the test DNS does not authorise for any sender.
STRANGER = ("198.51.100.7", "mx.stranger.example")
CLEAN = (CLEAN_IP, CLEAN_HOST)
# DMARC p=reject, no SPF record, an address and an MX: a spoof of it scores too little for
# rspamd to call it spam, so DMARC's verdict is the only one left to act.
SPOOFED_DOMAIN = "shop-c.example.net"
SPOOFED_ZONE = f"""\
{SPOOFED_DOMAIN}. 300 IN A {CLEAN_IP}
{SPOOFED_DOMAIN}. 300 IN MX 10 {CLEAN_HOST}.
_dmarc.{SPOOFED_DOMAIN}. 300 IN TXT "v=DMARC1; p=reject"
"""
TEMPFAIL = "451 4.7.1 mailpolicy cannot scan this message now; try again later"


@pytest.fixture(scope="module")
def rdap() -> Iterator[RdapServer]:
    with serving_rdap() as server:
        yield server


@pytest.fixture(scope="module")
def mail(
    template_db: Path,
    tmp_path_factory: pytest.TempPathFactory,
    rspamd: Rspamd,
    detect_dns: tuple[Zones, int],
    rdap: RdapServer,
) -> Iterator[MailSystem]:
    if shutil.which("postfix") is None or shutil.which("smtp-sink") is None:
        raise RuntimeError("Postfix is not installed: `make test` installs it (see Makefile)")
    detect_dns[0].publish(SPOOFED_ZONE)
    directory = tmp_path_factory.mktemp("detections")
    database = directory / "mailpolicy.db"
    shutil.copyfile(template_db, database)
    url = f"sqlite:///{database}"
    # A socket that takes connections and never answers, and a port nobody listens on.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    closed = free_port()
    rspamds = {
        # RDAP answers from loopback at once: waiting for it makes every first lookup count.
        "scan": {
            "rspamd_url": rspamd.url,
            "rspamd_timeout": "10",
            "rdap_url": rdap.base_url,
            "rdap_wait": "5",
        },
        "patient": {
            "rspamd_url": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "rspamd_timeout": "1",
            "scan_failure": "accept",
        },
        "careful": {
            "rspamd_url": f"http://127.0.0.1:{closed}",
            "scan_failure": "tempfail",
        },
    }
    ports = {name: free_port() for name in rspamds}
    postfix = Postfix(
        {
            name: {
                "smtpd_milters": f"inet:127.0.0.1:{ports[name]}",
                "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
                "mynetworks": f"127.0.0.0/8,{CLEAN_IP}/32,{STRANGER[0]}/32",
            }
            for name in rspamds
        }
    )
    milters = {
        name: Process(
            [str(MAILPOLICY), "milter", "--listen", f"inet:127.0.0.1:{ports[name]}"],
            ports[name],
            milter_environment(url, **settings),
            directory / f"milter-{name}.log",
        )
        for name, settings in rspamds.items()
    }
    with silent, running(postfix, milters, directory, url) as system:
        yield system


def investigate(account: Account, *parts: str, **params: str) -> Any:
    """The `result` of an investigate read of `account`'s records."""
    path = "/".join([f"/client/v4/accounts/{account.tenant.id}/email-security/investigate", *parts])
    response = account.mail.client.get(path, params=params, headers=account.tenant.read)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def one(
    mail: MailSystem,
    sender: str,
    to: str,
    text: str = "Hello.\n",
    *,
    listener: str = "scan",
    client: tuple[str, str] = CLEAN,
) -> tuple[str, tuple[int, str]]:
    """One message from `sender` to `to` through `listener`: its subject and the answer to its
    DATA."""
    subject = mail.unique(f"{listener}-")
    sent = send(
        mail.postfix.port(listener),
        sender,
        [to],
        message(subject, sender, [to], text=text),
        client=client,
    )
    assert sent.data is not None, sent
    return subject, sent.data


def reasons(mail: MailSystem, subject: str) -> tuple[str, str, list[str]]:
    """How a delivered message was labelled: its recipients (comma-joined), disposition and
    the X-MailPolicy-Reasons items."""
    delivered = mail.postfix.wait_delivered(subject)
    items = str(delivered.message["X-MailPolicy-Reasons"]).split("; ")
    return (
        ",".join(sorted(delivered.recipients)),
        delivered.message["X-MailPolicy-Disposition"],
        items,
    )


def test_gtube_is_dropped_where_spam_is_dropped_and_labelled_elsewhere(
    mail: MailSystem, account: Account
) -> None:
    strict = account.protect(mail.unique("gtube") + ".example", "SPAM")
    lax = account.protect(mail.unique("gtube-lax") + ".example", "MALICIOUS")
    settle()
    sender = f"news@{CLEAN_DOMAIN}"
    ann, bob = f"ann@{strict['domain']}", f"bob@{lax['domain']}"
    subject = mail.unique("gtube-")
    spam = message(subject, sender, [ann, bob], text=f"Buy now.\n{GTUBE}\n")
    sent = send(mail.postfix.port("scan"), sender, [ann, bob], spam, client=CLEAN)
    assert sent.data is not None
    assert sent.data[0] == 250, sent
    recipients, disposition, items = reasons(mail, subject)
    assert recipients == bob  # ann's domain drops SPAM: she was removed
    assert disposition == "SPAM"
    assert any(item.startswith("detection rspamd action 'reject'") for item in items), items
    # Only ann: the whole message is refused, and Postfix never queues it.
    alone, reply = one(mail, sender, ann, f"{GTUBE}\n")
    assert reply[0] == 550, reply
    assert reply[1].endswith("mailpolicy: disposition SPAM"), reply
    assert not mail.postfix.was_delivered(alone)


def test_an_acceptable_sender_rescues_spam_but_not_a_virus(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("rescue") + ".example", "SPAM", "MALICIOUS")
    sender = f"billing@{CLEAN_DOMAIN}"
    policy = account.create(
        "allow_policies",
        acceptable_sender(sender),
    )
    settle()
    ann = f"ann@{corp['domain']}"
    subject, reply = one(mail, sender, ann, f"Your invoice.\n{GTUBE}\n")
    assert reply[0] == 250, reply
    recipients, disposition, items = reasons(mail, subject)
    assert (recipients, disposition) == (ann, "NONE")
    rescued = f"overridden by allow_policies/{policy['id']}"
    assert any(item.startswith("detection rspamd") and rescued in item for item in items), items

    # EICAR in an attachment: MALICIOUS, which an acceptable sender does not remove.
    virus = mail.unique("eicar-")
    infected = message(virus, sender, [ann], text="The file you asked for.\n")
    infected.add_attachment(EICAR, maintype="application", subtype="octet-stream", filename="a.com")
    sent = send(mail.postfix.port("scan"), sender, [ann], infected, client=CLEAN)
    assert sent.data is not None
    assert sent.data[0] == 550, sent
    assert sent.data[1].endswith("mailpolicy: disposition MALICIOUS"), sent
    assert not mail.postfix.was_delivered(virus)
    record = eventually(
        lambda: investigate(account, subject=virus, detections_only="true"), lambda found: found
    )
    assert [r["final_disposition"] for r in record] == ["MALICIOUS"]
    found = investigate(account, record[0]["id"], "detections")
    assert "Eicar-Test-Signature" in str(found), found


def test_dmarc_p_reject_makes_a_spoof(mail: MailSystem, account: Account) -> None:
    corp = account.protect(mail.unique("dmarc") + ".example", "SPOOF")
    ann = f"ann@{corp['domain']}"
    settle()
    for sender, client, dropped in (
        (f"orders@{SPOOFED_DOMAIN}", STRANGER, True),
        # The clean domain publishes p=none: its failure is no spoof.
        (f"orders@{CLEAN_DOMAIN}", STRANGER, False),
    ):
        subject, reply = one(mail, sender, ann, "Please pay the attached invoice.\n", client=client)
        if dropped:
            assert reply[0] == 550, reply
            assert reply[1].endswith("mailpolicy: disposition SPOOF"), reply
            assert not mail.postfix.was_delivered(subject)
        else:
            assert reply[0] == 250, reply
            mail.postfix.wait_delivered(subject)
        [record] = eventually(
            lambda subject=subject: investigate(account, subject=subject), lambda found: found
        )
        assert record["smtp_previous_hop_ip"] == STRANGER[0]
        assert record["validation"]["dmarc"] == "fail"
        spoofs = [f["name"] for f in record["findings"] if f["detection"] == "SPOOF"]
        assert spoofs == (["rspamd/DMARC_POLICY_REJECT"] if dropped else []), record["findings"]


def test_a_lookalike_is_dropped_until_a_trusted_domain_says_it_is_ours(
    mail: MailSystem, account: Account
) -> None:
    name = mail.unique("northwind")
    corp = account.protect(f"{name}.org", "SUSPICIOUS")
    lookalike = f"n0rth{name.removeprefix('north')}.org"
    sender = f"payments@{lookalike}"
    ann = f"ann@{corp['domain']}"
    settle()
    first, reply = one(mail, sender, ann, "New bank details.\n", client=STRANGER)
    assert reply[0] == 550, reply
    assert not mail.postfix.was_delivered(first)

    trusted = account.create(
        "trusted_domains",
        {"pattern": lookalike, "is_regex": False, "is_recent": False, "is_similarity": True},
    )
    settle()
    second, reply = one(mail, sender, ann, "New bank details.\n", client=STRANGER)
    assert reply[0] == 250, reply
    recipients, disposition, items = reasons(mail, second)
    assert (recipients, disposition) == (ann, "NONE")
    cancelled = f"detection lookalike {lookalike}: confusable characters of {corp['domain']}"
    assert f"{cancelled} overridden by trusted_domains/{trusted['id']}" in items, items


def test_a_domain_registered_days_ago_is_suspicious_until_trusted_as_recent(
    mail: MailSystem, account: Account, rdap: RdapServer
) -> None:
    corp = account.protect(mail.unique("recent") + ".example", "SUSPICIOUS")
    name = mail.unique("fresh")
    fresh = f"{name}.org"
    rdap.publish(fresh, registered=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
    sender = f"sales@{fresh}"
    ann = f"ann@{corp['domain']}"
    settle()
    first, reply = one(mail, sender, ann, client=STRANGER)
    assert reply[0] == 550, reply
    assert reply[1].endswith("mailpolicy: disposition SUSPICIOUS"), reply
    assert not mail.postfix.was_delivered(first)
    assert rdap.count(fresh) == 1
    trusted = account.create(
        "trusted_domains",
        {
            "pattern": rf"^{name}[.]org$",
            "is_regex": True,
            "is_recent": True,
            "is_similarity": False,
        },
    )
    settle()
    second, reply = one(mail, sender, ann, client=STRANGER)
    assert reply[0] == 250, reply
    recipients, disposition, items = reasons(mail, second)
    assert (recipients, disposition) == (ann, "NONE")
    cancelled = [i for i in items if i.startswith("detection rdap ")]
    assert cancelled, items
    assert cancelled[0].endswith(f"overridden by trusted_domains/{trusted['id']}"), items
    assert rdap.count(fresh) == 1  # the registration date was remembered


def test_list_mail_is_bulk(mail: MailSystem, account: Account) -> None:
    corp = account.protect(mail.unique("bulk") + ".example", "MALICIOUS")
    sender = f"news@{CLEAN_DOMAIN}"
    ann = f"ann@{corp['domain']}"
    settle()
    subject = mail.unique("bulk-")
    newsletter = message(
        subject,
        sender,
        [ann],
        text="This week's news.\n",
        headers=[
            ("List-Id", f"Weekly news <news.{CLEAN_DOMAIN}>"),
            ("List-Unsubscribe", f"<mailto:leave@{CLEAN_DOMAIN}>"),
            ("Precedence", "bulk"),
        ],
    )
    sent = send(mail.postfix.port("scan"), sender, [ann], newsletter, client=CLEAN)
    assert sent.data is not None
    assert sent.data[0] == 250, sent
    recipients, disposition, items = reasons(mail, subject)
    assert (recipients, disposition) == (ann, "BULK")
    assert any(item.startswith("detection rspamd") for item in items), items


def test_rspamd_away_follows_the_failure_policy_without_holding_the_mail(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("away") + ".example", "SPAM")
    sender = f"news@{CLEAN_DOMAIN}"
    ann = f"ann@{corp['domain']}"
    settle()
    # rspamd never answers: after rspamd_timeout the message is decided without a scan.
    accepted, reply = one(mail, sender, ann, f"{GTUBE}\n", listener="patient")
    assert reply[0] == 250, reply
    recipients, disposition, items = reasons(mail, accepted)
    assert (recipients, disposition) == (ann, "NONE")
    assert "rspamd scan failed" in items, items
    # rspamd refuses connections and the policy is tempfail: the client is told to retry.
    deferred, reply = one(mail, sender, ann, "Hello.\n", listener="careful")
    assert f"{reply[0]} {reply[1]}" == TEMPFAIL, reply
    assert not mail.postfix.was_delivered(deferred)
    # The same GTUBE through the scanning listener: dropped, so the failure was the only reason.
    scanned, reply = one(mail, sender, ann, f"{GTUBE}\n")
    assert reply[0] == 550, reply
    assert not mail.postfix.was_delivered(scanned)
