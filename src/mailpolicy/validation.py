"""What a pattern must look like, by type. Each check raises ValidationFailed naming the field."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from mailpolicy.engine.regex import RegexError, check_regex
from mailpolicy.errors import ValidationFailed

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Documentation ranges are accepted so that examples from RFCs and docs work verbatim.
DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
# Never a sender on the public internet, whatever the operator says.
ALWAYS_REFUSED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(n), label)
    for n, label in (
        ("0.0.0.0/8", "unspecified"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    )
)
# Private ranges carry internal relays; an operator setting admits them.
PRIVATE: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(n), label)
    for n, label in (
        ("10.0.0.0/8", "private"),
        ("172.16.0.0/12", "private"),
        ("192.168.0.0/16", "private"),
        ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
        ("fc00::/7", "unique-local"),
    )
)

# Hostname labels: letters, digits and hyphens, not starting or ending with a hyphen. Matching the
# syntax of a host name is fixed code, not a user pattern.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


@dataclass(frozen=True, slots=True)
class Rules:
    """Operator choices that change what validation admits."""

    allow_private_ips: bool = False


def domain_problem(value: str) -> str | None:
    """Why `value` is not a usable domain name, or None when it is one."""
    name = value.strip().rstrip(".").lower()
    if name != value.strip().lower().rstrip(".") or not name:
        return "must be a domain name such as example.com"
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return f"'{value}' is not a valid internationalised domain name"
    if len(ascii_name) > 253:
        return "a domain name has at most 253 characters"
    labels = ascii_name.split(".")
    if len(labels) < 2:
        return f"'{value}' is not a domain name: it needs at least two labels, like example.com"
    for label in labels:
        if not _LABEL.match(label):
            return (
                f"'{value}' is not a valid domain name: each label is 1 to 63 letters, digits "
                "or hyphens, and does not start or end with a hyphen"
            )
    if labels[-1].isdigit():
        return f"'{value}' looks like an IP address, not a domain name"
    return None


def email_problem(value: str) -> str | None:
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        return f"'{value}' is not a valid email address: {exc}"
    return None


def network_problem(value: str, rules: Rules) -> str | None:
    """Why `value` is not an acceptable IP address or CIDR block, or None."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            return f"'{value}' is not an IPv4 or IPv6 address or CIDR block ({exc})"
        return f"'{value}' has host bits set; did you mean {loose}?"
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
    if any(network.subnet_of(doc) for doc in DOCUMENTATION if doc.version == network.version):  # type: ignore[arg-type]
        return None
    refused = ALWAYS_REFUSED + (() if rules.allow_private_ips else PRIVATE)
    for special, label in refused:
        if special.version == network.version and network.overlaps(special):
            hint = (
                " (MAILPOLICY_ALLOW_PRIVATE_IPS=true admits private ranges for internal relays)"
                if (special, label) in PRIVATE
                else ""
            )
            return f"'{value}' is in the {label} range {special}, which is not accepted{hint}"
    if network.version == 4 and network.broadcast_address == ipaddress.IPv4Address(
        "255.255.255.255"
    ):
        return f"'{value}' includes the IPv4 broadcast address"
    return None


def regex_problem(value: str) -> str | None:
    try:
        check_regex(value)
    except RegexError as exc:
        return str(exc)
    return None


def pattern_problem(pattern: str, pattern_type: str, is_regex: bool, rules: Rules) -> str | None:
    """The one check for a sender pattern, by type."""
    if is_regex:
        return regex_problem(pattern)
    if pattern_type == "EMAIL":
        return email_problem(pattern)
    if pattern_type == "DOMAIN":
        return domain_problem(pattern)
    if pattern_type == "IP":
        return network_problem(pattern, rules)
    return None


def fail(field: str, problem: str) -> ValidationFailed:
    end = "" if problem.endswith(("?", ".")) else "."
    return ValidationFailed(f"{field}: {problem}{end}", pointer=f"/{field}")
