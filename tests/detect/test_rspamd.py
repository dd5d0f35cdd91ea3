"""The rspamd client against a real rspamd 3.4 and clamd (tests/detect/conftest.py), and against
sockets that refuse or never answer."""

from __future__ import annotations

import base64
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mailpolicy.detect.rspamd import (
    RspamdClient,
    ScanFailed,
    ScanReply,
    ScanRequest,
    clean_header_value,
    request_headers,
)
from tests.support.authority import Zones
from tests.support.rspamd import (
    CLEAN_DOMAIN,
    CLEAN_HOST,
    CLEAN_IP,
    EICAR,
    EICAR_SIGNATURE,
    GTUBE,
    QUARANTINE_DOMAIN,
    REJECT_DOMAIN,
    Rspamd,
    free_port,
)

AUTHSERV_ID = "mx.corp.example"
RECIPIENT = "rcpt@corp.example.com"


def message(sender: str, body: str, *, extra: str = "", subject: str = "Lunch") -> bytes:
    domain = sender.rpartition("@")[2]
    return (
        f"From: Alice Sender <{sender}>\r\n"
        f"To: Bob <{RECIPIENT}>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Mon, 07 Dec 2026 07:00:00 +0000\r\n"
        f"Message-ID: <m1.{len(body)}@{domain}>\r\n"
        f"{extra}"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode("ascii")


def with_attachment(sender: str, data: bytes, filename: str) -> bytes:
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f"From: Alice Sender <{sender}>\r\n"
        f"To: Bob <{RECIPIENT}>\r\n"
        "Subject: The invoice\r\n"
        "Date: Mon, 07 Dec 2026 07:00:00 +0000\r\n"
        f"Message-ID: <a1@{sender.rpartition('@')[2]}>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="part"\r\n'
        "\r\n"
        "--part\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "The invoice is attached.\r\n"
        "--part\r\n"
        f'Content-Type: application/octet-stream; name="{filename}"\r\n'
        f'Content-Disposition: attachment; filename="{filename}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{encoded}\r\n"
        "--part--\r\n"
    ).encode("ascii")


def request(body: bytes, sender: str = f"alice@{CLEAN_DOMAIN}", **overrides: object) -> ScanRequest:
    fields: dict[str, object] = {
        "message": body,
        "envelope_from": sender,
        "recipients": (RECIPIENT,),
        "client_ip": CLEAN_IP,
        "client_hostname": CLEAN_HOST,
        "helo": CLEAN_HOST,
        "queue_id": "4XyZ1abc",
        "tls_version": "TLSv1.3",
        "tls_cipher": "TLS_AES_256_GCM_SHA384",
        "mta_name": AUTHSERV_ID,
    }
    fields.update(overrides)
    return ScanRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def scanner(rspamd: Rspamd) -> Iterator[RspamdClient]:
    with RspamdClient(rspamd.url, timeout=10, controller_url=rspamd.controller_url) as made:
        yield made


def scan(scanner: RspamdClient, scan_request: ScanRequest) -> ScanReply:
    reply = scanner.scan(scan_request)
    assert reply.elapsed > 0
    return reply


# ---- against rspamd -----------------------------------------------------------------------------


def test_ping(scanner: RspamdClient) -> None:
    assert scanner.ping() is True


def test_a_clean_message_gets_no_action(scanner: RspamdClient) -> None:
    reply = scan(scanner, request(message(f"alice@{CLEAN_DOMAIN}", "Lunch at noon tomorrow?")))
    assert reply.action == "no action", reply.symbols
    assert reply.is_skipped is False
    assert reply.required_score == 15.0  # the reject threshold of Debian's actions.conf
    assert "R_SPF_ALLOW" in reply.symbols
    assert "DMARC_POLICY_ALLOW" in reply.symbols
    assert reply.authentication_results is not None
    assert reply.authentication_results.startswith(f"{AUTHSERV_ID};")
    assert "spf=pass" in reply.authentication_results
    assert "dmarc=pass" in reply.authentication_results


