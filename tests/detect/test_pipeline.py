"""Detections feeding the engine: a real rspamd (and clamd through it) scans each message, the
detection table makes findings of its answer, and the settings override them; the verdict tells
which detection each finding came from and which setting removed it."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from mailpolicy.config import Settings
from mailpolicy.detect.pipeline import Detected, Detector, Envelope
from mailpolicy.engine import (
    AllowPolicyRule,
    Message,
    ProtectedDomainRule,
    Snapshot,
    TrustedDomainRule,
    evaluate,
    snapshot_of,
)
from tests.support.rspamd import (
    CLEAN_DOMAIN,
    CLEAN_HOST,
    CLEAN_IP,
    EICAR,
    GTUBE,
    REJECT_DOMAIN,
    Rspamd,
    free_port,
)

AUTHSERV_ID = "mx.northwind.org"
PROTECTED = "northwind.org"
RECIPIENT = f"bob@{PROTECTED}"


def raw(sender: str, body: str, attachment: bytes | None = None) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Alice <{sender}>"
    mail["To"] = RECIPIENT
    mail["Subject"] = "Hello"
    mail["Message-ID"] = f"<p1@{sender.rpartition('@')[2]}>"
    mail.set_content(body)
    if attachment is not None:
        mail.add_attachment(
            attachment, maintype="application", subtype="octet-stream", filename="a.bin"
        )
    return mail.as_bytes().replace(b"\n", b"\r\n")


@pytest.fixture(scope="module")
def detector(rspamd: Rspamd) -> Iterator[Detector]:
    made = Detector(Settings(rspamd_url=rspamd.url, trusted_authserv_id=AUTHSERV_ID))
    yield made
    made.close()


def detected(detector: Detector, sender: str, data: bytes, client_ip: str = CLEAN_IP) -> Detected:
    envelope = Envelope(sender, (RECIPIENT,), client_ip, CLEAN_HOST, CLEAN_HOST)
    scan = detector.scan(data, len(data), envelope)
    assert scan.status == "ok", scan.detail
    return detector.detect(
        scan, trusted_auth=[], envelope_from=sender, header_from=f"Alice <{sender}>"
    )


def protect(*more: object, drop: tuple[str, ...] = ("SPAM", "MALICIOUS", "SPOOF")) -> Snapshot:
    domain = ProtectedDomainRule("d1", PROTECTED, "ACTIVE", drop)
    return snapshot_of([domain, *more])  # type: ignore[list-item]


def acceptable(sender: str) -> AllowPolicyRule:
    return AllowPolicyRule("a1", sender, "EMAIL", False, False, True, False, False)


def verdict(found: Detected, sender: str, snapshot: Snapshot) -> dict[str, object]:
    message = Message(
        envelope_from=sender,
        header_from=f"Alice <{sender}>",
        recipients=(RECIPIENT,),
        client_ip=CLEAN_IP,
        findings=found.for_account("acct", snapshot),
    )
    [one] = evaluate(message, snapshot).to_dict()["recipients"]
    told: dict[str, object] = one
    return told


def detections(told: dict[str, object]) -> list[dict[str, object]]:
    reasons = told["reasons"]
    assert isinstance(reasons, list)
    return [r for r in reasons if r["resource"] == "detections"]


def test_gtube_is_spam_dropped_and_an_acceptable_sender_rescues_it(detector: Detector) -> None:
    sender = f"alice@{CLEAN_DOMAIN}"
    found = detected(detector, sender, raw(sender, GTUBE))
    [spam] = [f for f in found.findings if f.disposition == "SPAM"]
    assert spam.source == "rspamd"
    assert "GTUBE" in (spam.label or "")

    dropped = verdict(found, sender, protect())
    assert (dropped["disposition"], dropped["action"]) == ("SPAM", "drop")
    assert "from rspamd" in str(dropped["explanation"])
    [kept] = detections(dropped)
    assert kept["honoured"] is True
    assert "overridden_by" not in kept

    labelled = verdict(found, sender, protect(drop=("MALICIOUS",)))
    assert (labelled["disposition"], labelled["action"]) == ("SPAM", "deliver")

    rescued = verdict(found, sender, protect(acceptable(sender)))
    assert (rescued["disposition"], rescued["action"]) == ("NONE", "deliver")
    [removed] = detections(rescued)
    assert removed["honoured"] is False
    assert removed["overridden_by"] == "allow_policies/a1"
    assert "acceptable sender allow policy a1" in str(removed["note"])


def test_a_virus_is_malicious_and_no_acceptable_sender_rescues_it(detector: Detector) -> None:
    sender = f"alice@{CLEAN_DOMAIN}"
    found = detected(detector, sender, raw(sender, "The file.", EICAR))
    [virus] = [f for f in found.findings if f.source == "clamav"]
    assert virus.disposition == "MALICIOUS"
    assert "Eicar-Test-Signature" in (virus.label or "")
    told = verdict(found, sender, protect(acceptable(sender)))
    assert (told["disposition"], told["action"]) == ("MALICIOUS", "drop")


def test_a_dmarc_reject_failure_is_spoof(detector: Detector) -> None:
    sender = f"billing@{REJECT_DOMAIN}"
    found = detected(detector, sender, raw(sender, "Your invoice."), client_ip="192.0.2.77")
    assert found.auth_results is not None
    assert "dmarc=fail" in found.auth_results
    spoofs = [f for f in found.findings if f.disposition == "SPOOF"]
    assert [f.source for f in spoofs] == ["rspamd"]
    assert "DMARC_POLICY_REJECT" in (spoofs[0].label or "")
    told = verdict(found, sender, protect())
    # rspamd's score makes it SPAM too, which ranks first; both are told.
    assert (told["disposition"], told["action"]) == ("SPAM", "drop")
    assert any(r["pattern"] == "DMARC_POLICY_REJECT" and r["honoured"] for r in detections(told))
    told = verdict(found, sender, protect(acceptable(sender)))
    assert (told["disposition"], told["action"]) == ("NONE", "deliver")


def test_a_lookalike_of_a_protected_domain_is_cancelled_by_a_trusted_domain(
    detector: Detector,
) -> None:
    sender = "payments@n0rthwind.org"
    found = detector.detect(
        detector.scan(None, 0, Envelope(sender, (RECIPIENT,), CLEAN_IP)),
        trusted_auth=[],
        envelope_from=sender,
        header_from=sender,
    )
    snapshot = protect(drop=("SUSPICIOUS",))
    told = verdict(found, sender, snapshot)
    assert (told["disposition"], told["action"]) == ("SUSPICIOUS", "drop")
    [lookalike] = detections(told)
    assert lookalike["id"] == "lookalike"
    assert PROTECTED in str(lookalike["pattern"])

    trusted = TrustedDomainRule("t1", "n0rthwind.org", False, False, True)
    told = verdict(found, sender, protect(trusted, drop=("SUSPICIOUS",)))
    assert (told["disposition"], told["action"]) == ("NONE", "deliver")
    [cancelled] = detections(told)
    assert cancelled["overridden_by"] == "trusted_domains/t1"


def test_a_message_too_large_is_not_scanned(detector: Detector) -> None:
    scan = detector.scan(None, detector.scan_max_bytes + 1, Envelope("", (RECIPIENT,), CLEAN_IP))
    assert scan.status == "skipped"
    assert "over the scan limit" in (scan.detail or "")


def test_rspamd_unreachable_is_a_failed_scan_never_an_exception() -> None:
    settings = Settings(rspamd_url=f"http://127.0.0.1:{free_port()}", scan_failure="tempfail")
    made = Detector(settings)
    try:
        data = raw(f"alice@{CLEAN_DOMAIN}", "Hello.")
        scan = made.scan(data, len(data), Envelope("", (RECIPIENT,), CLEAN_IP))
        assert scan.status == "failed"
        assert "cannot connect" in (scan.detail or "")
        assert made.failure == "tempfail"
    finally:
        made.close()


def test_trusted_authentication_results_with_a_dmarc_failure_are_spoof() -> None:
    made = Detector(Settings())
    try:
        found = made.detect(
            made.scan(None, 0, Envelope("", (RECIPIENT,), CLEAN_IP)),
            trusted_auth=[f"{AUTHSERV_ID}; dmarc=fail (p=quarantine dis=none) header.from=x.net"],
            envelope_from="a@x.net",
            header_from="a@x.net",
        )
        assert [(f.disposition, f.source) for f in found.findings] == [("SPOOF", "dmarc")]
    finally:
        made.close()
