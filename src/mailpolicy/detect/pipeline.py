"""One message through every detection, in the order the milter and `POST .../scan` share.

1. rspamd scans the message once (ClamAV through its antivirus module); the detection table
   turns its answer into findings, and its Authentication-Results join the trusted ones.
2. DMARC: a failure under p=reject or p=quarantine in those results is SPOOF (unless rspamd's
   own DMARC symbols said so already).
3. RDAP: a sender domain registered less than `recent_domain_days` ago is a recent domain.
4. Per account: a sender domain close to one of the account's protected or registry domains
   is a lookalike.

Steps 1 to 3 are the same for every account the message reaches; step 4 depends on the
account's settings. Nothing here decides: the engine weighs the findings against the settings.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Literal

from mailpolicy.config import Settings
from mailpolicy.detect.authentication import dmarc_failure_policy
from mailpolicy.detect.lookalike import LookalikeIndex
from mailpolicy.detect.rdap import RegistrationDates
from mailpolicy.detect.rspamd import RspamdClient, ScanFailed, ScanReply, ScanRequest
from mailpolicy.detect.table import Table, load_table
from mailpolicy.engine import Finding, Snapshot, normalize_domain, reference_domains

log = logging.getLogger("mailpolicy.detect")

ScanStatus = Literal["off", "ok", "failed", "skipped"]
FAILURE_LOG_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Scan:
    """What became of asking rspamd about one message."""

    status: ScanStatus
    detail: str | None = None  # why it failed or was skipped
    reply: ScanReply | None = None

    def summary(self) -> dict[str, object]:
        """The scan as plain data, for records and answers."""
        reply = self.reply
        return {
            "engine": "rspamd",
            "status": self.status,
            "detail": self.detail,
            "action": reply.action if reply else None,
            "score": reply.score if reply else None,
            "required_score": reply.required_score if reply else None,
            "symbols": (
                [
                    {"name": s.name, "score": s.score, "options": list(s.options)}
                    for s in sorted(reply.symbols.values(), key=lambda s: (-s.score, s.name))
                ]
                if reply
                else []
            ),
        }


SCAN_OFF = Scan("off")


@dataclass(frozen=True, slots=True)
class Envelope:
    """What the SMTP session said about a message, besides the message itself."""

    envelope_from: str
    recipients: tuple[str, ...]
    client_ip: str
    client_hostname: str | None = None
    helo: str | None = None
    tls_version: str | None = None
    tls_cipher: str | None = None
    queue_id: str | None = None


@dataclass(frozen=True, slots=True)
class Detected:
    """Everything found in one message, for each account it reaches."""

    scan: Scan
    findings: tuple[Finding, ...]  # the same for every account
    auth_results: str | None  # rspamd's Authentication-Results value, trusted
    sender_domains: tuple[str, ...]  # header From's and the envelope's, for lookalikes
    detector: Detector | None = field(default=None, compare=False)

    def for_account(self, account_id: str, snapshot: Snapshot) -> tuple[Finding, ...]:
        if self.detector is None or not self.sender_domains:
            return self.findings
        return self.findings + self.detector.lookalikes(account_id, snapshot, self.sender_domains)


NOTHING_DETECTED = Detected(SCAN_OFF, (), None, ())


def sender_domains(envelope_from: str, header_from: str) -> tuple[str, ...]:
    """The domains of the header From addresses and of the envelope sender, normalised, once
    each (a bounce's empty envelope sender has none)."""
    found: dict[str, None] = {}
    addresses = [address for _, address in getaddresses([header_from]) if "@" in address]
    if "@" in envelope_from:
        addresses.append(envelope_from)
    for address in addresses:
        domain = normalize_domain(address.rpartition("@")[2])
        if domain and "." in domain:
            found[domain] = None
    return tuple(found)


class Detector:
    """The detections a process runs, configured once from its settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        table: Table | None = None,
    ) -> None:
        self.table = table or load_table(settings.detection_table)
        self.failure: Literal["accept", "tempfail"] = settings.scan_failure
        self.scan_max_bytes = settings.scan_max_bytes
        self.mta_name = settings.trusted_authserv_id
        self.rspamd = (
            RspamdClient(
                settings.rspamd_url,
                timeout=settings.rspamd_timeout,
                password=settings.rspamd_password,
            )
            if settings.rspamd_url
            else None
        )
        self.lookalike_on = settings.lookalike_domains
        self.lookalike_disposition = settings.lookalike_disposition
        self.dmarc_on = settings.dmarc_spoof
        self.recent_days = settings.recent_domain_days
        self.recent_disposition = settings.recent_domain_disposition
        self.dates = (
            RegistrationDates(
                settings.rdap_url, timeout=settings.rdap_timeout, wait=settings.rdap_wait
            )
            if settings.rdap_url
            else None
        )
        # Each account's lookalike index, with the snapshot it was built from.
        self._indexes: dict[str, tuple[Snapshot, LookalikeIndex]] = {}
        self._lock = threading.Lock()
        self._last_failure_log = 0.0

    @property
    def scanning(self) -> bool:
        return self.rspamd is not None

    def close(self) -> None:
        if self.rspamd is not None:
            self.rspamd.close()
        if self.dates is not None:
            self.dates.close()

    # ---- 1. rspamd ----------------------------------------------------------------------

    def scan(self, message: bytes | None, size: int, envelope: Envelope) -> Scan:
        """Ask rspamd about the message (None: it was not kept, being larger than the scan
        limit). Never raises: a failure is a Scan that says so."""
        if self.rspamd is None:
            return SCAN_OFF
        if message is None or size > self.scan_max_bytes:
            return Scan("skipped", f"{size} bytes, over the scan limit of {self.scan_max_bytes}")
        request = ScanRequest(
            message=message,
            envelope_from=envelope.envelope_from,
            recipients=envelope.recipients,
            client_ip=envelope.client_ip,
            client_hostname=envelope.client_hostname,
            helo=envelope.helo,
            queue_id=envelope.queue_id,
            tls_version=envelope.tls_version,
            tls_cipher=envelope.tls_cipher,
            mta_name=self.mta_name,
        )
        try:
            reply = self.rspamd.scan(request)
        except ScanFailed as exc:
            self._log_failure(exc)
            return Scan("failed", str(exc))
        return Scan("ok", None, reply)

    def _log_failure(self, exc: ScanFailed) -> None:
        now = time.monotonic()
        if self._last_failure_log and now - self._last_failure_log < FAILURE_LOG_SECONDS:
            return
        self._last_failure_log = now
        then = (
            "messages are deferred (4.7.1)"
            if self.failure == "tempfail"
            else ("messages are decided without its findings")
        )
        log.error(
            "rspamd cannot be asked (%s); %s (MAILPOLICY_SCAN_FAILURE=%s)", exc, then, self.failure
        )

    # ---- 2 and 3: the findings every account shares -------------------------------------

    def detect(
        self,
        scan: Scan,
        *,
        trusted_auth: Sequence[str],
        envelope_from: str,
        header_from: str,
    ) -> Detected:
        """The message-wide findings, from rspamd's answer, the trusted Authentication-Results
        (rspamd's included) and the sender's domains."""
        findings = list(self.table.findings(scan.reply)) if scan.reply is not None else []
        auth_results = scan.reply.authentication_results if scan.reply is not None else None
        values = [*trusted_auth, *([auth_results] if auth_results else [])]
        if self.dmarc_on and not any(f.disposition == "SPOOF" for f in findings):
            policy = dmarc_failure_policy(values)
            if policy is not None:
                findings.append(
                    Finding("content", "SPOOF", None, "dmarc", f"dmarc=fail, p={policy}")
                )
        domains = sender_domains(envelope_from, header_from)
        if self.dates is not None:
            findings.extend(self._recent(domains))
        return Detected(scan, tuple(findings), auth_results, domains, self)

    def _recent(self, domains: Iterable[str]) -> list[Finding]:
        assert self.dates is not None
        now = dt.datetime.now(dt.UTC)
        found = []
        for domain in domains:
            registered = self.dates.registered(domain)
            if registered is None:
                continue
            age = now - registered
            if age < dt.timedelta(days=self.recent_days):
                days = max(age.days, 0)
                found.append(
                    Finding(
                        "recent_domain",
                        self.recent_disposition,
                        domain,
                        "rdap",
                        f"{domain} registered {registered:%Y-%m-%d}, {days} days ago",
                    )
                )
        return found

    # ---- 4. per account -----------------------------------------------------------------

    def lookalikes(
        self, account_id: str, snapshot: Snapshot, domains: Iterable[str]
    ) -> tuple[Finding, ...]:
        if not self.lookalike_on:
            return ()
        index = self._index(account_id, snapshot)
        if not len(index):
            return ()
        found = []
        for domain in domains:
            lookalike = index.check(domain)
            if lookalike is not None:
                found.append(
                    Finding(
                        "lookalike_domain",
                        self.lookalike_disposition,
                        lookalike.domain,
                        "lookalike",
                        f"{lookalike.domain}: {lookalike.how}",
                    )
                )
        return tuple(found)

    def _index(self, account_id: str, snapshot: Snapshot) -> LookalikeIndex:
        held = self._indexes.get(account_id)
        if held is not None and held[0] is snapshot:
            return held[1]
        index = LookalikeIndex(reference_domains(snapshot))
        with self._lock:
            self._indexes[account_id] = (snapshot, index)
        return index