def test_gtube_is_rejected(scanner: RspamdClient) -> None:
    reply = scan(scanner, request(message(f"alice@{CLEAN_DOMAIN}", f"Buy now.\r\n{GTUBE}")))
    assert reply.action == "reject"
    assert "GTUBE" in reply.symbols
    # GTUBE is a pre-result: rspamd stops there and says the rest of the scan was skipped.
    assert reply.is_skipped is True
    assert reply.score == reply.required_score == 15.0


def test_eicar_attachment_is_found_by_clamav(scanner: RspamdClient) -> None:
    assert len(EICAR) == 68
    reply = scan(scanner, request(with_attachment(f"alice@{CLEAN_DOMAIN}", EICAR, "eicar.txt")))
    virus = reply.symbols["CLAM_VIRUS"]
    # clamd reports a signature from outside its official databases with ".UNOFFICIAL".
    assert virus.options == (f"{EICAR_SIGNATURE}.UNOFFICIAL",)
    assert virus.options[0].startswith(EICAR_SIGNATURE)
    assert virus.score == 0.0  # no weight and no action: mailpolicy decides
    assert virus.groups == ("antivirus",)  # learned from the controller's /symbols
    assert "antivirus" in reply.groups  # the reply's own groups (Flags: groups)


def test_without_the_controller_symbol_groups_are_empty(rspamd: Rspamd) -> None:
    with RspamdClient(rspamd.url, timeout=10) as bare:
        reply = bare.scan(request(with_attachment(f"alice@{CLEAN_DOMAIN}", EICAR, "e.txt")))
    assert reply.symbols["CLAM_VIRUS"].groups == ()
    assert "antivirus" in reply.groups


def test_dmarc_reject_policy(scanner: RspamdClient) -> None:
    sender = f"billing@{REJECT_DOMAIN}"
    reply = scan(
        scanner,
        request(
            message(sender, "Your invoice is overdue."),
            sender,
            client_ip="192.0.2.77",
            client_hostname=None,
            helo="unknown.example.org",
        ),
    )
    assert "DMARC_POLICY_REJECT" in reply.symbols
    assert "R_SPF_FAIL" in reply.symbols
    assert reply.symbols["DMARC_POLICY_REJECT"].options == (
        f"{REJECT_DOMAIN} : No valid SPF, No valid DKIM",
        "reject",
    )
    assert set(reply.symbols["DMARC_POLICY_REJECT"].groups) == {"dmarc", "policies"}
    results = reply.authentication_results
    assert results is not None
    assert results.split(";", 1)[0] == AUTHSERV_ID
    assert (
        f'dmarc=fail reason="No valid SPF, No valid DKIM" header.from={REJECT_DOMAIN} '
        "(policy=reject)" in results
    )
    assert "spf=fail (" in results
    assert f"smtp.mailfrom={sender}" in results


def test_dmarc_quarantine_policy(scanner: RspamdClient) -> None:
    sender = f"orders@{QUARANTINE_DOMAIN}"
    reply = scan(
        scanner, request(message(sender, "Your order shipped."), sender, client_ip="192.0.2.78")
    )
    assert "DMARC_POLICY_QUARANTINE" in reply.symbols
    assert "DMARC_POLICY_REJECT" not in reply.symbols
    assert reply.authentication_results is not None
    assert "(policy=quarantine)" in reply.authentication_results


def test_mailing_list_symbols(scanner: RspamdClient) -> None:
    sender = f"news@{CLEAN_DOMAIN}"
    headers = (
        f"List-Id: Weekly news <news.{CLEAN_DOMAIN}>\r\n"
        f"List-Unsubscribe: <mailto:leave@{CLEAN_DOMAIN}>\r\n"
        "Precedence: bulk\r\n"
    )
    reply = scan(scanner, request(message(sender, "Nothing much happened.", extra=headers), sender))
    assert {"MAILLIST", "HAS_LIST_UNSUB", "PRECEDENCE_BULK"} <= set(reply.symbols)
    assert reply.symbols["MAILLIST"].options == ("generic",)
    assert reply.action == "no action"


CAROL = "carol@corp.example.com"


