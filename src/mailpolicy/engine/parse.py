"""Normalisation of addresses, domains, display names and IP addresses.

Both the indexes and the messages go through these functions, so a pattern and a field
that mean the same thing always compare equal.
"""

from __future__ import annotations

import ipaddress
import socket
import string
import unicodedata
from email.errors import MessageError
from email.header import decode_header, make_header
from email.utils import parseaddr

# Bound once: every message's client address goes through parse_ip.
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_from_bytes = int.from_bytes

# Characters for which parseaddr returns a bare address or an angle-bracketed address
# verbatim; anything else takes the slow, general path through parseaddr.
_SIMPLE_ADDRESS = frozenset(string.ascii_letters + string.digits + ".-_+@")
_SIMPLE_NAME = frozenset(string.ascii_letters + string.digits + " ")

# A path whose first or last character is one of these needs trimming before use.
_PATH_EDGES = frozenset("<>. \t\r\n")

_IPV4_MAPPED_PREFIX = 0xFFFF << 32
_IPV4_MAPPED_MASK = ~0xFFFFFFFF & ((1 << 128) - 1)


def split_address(address: str) -> tuple[str, str] | None:
    """``(local, domain)`` of a normalised address, or None if it is not an address."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    return local, domain


def normalize_path(value: str | None) -> str | None:
    """An SMTP envelope address (MAIL FROM or RCPT TO), lowercased; None when empty or invalid.

    The null reverse path ``<>`` of a bounce is no address, so it matches nothing.
    """
    if not value:
        return None
    address = value.lower()
    if address[0] in _PATH_EDGES or address[-1] in _PATH_EDGES:
        address = address.strip()
        if address.startswith("<") and address.endswith(">"):
            address = address[1:-1].strip()
        address = address.rstrip(".")
    at = address.rfind("@")
    if at <= 0 or at == len(address) - 1:
        return None
    return address


def normalize_domain(value: str) -> str:
    """A domain as stored and compared: lowercase, no surrounding dots or leading ``@``."""
    return value.strip().lower().lstrip("@").strip(".")


def decode_words(name: str) -> str:
    # Mail clients show RFC 2047 encoded words decoded, so an impersonator can hide a name
    # behind one; decode so the registry sees what the recipient sees.
    try:
        return str(make_header(decode_header(name)))
    except (ValueError, LookupError, MessageError):
        return name


def _simple_name(name: str) -> str | None:
    """A display name as parseaddr returns it, when it is plainly quoted or plain words."""
    if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
        inner = name[1:-1]
        return None if '"' in inner or "\\" in inner else inner
    if _SIMPLE_NAME.issuperset(name):
        return " ".join(name.split())
    return None


def _simple_address(address: str) -> str | None:
    """A lowercased address when ``address`` is one that parseaddr returns verbatim."""
    if (
        address.count("@") == 1
        and address[0] != "@"
        and address[-1] not in "@."
        and _SIMPLE_ADDRESS.issuperset(address)
    ):
        return address.lower()
    return None


def _parse_mailbox_fast(text: str) -> tuple[str, str | None] | None:
    """The common header shapes, parsed without parseaddr; None when the shape is unusual.

    Must agree with :func:`parse_mailbox_slow` on every input it accepts (checked by a test).
    """
    if text[-1] != ">":
        address = _simple_address(text)
        return None if address is None else ("", address)
    lt = text.find("<")
    if lt < 0 or text.find("<", lt + 1) >= 0:
        return None
    if lt + 2 == len(text):
        address = None
    else:
        address = _simple_address(text[lt + 1 : -1])
        if address is None:
            return None
    name = _simple_name(text[:lt].strip())
    return None if name is None else (name, address)


def parse_mailbox_slow(text: str) -> tuple[str, str | None]:
    """``(display name, address)`` of a header value, read by :func:`email.utils.parseaddr`."""
    name, raw = parseaddr(text)
    if "=?" in name:
        name = decode_words(name)
    address = raw.strip().lower().rstrip(".")
    if split_address(address) is None:
        return name, None
    return name, address


def parse_mailbox(value: str | None) -> tuple[str, str | None]:
    """``(display name, lowercased address or None)`` of a From or Reply-To header value.

    Garbage yields no address, which then matches nothing.
    """
    if not value:
        return "", None
    text = value.strip()
    if not text:
        return "", None
    parsed = _parse_mailbox_fast(text)
    if parsed is None:
        return parse_mailbox_slow(text)
    return parsed


def normalize_name(name: str) -> str:
    """A display name as the impersonation registry compares it.

    Case-folded, with runs of whitespace collapsed and the ends trimmed. Non-ASCII names are
    also NFKC-normalised and stripped of invisible format characters, so full-width letters
    or zero-width joiners cannot disguise a registered name.
    """
    if not name.isascii():
        name = unicodedata.normalize("NFKC", name)
        name = "".join(ch for ch in name if unicodedata.category(ch) != "Cf")
    return " ".join(name.split()).casefold()


def parse_ip(value: str) -> tuple[int, int] | None:
    """``(version, integer)`` of an IPv4 or IPv6 address, or None if it is not one."""
    text = value.strip()
    try:
        if ":" in text:
            return 6, _from_bytes(_inet_pton(_AF_INET6, text), "big")
        return 4, _from_bytes(_inet_pton(_AF_INET, text), "big")
    except (OSError, ValueError):
        pass
    # inet_pton refuses forms such as scoped IPv6 addresses that ipaddress accepts.
    try:
        parsed = ipaddress.ip_address(text)
    except ValueError:
        return None
    return parsed.version, int(parsed)


def ipv4_mapped(value: int) -> int | None:
    """The IPv4 address inside an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``), if any."""
    if value & _IPV4_MAPPED_MASK == _IPV4_MAPPED_PREFIX:
        return value & 0xFFFFFFFF
    return None


def parse_network(value: str) -> tuple[int, int, int] | None:
    """``(version, network, prefix length)`` of an address or CIDR block, or None.

    Host bits are ignored (``192.0.2.7/24`` is ``192.0.2.0/24``); a bare address is a
    single-host network.
    """
    text = value.strip()
    address, slash, prefix = text.partition("/")
    ip = parse_ip(address) if "%" not in address else None
    if ip is None or (slash and not (prefix.isascii() and prefix.isdigit() and len(prefix) <= 3)):
        # Netmask notation and other rarer spellings: let ipaddress decide.
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return None
        return network.version, int(network.network_address), network.prefixlen
    version, number = ip
    bits = 32 if version == 4 else 128
    length = int(prefix) if slash else bits
    if length > bits:
        return None
    shift = bits - length
    return version, number >> shift << shift, length


def classify_unknown(pattern: str) -> str:
    """Best-effort type of a legacy UNKNOWN pattern: EMAIL, IP or DOMAIN."""
    if "@" in pattern:
        return "EMAIL"
    if parse_network(pattern) is not None:
        return "IP"
    return "DOMAIN"
