"""Typed settings, read from MAILPOLICY_* environment variables."""

from __future__ import annotations

from pathlib import Path

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
