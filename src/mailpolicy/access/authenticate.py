"""Request authentication: the principal behind a request's credential headers.

A Bearer token is looked up by the digest of its secret in one indexed query (the hot path of
every request); a legacy key is compared against every live key of its address so that timing
does not reveal which one matched.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailpolicy.access.credentials import ApiKey, Permission, digest
from mailpolicy.db import fetch_one
from mailpolicy.errors import Unauthorized


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one grant per account the credential reaches, and the credential's id."""

    grants: dict[str, Permission]
    kind: str
    actor: str  # "token:<id>" or "key:<id>": names the credential, never its secret


def _bearer(session: Session, header: str) -> Principal:
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <API token>'.")
    hashed = digest(secret.strip())
    found = fetch_one(session, _BEARER_QUERY, (hashed,))
    if found is None or not hmac.compare_digest(found[3], hashed):
        raise Unauthorized("Invalid API token.")
    token_id, account_id, permission, _ = found
    return Principal({account_id: Permission(permission)}, "token", f"token:{token_id}")


# Every request with a token asks this (mailpolicy.db.fetch_one).
_BEARER_QUERY = (
    "SELECT id, account_id, permission, secret_hash FROM api_tokens"
    " WHERE secret_hash = ? AND revoked_at IS NULL"
)


def _legacy(session: Session, email: str | None, key: str | None) -> Principal:
    if not email or not key:
        raise Unauthorized("X-Auth-Email and X-Auth-Key must be sent together.")
    hashed = digest(key.strip())
    keys = session.scalars(
        select(ApiKey)
        .where(ApiKey.email == email.strip().lower(), ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.created_at, ApiKey.id)
    ).all()
    grants: dict[str, Permission] = {}
    actor = ""
    for row in keys:
        # Compare against every key of the address so timing does not reveal which one matched.
        if hmac.compare_digest(row.secret_hash, hashed):
            actor = actor or f"key:{row.id}"
            granted = Permission(row.permission)
            if grants.get(row.account_id) != Permission.WRITE:
                grants[row.account_id] = granted
    if not grants:
        raise Unauthorized("Invalid X-Auth-Email or X-Auth-Key.")
    return Principal(grants, "key", actor)


def require_credentials(headers: Mapping[str, str]) -> None:
    """Refuse a request that carries no credential at all, without touching the database."""
    if headers.get("authorization") or headers.get("x-auth-email") or headers.get("x-auth-key"):
        return
    raise Unauthorized(
        "Authentication required: send 'Authorization: Bearer <API token>', "
        "or X-Auth-Email and X-Auth-Key."
    )


def authenticate(session: Session, headers: Mapping[str, str]) -> Principal:
    """The principal behind a request's headers (lowercase names); raises Unauthorized."""
    require_credentials(headers)
    authorization = headers.get("authorization")
    if authorization:
        return _bearer(session, authorization)
    return _legacy(session, headers.get("x-auth-email"), headers.get("x-auth-key"))


@dataclass(frozen=True, slots=True)
class AccountContext:
    account_id: str
    permission: Permission
    actor: str
