"""Typed settings, read from MAILPOLICY_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_PATH = Path("var") / "mailpolicy.db"


class Settings(BaseSettings):
    """Everything the service needs to start; tests build their own instead of patching globals."""

    model_config = SettingsConfigDict(env_prefix="MAILPOLICY_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATABASE_PATH}",
        description="SQLAlchemy URL. SQLite (the default) or PostgreSQL.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    allow_private_ips: bool = Field(
        default=False,
        description="Admit private (RFC 1918, unique-local) ranges in IP patterns.",
    )
    log_level: str = "info"
    max_body_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        le=1 << 30,
        description="Largest request body accepted; larger ones are refused with 413 unread.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Seconds a connection may take to send a request's headers.",
    )
    keepalive_timeout: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Seconds an idle keep-alive connection is kept open.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a client may take to send a request's body; a client that takes none of a"
            " response for as long is dropped."
        ),
    )

    # ---- the milter (mailpolicy milter) ----
    milter_listen: str = Field(
        default="inet:127.0.0.1:10030",
        description="Where the milter listens: inet:HOST:PORT or unix:/path (Postfix's notation).",
    )
    milter_socket_group: str | None = Field(
        default=None,
        max_length=64,
        description="The group a unix: milter socket is given (the MTA's, e.g. postfix).",
    )
    drop_action: Literal["reject", "discard", "quarantine"] = Field(
        default="reject",
        description=(
            "What the milter does with a recipient whose verdict is drop: reject it (550 5.7.1), "
            "discard it silently, or hold the message in Postfix's hold queue."
        ),
    )
    trusted_authserv_id: str | None = Field(
        default=None,
        max_length=255,
        description=(
            "The authserv-id of Authentication-Results headers the milter trusts (the host that "
            "runs DKIM, SPF and DMARC checks earlier in the milter chain); unset trusts none."
        ),
    )
    milter_max_body_bytes: int = Field(
        default=1 << 20,
        ge=0,
        le=1 << 30,
        description="How much of a message's body the milter reads for content policies.",
    )
    milter_refresh_seconds: float = Field(
        default=0.25,
        gt=0,
        le=60,
        description="How often the milter looks for settings changed through the API.",
    )
    stats_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="How often hit counts gathered by the milter are written to the database.",
    )
