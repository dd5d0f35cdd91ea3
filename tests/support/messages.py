"""Message records made the way the milter makes them, for tests that need records without
sending mail through Postfix: the milter's own decision code (mailpolicy.milter.session and
.records) runs on a message, with the settings loaded from the test's database as the milter
loads them, and the records are written by the recorder's own writer.

`record_message` is the one entry point; the mail-flow suite (tests/mailflow) covers the same
path with a real Postfix.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Literal

from mailpolicy.db import Database
from mailpolicy.messages.records import RecordDraft, write_records
from mailpolicy.milter.policies import Policies
from mailpolicy.milter.records import drafts
from mailpolicy.milter.session import Connection, Transaction, address, at_end, at_rcpt


def record_message(
    database: Database,
    sender: str,
    recipients: list[str],
    *,
    subject: str = "Hello",
    text: str = "Hello.\n",
    drop_action: Literal["reject", "discard", "quarantine"] = "reject",
    client_ip: str = "198.51.100.7",
    queue_id: str = "4AB12C3D4E",
    raw_cap: int = 1 << 20,
) -> list[RecordDraft]:
    """Decide one message as the milter would and write its records; returns them."""
    policies = Policies(database, interval=60)
    assert policies.refresh()
    connection = Connection(client_ip=client_ip, client_hostname="mail.sender.example", helo="mx")
    transaction = Transaction(
        sender=address(f"<{sender}>") or "",
        body_limit=1 << 20,
        recording=True,
        raw_cap=raw_cap if drop_action == "quarantine" else 0,
    )
    accepted = []
    for recipient in recipients:
        decision = at_rcpt(
            policies, connection, transaction, f"<{recipient}>", refuse=drop_action == "reject"
        )
        if decision.refusal is None:
            accepted.append(recipient)
    postfix_id: str | None = None
    if accepted:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(accepted)
        message["Subject"] = subject
        message["Message-ID"] = f"<{queue_id}@sender.example>"
        message.set_content(text)
        head, _, body = message.as_bytes().partition(b"\n\n")
        for line in head.decode().splitlines():
            name, _, value = line.partition(": ")
            transaction.add_header(name, value.encode())
        transaction.add_body(body)
        at_end(
            policies,
            connection,
            transaction,
            trusted_id=None,
            drop_action=drop_action,
        )
        postfix_id = queue_id
    made = drafts(connection, transaction, postfix_id=postfix_id, versions=policies.state.versions)
    with database.transaction() as session:
        write_records(session, made)
    return made
