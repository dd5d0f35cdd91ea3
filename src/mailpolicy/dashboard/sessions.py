"""Dashboard sessions: a row per login, so that every replica behind a balancer knows it.

The browser holds a random secret in an HttpOnly, SameSite=Strict cookie; the database holds
its SHA-256 digest (as credentials are kept), the API token the login was made with, and the
session's CSRF token. A session reaches what its token reaches, read afresh on every request:
revoking the token, or lowering it to Read, ends or narrows every session made with it at once.
A session ends when it has been idle for `idle` seconds, `lifetime` seconds after the login
whatever happens, or at logout.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.access.credentials import ApiToken, Permission, digest
from mailpolicy.db import Base, UTCDateTime, utcnow


class DashboardSession(Base):
    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # digest of the cookie's secret
    token_id: Mapped[str] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who a session's requests act as: the token's account and permission, as they are now."""

    session_id: str
    token_id: str
    token_name: str
    account_id: str
    permission: Permission
    csrf: str

    @property
    def can_write(self) -> bool:
        return self.permission is Permission.WRITE

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"


def _token_of(session: Session, secret: str) -> ApiToken | None:
    hashed = digest(secret.strip())
    token = session.scalars(
        select(ApiToken).where(ApiToken.secret_hash == hashed, ApiToken.revoked_at.is_(None))
    ).first()
    if token is None or not hmac.compare_digest(token.secret_hash, hashed):
        return None
    return token


def open_session(session: Session, secret: str, lifetime: float) -> tuple[str, Viewer] | None:
    """Log in with an API token's secret: the cookie's secret and the viewer, or None when the
    token is unknown or revoked."""
    token = _token_of(session, secret) if secret.strip() else None
    if token is None:
        return None
    cookie = secrets.token_urlsafe(32)
    now = utcnow()
    row = DashboardSession(
        id=digest(cookie),
        token_id=token.id,
        csrf=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=lifetime),
    )
    session.add(row)
    # Logins are rare; ended sessions are swept as they come.
    session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now))
    return cookie, _viewer(row, token)


def _viewer(row: DashboardSession, token: ApiToken) -> Viewer:
    return Viewer(
        session_id=row.id,
        token_id=token.id,
        token_name=token.name,
        account_id=token.account_id,
        permission=Permission(token.permission),
        csrf=row.csrf,
    )


def find_session(session: Session, cookie: str, idle: float) -> Viewer | None:
    """The viewer of a live session, its idle clock restarted; None (and the row gone, if it
    had ended) otherwise."""
    if not cookie:
        return None
    found = session.execute(
        select(DashboardSession, ApiToken)
        .join(ApiToken, ApiToken.id == DashboardSession.token_id)
        .where(DashboardSession.id == digest(cookie))
    ).first()
    if found is None:
        return None
    row, token = found
    now = utcnow()
    idle_for = (now - row.last_seen_at).total_seconds()
    if token.revoked_at is not None or now >= row.expires_at or idle_for > idle:
        session.delete(row)
        return None
    # Restart the idle clock, without a write on every page of a busy session.
    if idle_for > min(30.0, idle / 10):
        row.last_seen_at = now
    return _viewer(row, token)


def close_session(session: Session, cookie: str) -> None:
    if cookie:
        session.execute(delete(DashboardSession).where(DashboardSession.id == digest(cookie)))
