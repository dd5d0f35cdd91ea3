"""The message recorder: records queue in bounded memory while the database cannot be written,
are written in order once it can, and what overflows the bound is dropped and counted."""

from __future__ import annotations

import datetime as dt
import email.utils
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailpolicy import migrate
from mailpolicy.access.accounts import Account, create_account
from mailpolicy.db import Database
from mailpolicy.messages.recorder import MessageRecorder
from mailpolicy.messages.records import MessageRecord, RecipientDraft, RecordDraft
from mailpolicy.milter import records


def draft(account_id: str, n: int) -> RecordDraft:
    return RecordDraft(
        account_id=account_id,
        postfix_id=f"4Q{n:08d}",
        scanned_at=dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=n),
        envelope_from=f"sender{n}@example.net",
        settings_version=1,
        recipients=[
            RecipientDraft("ann@corp.example", "domain-id", "NONE", "delivered", "Delivered.", [])
        ],
    )


@pytest.fixture
def unmigrated(tmp_path: Path) -> str:
    """A database URL whose file has no tables yet: every write fails until it is migrated."""
    return f"sqlite:///{tmp_path / 'late.db'}"


def count(database: Database) -> int:
    with database.transaction(write=False) as session:
        return session.scalar(select(func.count()).select_from(MessageRecord)) or 0


def test_records_wait_for_the_database_and_are_written_in_order(unmigrated: str) -> None:
    database = Database(unmigrated)
    recorder = MessageRecorder(database, 60, capacity=100, retention_days=30)
    try:
        migrate.upgrade(unmigrated)
        with database.transaction() as session:
            account = create_account(session, "late")
        database.dispose()
        Path(unmigrated.removeprefix("sqlite:///")).unlink()  # the database is gone
        recorder.add([draft(account.id, n) for n in range(10)])
        assert recorder.flush() is False  # no tables: nothing written, nothing lost
        assert recorder.pending == 10
        migrate.upgrade(unmigrated)  # back (an empty one, so the account is made again)
        with database.transaction() as session:
            session.add(Account(id=account.id, name="late", settings_version=0))
        recorder.add([draft(account.id, n) for n in range(10, 15)])
        assert recorder.flush() is True
        assert recorder.pending == 0
        assert recorder.written == 15
        with database.transaction(write=False) as session:
            ids = session.scalars(
                select(MessageRecord.postfix_id).order_by(MessageRecord.scanned_at)
            )
            assert list(ids) == [f"4Q{n:08d}" for n in range(15)]
    finally:
        database.dispose()


def test_the_queue_is_bounded_and_drops_are_counted(unmigrated: str) -> None:
    database = Database(unmigrated)
    recorder = MessageRecorder(database, 60, capacity=100, retention_days=30)
    try:
        recorder.add([draft("a" * 32, n) for n in range(150)])
        assert recorder.pending == 100
        assert recorder.dropped == 50
        assert recorder.flush() is False  # no tables yet
        assert recorder.pending == 100
    finally:
        database.dispose()


def test_a_record_the_database_refuses_does_not_hold_back_the_others(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    migrate.upgrade(url)
    database = Database(url)
    try:
        with database.transaction() as session:
            account = create_account(session, "order")
        recorder = MessageRecorder(database, 60, capacity=10, retention_days=30)
        recorder.add([draft(account.id, 0), draft("b" * 32, 1)])  # no such account
        recorder.add([draft(account.id, n) for n in range(2, 4)])
        assert recorder.flush() is True
        assert recorder.rejected == 1
        assert recorder.written == 3
        assert recorder.pending == 0
        assert count(database) == 3
    finally:
        database.dispose()


@pytest.mark.parametrize(
    "value",
    [
        "ann@corp.example",
        '"A Friend" <friend@x.example>',
        "A Friend <friend@x.example>",
        'a@b.example, "Q, R" <q@r.example>',
        "Bob <bob@x.example>, carl@y.example",
        "(comment) a@b.example",
        "<a@b.example>",
        "Name<a@b.example>",
        "undisclosed-recipients:;",
        "Ann Ünï <ann@x.example>",
        '"quoted \\" name" <q@x.example>',
        "a@b.example (Ann)",
        "",
    ],
)
def test_address_headers_read_as_the_standard_library_reads_them(value: str) -> None:
    """A record's From and To come from a fast path for the common shapes; every shape reads
    exactly as email.utils reads it."""
    assert records._addresses(value) == [
        (name, address) for name, address in email.utils.getaddresses([value]) if address
    ]
    assert records._from(value) == email.utils.parseaddr(value)
