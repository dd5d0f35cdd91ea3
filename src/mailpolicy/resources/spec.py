"""A resource's description: the one value the generic mechanism (crud, router) works from.

Each resource module builds one `ResourceSpec` (its table, schemas, checks, identity, how the
engine reads it) and `mailpolicy.resources.REGISTRY` lists them all.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlalchemy.orm import InstrumentedAttribute

from mailpolicy.api.schemas import ListQuery
from mailpolicy.config import Rules
from mailpolicy.engine import Rule
from mailpolicy.resources.base import SettingsEntry

if TYPE_CHECKING:
    from mailpolicy.resources.rows import RowReader

# The settings resources, by their URL segment: REGISTRY holds one spec of each
# (tests/api/test_registry.py checks the two agree).
SettingsResource = Literal[
    "allow_policies",
    "block_senders",
    "content_policies",
    "domains",
    "impersonation_registry",
    "sending_domain_restrictions",
    "trusted_domains",
    "url_ignore_patterns",
]

R = TypeVar("R", bound=SettingsEntry)
Values = dict[str, Any]
# An entry as read without the ORM (mailpolicy.resources.rows): a named tuple of its table's
# columns, each under its attribute's name.
PlainRow = tuple[Any, ...]


@dataclass(frozen=True)
class ResourceSpec(Generic[R]):
    """One resource, whole: its table (`model`, whose rows the callables take), its schemas,
    its checks and identity, and how the engine reads it. Twenty-one fields: a new one should
    replace one.

    `serialize` reads an entry's columns by attribute, and what it computes from them, never
    what only the ORM gives (relationships, properties, lazy loads): it then takes a plain row
    as it takes an entry (`serialize_row`), and reads answer without the ORM (`rows`)."""

    path: SettingsResource  # URL segment, e.g. "allow_policies"
    noun: str  # for messages, e.g. "allow policy"
    model: type[R]
    id_param: str
    create: type[BaseModel]
    update: type[BaseModel]
    put: type[BaseModel] | None  # the schema of batch "puts"
    read: type[BaseModel]  # what an entry answers with (declared in the OpenAPI document)
    list_query: type[ListQuery]
    serialize: Callable[[R], dict[str, Any]]
    # Semantic checks on the merged entry (patterns by type, regexes); raise ValidationFailed.
    check: Callable[[R, Rules], None]
    # What makes two entries "the same": exact duplicates are refused with 409.
    identity: Callable[[R], tuple[Any, ...]]
    # The column that names an entry for people (its pattern, name or domain), in reports.
    label: InstrumentedAttribute[Any]
    filters: Callable[[Any], list[ColumnElement[bool]]] = lambda _q: []
    orderings: Mapping[str, InstrumentedAttribute[Any]] = field(default_factory=dict)
    search: Sequence[InstrumentedAttribute[Any]] = ()
    # Request values -> column values (aliases, defaults); identity by default.
    to_columns: Callable[[Values], Values] = lambda values: values
    # Special rules before a change is applied: (the existing row, or None for a new entry;
    # the column values, which it may change or add to, e.g. a new domain's starting state).
    before_write: Callable[[R | None, Values], None] | None = None
    # What the engine reads of an entry; None for a resource the engine does not act on.
    to_rule: Callable[[R], Rule] | None = None
    summaries: Mapping[str, str] = field(default_factory=dict)
    # Which batch the contract gives the resource: all four arrays, deletes only, or none.
    batch: Literal["full", "deletes", "none"] = "full"

    def serialize_row(self, row: PlainRow) -> dict[str, Any]:
        """An entry's answer from its plain row: `serialize`, which reads only columns, each
        of which a plain row holds under the same name."""
        serialize: Callable[[Any], dict[str, Any]] = self.serialize
        return serialize(row)

    @functools.cached_property
    def rows(self) -> RowReader[R]:
        """The resource's reader of plain rows (built on first use: it compiles nothing yet)."""
        from mailpolicy.resources.rows import RowReader

        return RowReader(self)


def dedupe_key(spec: ResourceSpec[R], row: R) -> str:
    """The key that refuses exact duplicates: a digest of the resource's identity of `row`."""
    raw = "\x1f".join("" if part is None else str(part) for part in spec.identity(row))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
