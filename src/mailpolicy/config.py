"""Typed settings, read from MAILPOLICY_* environment variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_PATH = Path("var") / "mailpolicy.db"


@dataclass(frozen=True)
class PoolOptions:
    """How many connections a process keeps, and how long anything may wait for the database."""

    size: int = 10
    overflow: int = 10
    # Seconds to connect, and to wait for a pooled connection, before giving up (a 503).
    timeout: float = 5.0
    # PostgreSQL: the longest a statement (a lock wait included) may run.
    statement_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class Rules:
    """Operator choices that change what validation admits."""

    allow_private_ips: bool = False


def parse_resolvers(text: str) -> list[tuple[str, int]]:
    """`host[:port], ...` (an IPv6 address with a port as `[addr]:port`) as (host, port) pairs."""
    found = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"an empty entry in {text!r}")
        host, port = entry, 53
        if entry.startswith("["):
            host, bracket, rest = entry[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"{entry!r}: write an IPv6 address with a port as [address]:port")
            port_text = rest[1:] if rest else "53"
        elif entry.count(":") == 1:
            host, port_text = entry.split(":")
        else:
            port_text = "53"  # a bare IPv6 address, or a name or IPv4 address without a port
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
        if not host or any(c.isspace() for c in host):
            raise ValueError(f"{entry!r} is not a host[:port]")
        found.append((host, port))
    return found


class Settings(BaseSettings):
    """Everything the service needs to start; tests build their own instead of patching globals."""

    model_config = SettingsConfigDict(env_prefix="MAILPOLICY_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATABASE_PATH}",
        description="SQLAlchemy URL. SQLite (the default) or PostgreSQL.",
    )
    db_pool_size: int = Field(
        default=10, ge=1, le=1000, description="Database connections each process keeps open."
    )
    db_pool_overflow: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="Connections a process may open beyond the pool under a burst.",
    )
    db_timeout: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description=(
            "Seconds to connect to the database or wait for a free connection before answering 503."
        ),
    )
    db_statement_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="PostgreSQL: the longest one statement, lock waits included, may take.",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Worker processes `mailpolicy serve` runs, sharing its port.",
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
    rate_limit: int = Field(
        default=1200,
        ge=0,
        le=1_000_000_000,
        description=(
            "Requests each credential may make per rate-limit window, across every process "
            "sharing the database (429 beyond); 0 turns rate limiting off."
        ),
    )
    rate_limit_window_seconds: int = Field(
        default=300,
        ge=1,
        le=24 * 3600,
        description="The rate-limit window: it opens with a credential's first request.",
    )

    # ---- the web dashboard (/dashboard) ----
    dashboard: bool = Field(
        default=True,
        description="Serve the web dashboard under /dashboard (log in with an API token).",
    )
    dashboard_idle_seconds: int = Field(
        default=1800,
        ge=1,
        le=7 * 24 * 3600,
        description="Seconds a dashboard session may stay idle before it must log in again.",
    )
    dashboard_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=24 * 30,
        description="Hours a dashboard session lasts after its login, however busy it is.",
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

    # ---- message records (the milter writes them; investigate reads them) ----
    message_records: bool = Field(
        default=True,
        description="Whether the milter keeps a record of every message it decides on.",
    )
    message_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="Days a message record is kept; older ones are pruned in the background.",
    )
    message_queue_capacity: int = Field(
        default=100_000,
        ge=100,
        le=10_000_000,
        description=(
            "Records the milter holds in memory while the database cannot be written; beyond "
            "it, records are dropped and counted (mail is never held back)."
        ),
    )
    quarantine_max_bytes: int = Field(
        default=10 << 20,
        ge=0,
        le=1 << 30,
        description=(
            "The largest quarantined message kept whole in its record, for raw and preview; a "
            "larger one keeps this much as a preview (release never needs the copy). 0 keeps none."
        ),
    )
    postfix_config_dir: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "The Postfix configuration directory release works on (postsuper -c); unset: "
            "Postfix's default."
        ),
    )
    postfix_command_prefix: str = Field(
        default="",
        max_length=1024,
        description=(
            "Words put before postsuper and postqueue when releasing, e.g. `sudo -n` for an API "
            "that does not run as root (the README has the sudoers rule)."
        ),
    )
    postfix_maillog: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "Postfix's log file (maillog_file), which the milter follows to learn each "
            "recipient's delivery status; unset: records say queued."
        ),
    )

    # ---- detections: rspamd (ClamAV through it), lookalikes, recent domains, DMARC ----
    rspamd_url: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "rspamd's normal worker (e.g. http://127.0.0.1:11333), which scans each message at "
            "its end; unset: no scanning."
        ),
    )
    rspamd_password: str | None = Field(
        default=None,
        max_length=1024,
        description="The password rspamd asks of its clients, if it asks one.",
    )
    rspamd_timeout: float = Field(
        default=10.0,
        gt=0,
        le=120,
        description=(
            "Seconds one scan may take, connecting included; then the failure policy applies "
            "(well inside Postfix's milter_content_timeout, 300 s)."
        ),
    )
    scan_max_bytes: int = Field(
        default=20 << 20,
        ge=1024,
        le=1 << 30,
        description="Messages larger than this are not scanned (and their records say so).",
    )
    scan_failure: Literal["accept", "tempfail"] = Field(
        default="accept",
        description=(
            "When rspamd cannot be asked: decide without its findings (accept), or defer the "
            "message with a 4xx so the sender retries (tempfail)."
        ),
    )
    detection_table: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "A TOML file replacing the table that turns rspamd's symbols and action into "
            "findings (docs/detections.md); unset: mailpolicy's own."
        ),
    )
    lookalike_domains: bool = Field(
        default=True,
        description=(
            "Whether sender domains close to a protected or impersonation-registry domain get "
            "a lookalike_domain finding (docs/lookalike-domains.md)."
        ),
    )
    lookalike_disposition: Literal["MALICIOUS", "SUSPICIOUS", "SPOOF", "SPAM", "BULK"] = Field(
        default="SUSPICIOUS", description="The disposition of a lookalike_domain finding."
    )
    dmarc_spoof: bool = Field(
        default=True,
        description=(
            "Whether a DMARC failure under p=reject or p=quarantine, in trusted "
            "Authentication-Results, is a SPOOF finding."
        ),
    )
    rdap_url: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "An RDAP service (e.g. https://rdap.org) asked when sender domains were registered, "
            "for recent_domain findings; unset: no lookups."
        ),
    )
    recent_domain_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="A sender domain registered fewer days ago than this is a recent domain.",
    )
    recent_domain_disposition: Literal["MALICIOUS", "SUSPICIOUS", "SPOOF", "SPAM", "BULK"] = Field(
        default="SUSPICIOUS", description="The disposition of a recent_domain finding."
    )
    rdap_timeout: float = Field(
        default=3.0, gt=0, le=60, description="Seconds one RDAP lookup may take."
    )
    rdap_wait: float = Field(
        default=0.25,
        ge=0,
        le=10,
        description=(
            "How long a message waits for a lookup of a domain not seen before; a slower "
            "answer serves the next message from that domain."
        ),
    )

    # ---- protected domains' DNS: ownership by TXT record, SPF and DMARC status ----
    dns_resolvers: str | None = Field(
        default=None,
        max_length=1024,
        description=(
            "The DNS resolvers asked, as host[:port] separated by commas ([v6]:port for IPv6); "
            "unset uses the system's (/etc/resolv.conf)."
        ),
    )
    dns_timeout: float = Field(
        default=5.0, gt=0, le=60, description="Seconds one DNS question may take, all resolvers."
    )
    dns_verify: bool = Field(
        default=True,
        description="Whether `mailpolicy serve` checks domains' DNS in the background.",
    )
    dns_verify_window_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=1,
        le=365 * 24 * 3600,
        description="How long a new domain's TXT record is looked for before it times out.",
    )
    dns_retry_max_seconds: float = Field(
        default=90.0,
        gt=0,
        le=24 * 3600,
        description=(
            "The longest wait between checks of a pending domain (they back off up to it) and "
            "between retries after a DNS error."
        ),
    )
    dns_refresh_seconds: int = Field(
        default=3600,
        ge=0,
        le=30 * 24 * 3600,
        description="How often every domain's SPF and DMARC status is refreshed; 0 never.",
    )
    dns_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="How often the background verifier looks for domains due a check.",
    )

    @field_validator("dns_resolvers")
    @classmethod
    def _resolvers_parse(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_resolvers(value)  # raises ValueError naming the entry
            return value
        return None

    def pool(self) -> PoolOptions:
        return PoolOptions(
            size=self.db_pool_size,
            overflow=self.db_pool_overflow,
            timeout=self.db_timeout,
            statement_timeout=self.db_statement_timeout,
        )
