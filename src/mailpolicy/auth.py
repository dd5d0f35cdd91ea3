"""Credentials: API tokens (Bearer) and legacy keys (X-Auth-Email + X-Auth-Key), bound to accounts.

Secrets are stored as SHA-256 digests. They are long random strings, so a fast digest is
enough; a lookup by digest is then confirmed with a constant-time comparison. Creating and
revoking a credential are events in its account's audit history, which names the credential
and never holds its secret or digest.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.accounts import require_account
from mailpolicy.audit import Author, record
from mailpolicy.db import Base, UTCDateTime, fetch_one, new_id, utcnow
from mailpolicy.errors import Unauthorized
from mailpolicy.timefmt import iso


class Permission(enum.StrEnum):
    READ = "read"
    WRITE = "write"


PERMISSION_NAMES = {
    Permission.READ: "Cloud Email Security: Read",
    Permission.WRITE: "Cloud Email Security: Write",
}


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    permission: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_email", "email"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320))
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    permission: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


# ---- administration (CLI) -------------------------------------------------------------------


def public_view(credential: ApiToken | ApiKey) -> dict[str, Any]:
    """A token or key as the audit history shows it: what names it, never its secret."""
    names = (
        {"name": credential.name}
        if isinstance(credential, ApiToken)
        else {"email": credential.email}
    )
    return {
        "id": credential.id,
        **names,
        "permission": credential.permission,
        "created_at": iso(credential.created_at),
        "revoked_at": iso(credential.revoked_at),
    }


def _record(
    session: Session,
    by: Author,
    credential: ApiToken | ApiKey,
    before: dict[str, Any] | None,
) -> None:
    record(
        session,
        by,
        account_id=credential.account_id,
        action="create" if before is None else "revoke",
        resource="tokens" if isinstance(credential, ApiToken) else "keys",
        entry_id=credential.id,
        before=before,
        after=public_view(credential),
    )


def create_token(
    session: Session, account_id: str, permission: Permission, name: str = "", *, by: Author
) -> tuple[ApiToken, str]:
    require_account(session, account_id)
    secret = secrets.token_urlsafe(30)
    token = ApiToken(
        account_id=account_id,
        name=name or f"{permission.value} token",
        permission=permission.value,
        secret_hash=digest(secret),
    )
    session.add(token)
    session.flush()
    _record(session, by, token, None)
    return token, secret


def create_key(
    session: Session, email: str, account_id: str, permission: Permission, *, by: Author
) -> tuple[ApiKey, str]:
    require_account(session, account_id)
    secret = secrets.token_hex(19)[:37]
    key = ApiKey(
        email=email.strip().lower(),
        account_id=account_id,
        permission=permission.value,
        secret_hash=digest(secret),
    )
    session.add(key)
    session.flush()
    _record(session, by, key, None)
    return key, secret


Credential = TypeVar("Credential", ApiToken, ApiKey)


def revoke(
    session: Session, model: type[Credential], credential_id: str, by: Author
) -> Credential | None:
    """Revoke a token or key (None: there is no such one); revoking it again changes nothing."""
    credential = session.get(model, credential_id, with_for_update=True)
    if credential is None or credential.revoked_at is not None:
        return credential
    before = public_view(credential)
    credential.revoked_at = utcnow()
    session.flush()
    _record(session, by, credential, before)
    return credential


# ---- request authentication -----------------------------------------------------------------


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
