"""The API benchmark's data: N entries of every settings resource in one account, fast.

Every entry starts as the JSON body a client would send; it is validated by the resource's
own request schema and goes through the same steps as a create through the API (the
resource's column mapping and special rules, its semantic checks, the duplicate key, what
happens after a create), and only the insert itself is done in bulk, through SQLAlchemy Core
into the Alembic-migrated schema. Protected domains are then activated, as
`mailpolicy domains activate` does (a domain created through the API waits for its DNS TXT
record, and the background verifier would go looking for 100,000 of them).

bench/api.py checks a sample of what was stored through the API itself (see `samples`).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, insert, inspect, update

from mailpolicy import migrate
from mailpolicy.access.accounts import Account as AccountRow
from mailpolicy.access.accounts import create_account
from mailpolicy.access.credentials import Permission, create_token
from mailpolicy.audit.events import CLI
from mailpolicy.config import Rules
from mailpolicy.db import Database
from mailpolicy.resources import (
    REGISTRY,
    allow_policies,
    block_senders,
    content_policies,
    domains,
    impersonation_registry,
    sending_domain_restrictions,
    trusted_domains,
    url_ignore_patterns,
)
from mailpolicy.resources.spec import ResourceSpec, dedupe_key

Body = dict[str, Any]
CHUNK = 5_000

TLDS = ("com", "net", "org", "io", "de", "co.uk", "fr", "nl")
WORDS = (
    *("acme", "alpha", "bank", "beta", "cloud", "data", "delta", "echo", "fast", "global"),
    *("green", "hub", "info", "king", "labs", "lima", "mail", "media", "metro", "micro"),
    *("nova", "omega", "open", "peak", "post", "prime", "quick", "red", "safe", "shop"),
    *("smart", "solar", "star", "sun", "tech", "trade", "trust", "union", "vista", "web"),
)
FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie", "Kim", "Lee")
LAST = ("Smith", "Garcia", "Chen", "Müller", "Okafor", "Rossi", "Novak", "Silva", "Dubois")
DISPOSITIONS = ("MALICIOUS", "MALICIOUS-BEC", "SUSPICIOUS", "SPOOF", "SPAM", "BULK")


# ---- what clients send ------------------------------------------------------------------------


def _ipv4(serial: int) -> str:
    # 11.0.0.0/8 is public and holds 16 million addresses, one per serial.
    address = 0x0B000000 + serial
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _sender(rnd: random.Random, serial: int) -> Body:
    """A sender pattern as people type them: addresses, domains (some in capitals, some with a
    stray space), IPv4 addresses and CIDR blocks, IPv6 addresses, a few regexes."""
    word, tld = rnd.choice(WORDS), rnd.choice(TLDS)
    kind = rnd.random()
    if kind < 0.01:
        return {
            "pattern": rf".*@{word}{serial}\.(com|net)",
            "pattern_type": "EMAIL",
            "is_regex": True,
        }
    if kind < 0.45:
        pattern = f"{rnd.choice(WORDS)}.{serial}@{word}{serial % 9973}.{tld}"
        return {"pattern": pattern, "pattern_type": "EMAIL", "is_regex": False}
    if kind < 0.85:
        pattern = f"{word}{serial}.{tld}"
        if rnd.random() < 0.05:
            pattern = f" {pattern.upper()}"
        return {"pattern": pattern, "pattern_type": "DOMAIN", "is_regex": False}
    if kind < 0.93:
        return {"pattern": _ipv4(serial), "pattern_type": "IP", "is_regex": False}
    if kind < 0.97:
        cidr = f"{_ipv4(serial)}/32"
        return {"pattern": cidr, "pattern_type": "IP", "is_regex": False}
    v6 = f"2001:db8:{serial >> 16:x}:{serial & 0xFFFF:x}::1"
    return {"pattern": v6, "pattern_type": "IP", "is_regex": False}


def _comment(rnd: random.Random, serial: int) -> str | None:
    return f"ticket {serial} ({rnd.choice(WORDS)} team)" if rnd.random() < 0.3 else None


def allow_policy(rnd: random.Random, serial: int) -> Body:
    role = rnd.random()
    return {
        **_sender(rnd, serial),
        "is_trusted_sender": role < 0.45,
        "is_acceptable_sender": 0.45 <= role < 0.85,
        "is_exempt_recipient": role >= 0.85,
        "verify_sender": rnd.random() < 0.3,
        "comments": _comment(rnd, serial),
    }


def block_sender(rnd: random.Random, serial: int) -> Body:
    return {**_sender(rnd, serial), "comments": _comment(rnd, serial)}


def trusted_domain(rnd: random.Random, serial: int) -> Body:
    word, tld = rnd.choice(WORDS), rnd.choice(TLDS)
    regex = rnd.random() < 0.01
    return {
        "pattern": rf"{word}{serial}\.(com|net)" if regex else f"{word}{serial}.partner.{tld}",
        "is_regex": regex,
        "is_recent": rnd.random() < 0.5,
        "is_similarity": rnd.random() < 0.5,
        "comments": _comment(rnd, serial),
    }


def impersonation_entry(rnd: random.Random, serial: int) -> Body:
    first, last = rnd.choice(FIRST), rnd.choice(LAST)
    synced = rnd.random() < 0.1
    return {
        "name": f"{first} {last} {serial}",
        "email": f"{first.lower()}.{serial}@corp{serial % 50}.example",
        "is_email_regex": False,
        "provenance": "SNOOPY-OFFICE_365" if synced else "A1S_INTERNAL",
        "directory_id": 7 if synced else None,
        "directory_node_id": serial if synced else None,
        "comments": _comment(rnd, serial),
    }


def protected_domain(rnd: random.Random, serial: int) -> Body:
    modes = rnd.choices(
        (["DIRECT"], ["BCC"], ["DIRECT", "BCC"], ["JOURNAL"], ["API", "RETRO_SCAN"]),
        weights=(50, 25, 15, 7, 3),
    )[0]
    return {
        "domain": f"{rnd.choice(WORDS)}{serial}.{rnd.choice(TLDS)}",
        "allowed_delivery_modes": modes,
        "drop_dispositions": [d for d in DISPOSITIONS if rnd.random() < 0.3],
        "ip_restrictions": [f"{_ipv4(serial)}/32"] if rnd.random() < 0.05 else [],
        "regions": ["GLOBAL"],
        "transport": f"smtp://mx{serial % 10}.{rnd.choice(WORDS)}.net" if serial % 4 else None,
    }


def sending_domain_restriction(rnd: random.Random, serial: int) -> Body:
    domain = f"{rnd.choice(WORDS)}{serial}.tls.{rnd.choice(TLDS)}"
    return {
        "domain": domain,
        "exclude": [f"legacy.{domain}"] if rnd.random() < 0.3 else [],
        "comments": _comment(rnd, serial),
    }


def url_ignore_pattern(rnd: random.Random, serial: int) -> Body:
    word, tld = rnd.choice(WORDS), rnd.choice(TLDS)
    return {
        "pattern": rf"https?://([a-z]+\.)?{word}{serial}\.{tld.replace('.', '[.]')}/.*",
        "comments": _comment(rnd, serial),
    }


def content_policy(rnd: random.Random, serial: int) -> Body:
    word = rnd.choice(WORDS)
    return {
        "name": f"{word.title()} campaign {serial}",
        "pattern": rf"{word}{serial}\s+(offer|deal|voucher)",
        "targets": rnd.choice((["SUBJECT"], ["BODY"], ["SUBJECT", "BODY"])),
        "enabled": rnd.random() < 0.9,
        "notes": _comment(rnd, serial),
    }


GENERATORS: dict[str, Callable[[random.Random, int], Body]] = {
    allow_policies.SPEC.path: allow_policy,
    block_senders.SPEC.path: block_sender,
    trusted_domains.SPEC.path: trusted_domain,
    impersonation_registry.SPEC.path: impersonation_entry,
    domains.SPEC.path: protected_domain,
    sending_domain_restrictions.SPEC.path: sending_domain_restriction,
    url_ignore_patterns.SPEC.path: url_ignore_pattern,
    content_policies.SPEC.path: content_policy,
}
SPECS = {spec.path: spec for spec, _ in REGISTRY}
assert set(GENERATORS) == set(SPECS), "every resource has a generator"


def entry(path: str, serial: int) -> tuple[str, Body]:
    """The id and body of one resource's entry number `serial`: the same on every run, and
    each computed on its own, so that chunks of them can be built in parallel."""
    rnd = random.Random(f"{path}:{serial}")
    entry_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
    return entry_id, GENERATORS[path](rnd, serial)


# ---- what the API stores --------------------------------------------------------------------


def stored(
    spec: ResourceSpec, account_id: str, body: Body, entry_id: str, when: dt.datetime, rules: Rules
) -> dict[str, Any]:
    """The column values a create through the API stores for `body` (crud.create_entry's steps,
    without a session: the database is empty of these entries, so there is nothing to clash
    with but each other, which the unique index would refuse)."""
    request = spec.create.model_validate_json(json.dumps(body))
    row = spec.model(account_id=account_id, created_at=when)
    values = spec.to_columns(request.model_dump())
    if spec.before_write is not None:
        spec.before_write(None, values)
    for name, value in values.items():
        setattr(row, name, value)
    spec.check(row, rules)
    row.dedupe_key = dedupe_key(spec, row)
    row.modified_at = when
    row.id = entry_id
    if spec is domains.SPEC:
        # As mailpolicy.resources.domains.activate leaves it.
        row.status = domains.ACTIVE
        row.verification_token = None
        row.pending_since = None
        row.verification_message = None
        row.authorized_at = when
    state = row.__dict__
    return {
        attr.columns[0].name: state[attr.key]
        for attr in inspect(spec.model).column_attrs
        if attr.key in state
    }


@dataclass(frozen=True)
class Account:
    id: str
    token: str  # a Write API token
    entries: int  # of every resource


@dataclass(frozen=True)
class Seeded:
    big: Account  # what the scenarios measure
    mail: Account  # the soak's evaluations: an account the soak's writes leave alone
    check: Account  # no settings: sample entries are created here, as a client would
    seconds: float


MAIL_ENTRIES = 1_000


def _timeline(entries: int) -> tuple[dt.datetime, dt.timedelta]:
    """Creation times: spread over the year before now, in the order of the serials."""
    end = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return end - dt.timedelta(days=365), dt.timedelta(days=365) / max(entries, 1)


Job = tuple[str, str, bool, int, int, dt.datetime, dt.timedelta]


def _chunk(job: Job) -> list[dict[str, Any]]:
    """The rows of entries first..stop-1 of one resource; `known_ids`: the ids `entry` gives
    (the big account's, which the scenarios address), or else fresh ones."""
    path, account_id, known_ids, first, stop, start, step = job
    spec, rules = SPECS[path], Rules()
    rows = []
    for serial in range(first, stop):
        entry_id, body = entry(path, serial)
        if not known_ids:
            entry_id = str(uuid.uuid4())
        rows.append(stored(spec, account_id, body, entry_id, start + step * serial, rules))
    return rows


def seed(url: str, entries: int, processes: int) -> Seeded:
    """Migrate a fresh database at `url` and fill it; rows are built by `processes` processes
    while this one inserts them."""
    started = time.perf_counter()
    migrate.upgrade(url)
    database = Database(url)
    mail_entries = min(MAIL_ENTRIES, entries)
    try:
        made: list[Account] = []
        with database.transaction() as session:
            for name, count in (("big", entries), ("mail", mail_entries), ("check", 0)):
                account_id = create_account(session, f"api-bench-{name}").id
                secret = create_token(
                    session, account_id, Permission.WRITE, "api benchmark", by=CLI
                )[1]
                made.append(Account(account_id, secret, count))
        big, mail, check = made
        sqlite = database.engine.dialect.name == "sqlite"
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes) as pool:
            for path, spec in SPECS.items():
                table = cast(Table, spec.model.__table__)
                begun = time.perf_counter()
                jobs: list[Job] = []
                for account in (big, mail):
                    start, step = _timeline(account.entries)
                    jobs += [
                        (
                            path,
                            account.id,
                            account is big,
                            first,
                            min(first + CHUNK, account.entries),
                            start,
                            step,
                        )
                        for first in range(0, account.entries, CHUNK)
                    ]
                with database.engine.connect() as conn:
                    if sqlite:
                        # This connection only, outside a transaction as SQLite wants:
                        # nothing here needs to survive a crash.
                        raw = conn.connection.driver_connection
                        raw.execute("PRAGMA synchronous=OFF")
                        raw.execute("PRAGMA cache_size=-262144")
                    conn.begin()
                    for rows in pool.imap(_chunk, jobs):
                        conn.execute(insert(table), rows)
                    conn.commit()
                took = time.perf_counter() - begun
                print(
                    f"  {path}: {entries:,} + {mail_entries:,} entries in {took:.1f} s", flush=True
                )
        with database.transaction() as session:
            # One settings change each, as the writes above would have made it.
            session.execute(
                update(AccountRow)
                .where(AccountRow.id.in_((big.id, mail.id)))
                .values(settings_version=1)
            )
        if sqlite:
            with database.engine.connect() as conn:
                conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        database.dispose()
    return Seeded(big, mail, check, time.perf_counter() - started)


def ids(path: str, entries: int, count: int) -> list[str]:
    """The ids of `count` entries spread evenly over one resource."""
    every = max(entries // count, 1)
    return [entry(path, serial)[0] for serial in range(0, entries, every)][:count]


def samples(path: str, entries: int, count: int = 3) -> list[tuple[str, Body]]:
    """(id, body) of `count` seeded entries: the first, the middle and the last."""
    wanted = sorted({0, entries // 2, entries - 1})[:count]
    return [entry(path, serial) for serial in wanted]
