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
import secrets
from typing import Any, TypeVar

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.access.accounts import require_account
from mailpolicy.audit.events import Author, record
from mailpolicy.db import Base, UTCDateTime, new_id, utcnow
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
