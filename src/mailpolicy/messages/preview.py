"""A quarantined message as a picture: Cloudflare's preview is a base64 PNG "screenshot".

mailpolicy renders its own copy of the message (kept only for quarantined mail): the headers
a reader looks at first, then the message's text parts as they stand (HTML as source), wrapped
to the image's width. Nothing in the message is fetched or run: no remote
images, no scripts, no fonts of its own. That is the point of a preview of suspect mail.
"""

from __future__ import annotations

import base64
import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

from mailpolicy import mime

WIDTH = 900
MARGIN = 16
FONT_SIZE = 14
LINE_HEIGHT = 19
MAX_LINES = 80
WRAP = 100
TEXT_LIMIT = 64 * 1024
HEADERS = ("From", "To", "Cc", "Date", "Subject")


def lines_of(raw: bytes) -> list[tuple[str, bool]]:
    """What the picture shows, line by line: (text, whether it is a header line)."""
    message = mime.parse(raw)
    lines: list[tuple[str, bool]] = []
    for name in HEADERS:
        for value in mime.header_values(message, name)[:1]:
            lines.append((f"{name}: {value}", True))
    lines.append(("", False))
    text = mime.text_of(message, TEXT_LIMIT) or "(this message has no text part)"
    for paragraph in text.splitlines():
        wrapped = textwrap.wrap(paragraph, WRAP) or [""]
        lines.extend((line, False) for line in wrapped)
        if len(lines) > MAX_LINES:
            break
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], ("…", False)]
    return lines


def screenshot(raw: bytes) -> str:
    """The message rendered as a PNG, base64-encoded."""
    lines = lines_of(raw)
    font = ImageFont.load_default(size=FONT_SIZE)
    height = MARGIN * 2 + LINE_HEIGHT * len(lines)
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    for index, (line, header) in enumerate(lines):
        draw.text(
            (MARGIN, MARGIN + index * LINE_HEIGHT),
            line,
            fill="#1a1a1a" if header else "#333333",
            font=font,
        )
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return base64.b64encode(out.getvalue()).decode("ascii")