def test_every_recipient_is_sent(scanner: RspamdClient) -> None:
    """TO_MATCH_ENVRCPT_ALL: every address in To: is an envelope recipient (RCPT_COUNT_* counts
    the header's recipients, not the envelope's)."""
    hello = message(f"alice@{CLEAN_DOMAIN}", "Hello.")
    assert "TO_MATCH_ENVRCPT_ALL" not in scan(scanner, request(hello, recipients=(CAROL,))).symbols
    both = scan(scanner, request(hello, recipients=(CAROL, RECIPIENT)))
    assert "TO_MATCH_ENVRCPT_ALL" in both.symbols


def test_a_bounce(scanner: RspamdClient) -> None:
    reply = scan(scanner, request(message(f"mailer-daemon@{CLEAN_DOMAIN}", "Failed."), ""))
    assert reply.action == "no action"
    assert reply.authentication_results is not None
    assert f"smtp.helo={CLEAN_HOST}" in reply.authentication_results


def test_a_crlf_in_smtp_values_cannot_add_a_header(scanner: RspamdClient) -> None:
    """Were a `Rcpt: <To:'s address>` after a CRLF a header of its own, rspamd would count To:'s
    address among the envelope recipients and say TO_MATCH_ENVRCPT_ALL (as it does above)."""
    injected = f"\r\nRcpt: {RECIPIENT}"
    reply = scan(
        scanner,
        request(
            message(f"alice@{CLEAN_DOMAIN}", "Hello."),
            helo=CLEAN_HOST + injected,
            client_hostname=CLEAN_HOST + injected.replace("\r", ""),
            queue_id="4XyZ1abc" + injected,
            recipients=(CAROL + injected + "\r\n",),
        ),
    )
    assert "TO_MATCH_ENVRCPT_ALL" not in reply.symbols


def test_non_ascii_values_travel_as_utf8(scanner: RspamdClient) -> None:
    reply = scan(
        scanner, request(message(f"alice@{CLEAN_DOMAIN}", "Hi."), helo="mx.bücher.example")
    )
    assert reply.action in {"no action", "greylist", "add header"}


def test_stopped_rspamd_fails_fast(rspamd: Rspamd, scanner: RspamdClient) -> None:
    rspamd.stop()
    try:
        assert scanner.ping() is False
        began = time.monotonic()
        with pytest.raises(ScanFailed, match="Connection refused") as failure:
            scanner.scan(request(message(f"alice@{CLEAN_DOMAIN}", "Hello.")))
        assert time.monotonic() - began < 1
        assert rspamd.url in str(failure.value)
    finally:
        rspamd.start()
    assert scanner.ping() is True
    assert scanner.scan(request(message(f"alice@{CLEAN_DOMAIN}", "Back."))).action


def test_rspamd_asks_the_loopback_authority(
    detect_dns: tuple[Zones, int], scanner: RspamdClient
) -> None:
    """rspamd's only resolver is the tests' authority (DNS of the Internet is never asked)."""
    zones, _port = detect_dns
    sender = f"billing@{REJECT_DOMAIN}"
    scan(scanner, request(message(sender, "Overdue."), sender, client_ip="192.0.2.79"))
    assert (f"_dmarc.{REJECT_DOMAIN}", "TXT") in zones.questions
    assert (REJECT_DOMAIN, "TXT") in zones.questions  # SPF
    # RBLs are asked too, and answered NXDOMAIN: nothing is listed.
    assert ("79.2.0.192.zen.spamhaus.org", "A") in zones.questions


# ---- against sockets that are not rspamd --------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        accepted: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    accepted.append(listener.accept()[0])
                except TimeoutError:
                    continue
                except OSError:
                    return

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        yield listener.getsockname()[1]
        stop.set()
        thread.join(2)
        for connection in accepted:
            connection.close()


def test_a_silent_socket_fails_within_the_timeout(silent_port: int) -> None:
    with RspamdClient(f"http://127.0.0.1:{silent_port}", timeout=1.0) as silent:
        began = time.monotonic()
        with pytest.raises(ScanFailed, match=r"no answer within 1s"):
            silent.scan(request(message(f"alice@{CLEAN_DOMAIN}", "Hello.")))
        assert 0.9 < time.monotonic() - began < 1.5
        began = time.monotonic()
        assert silent.ping() is False
        assert time.monotonic() - began < 1.5


