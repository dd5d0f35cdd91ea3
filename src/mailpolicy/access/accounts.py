"""Accounts: the tenant every setting, token and key belongs to, and its settings version."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import BigInteger, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from mailpolicy.db import Base, UTCDateTime, utcnow
from mailpolicy.errors import NotFound


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every settings write, in the same transaction: policy replicas compare it to
    # the version of their cached snapshot to know when to rebuild.
    settings_version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


def create_account(session: Session, name: str = "default") -> Account:
    account = Account(id=secrets.token_hex(16), name=name)
    session.add(account)
    session.flush()
    return account


def require_account(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"No account {account_id}.")
    return account


def bump_settings_version(session: Session, account_id: str) -> int:
    """Move the account's settings version on by one; the version this transaction wrote."""
    version = session.execute(
        update(Account)
        .where(Account.id == account_id)
        .values(settings_version=Account.settings_version + 1)
        .returning(Account.settings_version)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return int(version)


def settings_version(session: Session, account_id: str) -> int:
    return session.scalar(select(Account.settings_version).where(Account.id == account_id)) or 0
