"""What a pattern must look like, by type. Each check raises ValidationFailed naming the field."""

from __future__ import annotations

import ipaddress
import re

from email_validator import EmailNotValidError, validate_email

from mailpolicy.config import Rules
from mailpolicy.engine import RegexError, check_regex
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
    refused = _refused_range(network, rules)
    if refused is not None:
        return f"'{value}' is in the {refused}"
    carried = _carried_ipv4(network) if isinstance(network, ipaddress.IPv6Network) else None
    if carried is None:
        return None
    ipv4, form, whole = carried
    refused = _refused_range(ipv4, rules)
    if refused is None:
        return None
    if whole:
        return f"'{value}' includes every {form} address, and so the IPv4 {refused}"
    shown = ipv4.network_address if ipv4.prefixlen == 32 else ipv4
    return f"'{value}' is the {form} form of IPv4 {shown}, in the {refused}"


# IPv6 ranges whose addresses carry an IPv4 address: the range, the bit where the IPv4 address
# starts, and what the form is called. A sender written in one of these forms is the IPv4
# sender it carries, so it is judged as that address too.
IPV4_CARRIERS: tuple[tuple[ipaddress.IPv6Network, int, str], ...] = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), 96, "IPv4-mapped"),
    (ipaddress.IPv6Network("::/96"), 96, "IPv4-compatible"),
    (ipaddress.IPv6Network("64:ff9b::/96"), 96, "NAT64"),
    (ipaddress.IPv6Network("2002::/16"), 16, "6to4"),
)


def _carried_ipv4(
    network: ipaddress.IPv6Network,
) -> tuple[ipaddress.IPv4Network, str, bool] | None:
    """The IPv4 block an IPv6 block carries, the form's name, and whether the block holds the
    form's whole range (and so every IPv4 address)."""
    for carrier, start, label in IPV4_CARRIERS:
        if not network.overlaps(carrier):
            continue
        if network.prefixlen <= carrier.prefixlen:
            return ipaddress.IPv4Network("0.0.0.0/0"), label, True
        length = min(network.prefixlen - start, 32)
        bits = (int(network.network_address) >> (96 - start)) & 0xFFFFFFFF
        mask = (0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF
        return ipaddress.IPv4Network((bits & mask, length)), label, False
    return None


def _refused_range(network: IPNetwork, rules: Rules) -> str | None:
    """The refused range a well-formed network overlaps ("private range 10.0.0.0/8, which is
    not accepted ..."), or None when it is acceptable."""
    # Compared only within one IP version, which typeshed's subnet_of cannot see.
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
            return f"{label} range {special}, which is not accepted{hint}"
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
