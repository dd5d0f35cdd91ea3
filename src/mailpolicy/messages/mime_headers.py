"""The headers a record can show: all of them from the kept copy, else those the record holds."""

from __future__ import annotations

from mailpolicy import mime
from mailpolicy.messages.records import MessageRecord

MAX_HEADERS = 200


def headers_of(record: MessageRecord) -> list[dict[str, str]]:
    if record.raw is not None:
        parsed = mime.parse(record.raw)
        found = []
        for name in list(dict.fromkeys(parsed.keys()))[:MAX_HEADERS]:
            for value in mime.header_values(parsed, name):
                found.append({"name": name, "value": value})
        return found[:MAX_HEADERS]
    known = {
        "From": (
            f"{record.from_name} <{record.header_from}>" if record.from_name else record.header_from
        ),
        "To": ", ".join(record.to) or None,
        "Reply-To": record.reply_to,
        "Subject": record.subject,
        "Message-ID": record.message_id,
    }
    return [{"name": name, "value": value} for name, value in known.items() if value]
