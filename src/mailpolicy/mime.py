"""What content policies read from a real message: its decoded Subject and its text.

Shared by `mailpolicy evaluate --eml` and the milter. The text is every text/* part a reader
sees (attachments, and what they contain, are not read), decoded with its charset. Nothing
here raises on hostile input: a header the parser cannot read is taken as it stands, an
unknown or wrong charset decodes as UTF-8 with U+FFFD for what does not fit, and a MIME tree
the parser gives up on (nested too deeply, say) is read as plain text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from email import policy as email_policy
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser

# A NUL stands for an undecodable byte in what people read; the API refuses NUL in fields.
_NUL = "\0"
_REPLACEMENT = "\ufffd"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse(data: bytes) -> Message:
    """An RFC 5322 message, parsed the way mail clients read it."""
    return BytesParser(policy=email_policy.default).parsebytes(data)


def header_values(message: Message, name: str) -> list[str]:
    """The values of every `name` header, decoded; one the parser cannot read (some malformed
    ones make it fail) is taken as it stands in the message."""
    try:
        return [str(value) for value in message.get_all(name, [])]
    except Exception:  # the stdlib's structured header parser, on input it does not expect
        return [
            _one_line(str(value)).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            for key, value in message.raw_items()
            if key.lower() == name.lower()
        ]


def _decoded(part: Message) -> str:
    """A text part's content, decoded with its charset; undecodable bytes become U+FFFD."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return payload.decode("utf-8", errors="replace")


def _text_parts(message: Message) -> Iterator[str]:
    """The text/* parts a reader sees, in order, walking the tree without recursion."""
    pending = [message]
    while pending:
        part = pending.pop()
        if part.get_content_disposition() == "attachment":
            continue
        if part.is_multipart():
            children = part.get_payload()
            if isinstance(children, list):
                pending.extend(c for c in reversed(children) if isinstance(c, Message))
        elif part.get_content_maintype() == "text":
            yield _decoded(part)


def clean(text: str, limit: int) -> str:
    return text.replace(_NUL, _REPLACEMENT)[:limit]


def text_of(message: Message, limit: int) -> str | None:
    """The message's text, at most `limit` characters, or None when it has no text part."""
    try:
        texts = list(_text_parts(message))
    except Exception:  # a part the library cannot decode: its raw payload is the next best
        raw = message.get_payload()
        texts = [raw] if isinstance(raw, str) else []
    if not texts:
        return None
    return clean("\n".join(texts), limit)


def text_of_bytes(headers: bytes, body: bytes, limit: int) -> str | None:
    """The text of a message given its MIME headers and (possibly cut) body. The MIME walk
    needs no structured headers, so the faster compat32 parser reads it."""
    try:
        parsed = BytesParser(policy=email_policy.compat32).parsebytes(headers + b"\r\n" + body)
        return text_of(parsed, limit)
    except Exception:  # a tree the parser gives up on: read the body as it stands
        return clean(body.decode("utf-8", errors="replace"), limit) or None


def unfolded(raw: bytes) -> str:
    """A header value as one line of text (folding removed, undecodable bytes replaced)."""
    return " ".join(raw.decode("utf-8", errors="replace").split())


def decoded(raw: bytes, limit: int) -> str:
    """A header value with its RFC 2047 encoded words decoded, as a reader sees it."""
    text = unfolded(raw)
    if "=?" in text:
        # Words that do not decode stay as they were sent.
        with suppress(ValueError, LookupError, MessageError, UnicodeError):
            text = str(make_header(decode_header(text)))
    return clean(text, limit)


def subject_of(message: Message, limit: int) -> str | None:
    values = header_values(message, "Subject")
    return clean(values[0], limit) if values else None
