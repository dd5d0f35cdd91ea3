"""Field types and output pieces that several resources share."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from mailpolicy.api.envelope import Closed
from mailpolicy.db import Entity
from mailpolicy.engine import normalize_domain, normalize_name, normalize_path, prepare_pattern
from mailpolicy.timefmt import iso

PatternType = Literal["EMAIL", "DOMAIN", "IP", "UNKNOWN"]


def _not_unknown(value: str | None) -> str | None:
    if value == "UNKNOWN":
        raise ValueError("UNKNOWN is deprecated and cannot be set; use EMAIL, DOMAIN or IP")
    return value


WritablePatternType = Annotated[PatternType, AfterValidator(_not_unknown)]
# Addresses, domains and IP addresses never hold surrounding whitespace, so it is trimmed
# from every pattern that names one (regexes included: no address can match it).
Pattern = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=1024),
    Field(description="The pattern value to match."),
]
# A regular expression matched against text, where whitespace can matter: taken verbatim.
Regex = Annotated[str, Field(min_length=1, max_length=1024)]
DomainName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Comments = Annotated[str | None, Field(max_length=1024)]


class SettingsEntry(Entity):
    """A settings entry: an Entity with the key that refuses exact duplicates."""

    __abstract__ = True

    dedupe_key: Mapped[str] = mapped_column(String(64))

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        name = cls.__tablename__
        return (
            # dedupe_key first: the index answers "does this account hold this entry?" all the
            # same, and never offers itself for a whole-account read. Led by account_id, it
            # was SQLite's pick for lists whose filter no index serves (search, the "contains"
            # filters), and its random key order turned that read into random page accesses,
            # about ten times slower than reading by creation time.
            Index(f"uq_{name}_account_dedupe", "dedupe_key", "account_id", unique=True),
            Index(f"ix_{name}_account_created", "account_id", "created_at", "id"),
            *cls.extra_indexes(),
        )

    @classmethod
    def extra_indexes(cls) -> tuple[Index, ...]:
        return ()


class EntryRead(Closed):
    """What every entry answers with: its id and when it was created and last changed."""

    id: uuid.UUID = Field(description="Entry identifier.")
    created_at: dt.datetime
    modified_at: dt.datetime


class LegacyEntryRead(EntryRead):
    """An entry of the seven original resources, which still carry the deprecated alias."""

    last_modified: dt.datetime = Field(
        deprecated=True, description="Deprecated, use modified_at: always equal to it."
    )


def entry_time(value: dt.datetime) -> str | None:
    """`mailpolicy.timefmt.iso` of an entry's timestamp, in a third of the time for what
    entries hold (aware UTC, read back or just made): isoformat gives the same digits as
    iso's strftime for every four-digit year, "+00:00" where iso writes "Z"."""
    if value.tzinfo is dt.UTC and value.year >= 1000:
        return value.isoformat(timespec="microseconds")[:-6] + "Z"
    return iso(value)


def timestamps(row: Entity) -> dict[str, Any]:
    modified = entry_time(row.modified_at)
    return {
        "created_at": entry_time(row.created_at),
        "modified_at": modified,
        "last_modified": modified,
    }


# What makes two entries "the same" is decided by the engine's own normalisers, so that the
# 409 for a duplicate and matching always agree: two patterns with one key match the same mail.


def sender_key(pattern: str, pattern_type: str, is_regex: bool) -> str:
    """The key the engine indexes a (validated) sender pattern by."""
    if is_regex:
        return pattern
    kind, key = prepare_pattern(pattern, pattern_type, is_regex)
    return f"{kind}:{key}"


def domain_key(domain: str) -> str:
    return normalize_domain(domain)


def address_key(address: str) -> str:
    return normalize_path(address) or address.strip().lower()


def name_key(name: str) -> str:
    return normalize_name(name)