def test_nothing_listening_fails_at_once() -> None:
    with RspamdClient(f"http://127.0.0.1:{free_port()}", timeout=5) as nowhere:
        began = time.monotonic()
        with pytest.raises(ScanFailed, match="cannot connect"):
            nowhere.scan(request(b"Subject: x\r\n\r\nx\r\n"))
        assert time.monotonic() - began < 1


def one_reply(status: str, body: bytes) -> tuple[int, threading.Thread]:
    """A loopback server that answers one request with `status` and `body`, then closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.settimeout(5)
                received = b""
                while b"\r\n\r\n" not in received:
                    received += connection.recv(65536)
                head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n"
                # The client may hang up before the end (a reply it refuses).
                with contextlib.suppress(OSError):
                    connection.sendall(f"{head}Connection: close\r\n\r\n".encode() + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], thread


@pytest.mark.parametrize(
    ("status", "body", "says"),
    [
        ("500 Internal Server Error", b'{"error":"oops"}', "HTTP 500"),
        ("200 OK", b"<html>not rspamd</html>", "not JSON"),
        ("200 OK", b'{"error":"message has no body"}', "an error: message has no body"),
        ("200 OK", b'{"score": 1}', "without an action"),
        ("200 OK", b'{"action": "reject", "score": "high"}', "score is not a number"),
    ],
)
def test_replies_that_are_not_rspamds(status: str, body: bytes, says: str) -> None:
    port, thread = one_reply(status, body)
    with (
        RspamdClient(f"http://127.0.0.1:{port}", timeout=5) as odd,
        pytest.raises(ScanFailed, match=says),
    ):
        odd.scan(request(b"Subject: x\r\n\r\nx\r\n"))
    thread.join(5)


def test_a_reply_too_large_is_refused() -> None:
    port, thread = one_reply("200 OK", b" " * (5 * 1024 * 1024))
    with (
        RspamdClient(f"http://127.0.0.1:{port}", timeout=5) as large,
        pytest.raises(ScanFailed, match="more than"),
    ):
        large.scan(request(b"Subject: x\r\n\r\nx\r\n"))
    thread.join(5)


# ---- request headers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "sent"),
    [
        ("mx.example.org", b"mx.example.org"),
        ("mx.example.org\r\nUser: admin", b"mx.example.org User: admin"),
        ("a\nb\rc\x00d\x1be\x7ff\x85g", b"a b c d e f g"),
        ("  padded\t ", b"padded"),
        ("bücher.example", "bücher.example".encode()),
        ("x" * 2000, b"x" * 998),
    ],
)
def test_clean_header_value(value: str, sent: bytes) -> None:
    assert clean_header_value(value) == sent


def test_request_headers() -> None:
    headers = request_headers(
        request(
            b"",
            "a@b.example\r\nPass: all",
            recipients=("x@corp.example.com", "y@corp.example.com\n", "\r\n"),
            client_ip=" 192.0.2.1 ",
        )
    )
    names = [name for name, _ in headers]
    assert names == [
        "IP",
        "Hostname",
        "Helo",
        "From",
        "Rcpt",
        "Rcpt",
        "Queue-Id",
        "TLS-Version",
        "TLS-Cipher",
        "MTA-Name",
        "Flags",
    ]
    assert dict(headers)["IP"] == b"192.0.2.1"
    assert dict(headers)["From"] == b"a@b.example Pass: all"
    assert [v for n, v in headers if n == "Rcpt"] == [b"x@corp.example.com", b"y@corp.example.com"]
    assert dict(headers)["Flags"] == b"groups"
    assert all(b"\r" not in v and b"\n" not in v for _, v in headers)


def test_a_bounce_and_an_unknown_client() -> None:
    headers = dict(request_headers(request(b"", "", client_ip="unknown", helo=None)))
    assert headers["From"] == b"<>"
    assert headers.keys().isdisjoint({"IP", "Helo", "User", "Pass"})
