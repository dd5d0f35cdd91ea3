"""Sender authentication, read from the Authentication-Results headers (RFC 8601) the operator
trusts: those of its own authserv-id, added by a milter earlier in the chain (OpenDKIM,
OpenDMARC, rspamd). Parsed with authres, a library made for the RFC."""

from __future__ import annotations

import re
from collections.abc import Iterable

import authres

from mailpolicy.engine import AuthResults, DKIMResult

# What the engine's rules look at; other methods (arc, iprev, ...) are ignored.
_SPF, _DKIM, _DMARC = "spf", "dkim", "dmarc"
# The sender's published DMARC policy, as the verifiers write it beside a result: OpenDMARC
# in a comment, "(p=reject dis=none)"; rspamd in a comment, "(policy=reject)"; RFC 7489's
# registered property, "policy.published-domain-policy=reject" (or "policy.dmarc=").
# The parser drops comments, so the policy is read from the clause's own text (a fixed
# pattern over a trusted header, not a user's pattern).
_DMARC_CLAUSE = re.compile(r"(?:^|;)\s*dmarc\s*=\s*fail\b([^;]*)", re.IGNORECASE)
_POLICY = re.compile(
    r"(?:\bp|\bpolicy|policy\.published-domain-policy|policy\.dmarc)\s*=\s*(reject|quarantine)\b",
    re.IGNORECASE,
)


def _parse(value: str) -> authres.AuthenticationResultsHeader | None:
    try:
        return authres.AuthenticationResultsHeader.parse(f"Authentication-Results: {value}")
    except Exception:  # a header the parser cannot read says nothing we can trust
        return None


def authserv_id(value: str) -> str | None:
    """The authserv-id an Authentication-Results value claims, or None if it does not parse."""
    parsed = _parse(value)
    return None if parsed is None else str(parsed.authserv_id).lower()


def auth_results(values: Iterable[str]) -> AuthResults:
    """The SPF, DKIM and DMARC results of trusted Authentication-Results values; the first
    SPF and DMARC result found count, every DKIM result does."""
    spf = dmarc = None
    dkim: list[DKIMResult] = []
    for value in values:
        parsed = _parse(value)
        if parsed is None:
            continue
        for result in parsed.results:
            method = str(result.method).lower()
            outcome = str(result.result).lower()
            if method == _SPF and spf is None:
                spf = outcome
            elif method == _DMARC and dmarc is None:
                dmarc = outcome
            elif method == _DKIM:
                domain = next(
                    (
                        str(p.value)
                        for p in result.properties
                        if str(p.type) == "header" and str(p.name) in {"d", "i"}
                    ),
                    "",
                )
                dkim.append(DKIMResult(domain.rpartition("@")[2], outcome))
    return AuthResults(spf=spf or "none", dkim=tuple(dkim), dmarc=dmarc or "none")


def dmarc_failure_policy(values: Iterable[str]) -> str | None:
    """The published policy (``reject`` or ``quarantine``) of a DMARC failure the trusted
    Authentication-Results report, the stricter if several do; None when DMARC did not fail
    or the sender publishes p=none."""
    found: str | None = None
    for value in values:
        for clause in _DMARC_CLAUSE.finditer(value):
            policy = _POLICY.search(clause.group(1))
            if policy is None:
                continue
            word = policy.group(1).lower()
            if word == "reject":
                return word
            found = word
    return found
