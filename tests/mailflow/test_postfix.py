"""The settings acting on real SMTP traffic: Postfix, the mailpolicy milter, smtp-sink."""

from __future__ import annotations

import time

from tests.support.mailflow import Account, MailSystem, message, send, settle
from tests.support.postfix import TRUSTED_AUTHSERV_ID

BLOCKED = "550 5.7.1 Message refused by mailpolicy: blocked sender"


def refused(reply: tuple[int, str] | None, kind: str) -> bool:
    return reply is not None and reply[0] == 550 and reply[1].endswith(f"mailpolicy: {kind}")


def test_a_blocked_sender_is_refused_at_rcpt_and_other_recipients_proceed(
    mail: MailSystem, account: Account
) -> None:
    strict = account.protect(mail.unique("strict") + ".example", "MALICIOUS")
    lax = account.protect(mail.unique("lax") + ".example", "SPAM")
    blocked = account.create(
        "block_senders", {"pattern": "spam.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    settle()
    ann, bob, carol = (
        f"ann@{strict['domain']}",
        f"bob@{lax['domain']}",
        "carol@unprotected.example",
    )
    subject = mail.unique("blocked-")
    sent = send(
        mail.postfix.port(),
        "promo@mail.spam.example",
        [ann, bob, carol],
        message(subject, "promo@mail.spam.example", [ann, bob, carol]),
    )
    assert sent.rcpt[ann][0] == 550
    assert sent.rcpt[ann][1] == BLOCKED.removeprefix("550 ").replace("5.7.1 ", "5.7.1 ")
    assert "spam.example" not in sent.rcpt[ann][1]  # the rule's kind, never its pattern
    assert sent.rcpt[bob][0] == sent.rcpt[carol][0] == 250
    assert sent.data is not None
    assert sent.data[0] == 250
    delivered = mail.postfix.wait_delivered(subject)
    assert sorted(delivered.recipients) == sorted([bob, carol])
    # bob's domain does not drop MALICIOUS: he gets the message, labelled.
    assert delivered.message["X-MailPolicy-Disposition"] == "MALICIOUS"
    assert f"block block_senders/{blocked['id']}" in delivered.message["X-MailPolicy-Reasons"]


def test_a_tls_restriction_refuses_plaintext_and_delivers_over_tls(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("tls") + ".example", "MALICIOUS")
    bank = mail.unique("bank") + ".example"
    account.create("sending_domain_restrictions", {"domain": bank, "exclude": [f"legacy.{bank}"]})
    settle()
    to = [f"ann@{corp['domain']}"]
    plain = mail.unique("plain-")
    sent = send(mail.postfix.port(), f"alerts@{bank}", to, message(plain, f"alerts@{bank}", to))
    assert refused(sent.rcpt[to[0]], "the sending domain requires TLS"), sent
    secure = mail.unique("secure-")
    sent = send(
        mail.postfix.port(), f"alerts@{bank}", to, message(secure, f"alerts@{bank}", to), tls=True
    )
    assert sent.rcpt[to[0]][0] == 250
    assert sent.data is not None
    assert sent.data[0] == 250
    assert mail.postfix.wait_delivered(secure).message["X-MailPolicy-Disposition"] == "NONE"
    legacy = mail.unique("legacy-")
    sender = f"old@mx.legacy.{bank}"
    sent = send(mail.postfix.port(), sender, to, message(legacy, sender, to))
    assert sent.rcpt[to[0]][0] == 250
    mail.postfix.wait_delivered(legacy)
    assert not mail.postfix.was_delivered(plain)


def test_an_impersonation_is_dropped_where_the_domain_drops_it(
    mail: MailSystem, account: Account
) -> None:
    strict = account.protect(mail.unique("bec") + ".example", "MALICIOUS", "MALICIOUS-BEC")
    lax = account.protect(mail.unique("nobec") + ".example", "MALICIOUS")
    entry = account.create(
        "impersonation_registry",
        {"name": "Chief Executive", "email": f"chief@{strict['domain']}", "is_email_regex": False},
    )
    settle()
    ann, bob = f"ann@{strict['domain']}", f"bob@{lax['domain']}"
    sender = "chief.exec@freemail.example"
    subject = mail.unique("bec-")
    both = message(subject, sender, [ann, bob], display_name="Chief Executive")
    sent = send(mail.postfix.port(), sender, [ann, bob], both)
    assert sent.rcpt[ann][0] == sent.rcpt[bob][0] == 250  # From is in the headers, not the envelope
    assert sent.data is not None
    assert sent.data[0] == 250
    delivered = mail.postfix.wait_delivered(subject)
    assert delivered.recipients == [bob]  # ann was removed at the end of the message
    assert delivered.message["X-MailPolicy-Disposition"] == "MALICIOUS-BEC"
    assert f"impersonation_registry/{entry['id']}" in delivered.message["X-MailPolicy-Reasons"]
    # Only recipients whose domain drops it: the whole message is refused.
    alone = mail.unique("bec-alone-")
    sent = send(
        mail.postfix.port(),
        sender,
        [ann],
        message(alone, sender, [ann], display_name="Chief Executive"),
    )
    assert refused(sent.data, "impersonation of a registered name"), sent
    assert not mail.postfix.was_delivered(alone)


def test_a_content_policy_on_the_subject_drops_the_message(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("content") + ".example", "MALICIOUS")
    account.create(
        "content_policies",
        {
            "name": "Gift cards",
            "pattern": r"gift\s+cards?",
            "targets": ["SUBJECT"],
            "enabled": True,
        },
    )
    settle()
    to = [f"ann@{corp['domain']}"]
    subject = mail.unique("Buy GIFT  CARDS now ")
    sent = send(
        mail.postfix.port(), "shop@vendor.example", to, message(subject, "shop@vendor.example", to)
    )
    assert refused(sent.data, "content policy"), sent
    clean = mail.unique("Your invoice ")
    sent = send(
        mail.postfix.port(),
        "shop@vendor.example",
        to,
        message(clean, "shop@vendor.example", to, text="gift cards inside"),
    )
    assert sent.data is not None
    assert sent.data[0] == 250  # the policy targets the subject, not the body
    mail.postfix.wait_delivered(clean)
    assert not mail.postfix.was_delivered(subject)


def _trusted_partner(mail: MailSystem, account: Account, partner: str) -> dict[str, str]:
    corp = account.protect(mail.unique("trust") + ".example", "MALICIOUS", "MALICIOUS-BEC")
    account.create(
        "allow_policies",
        {
            "pattern": partner,
            "pattern_type": "DOMAIN",
            "is_regex": False,
            "is_trusted_sender": True,
            "is_acceptable_sender": False,
            "is_exempt_recipient": False,
            "verify_sender": True,
        },
    )
    account.create(
        "impersonation_registry",
        {"name": "Chief Executive", "email": f"chief@{corp['domain']}", "is_email_regex": False},
    )
    settle()
    return corp


def test_a_trusted_sender_with_a_trusted_pass_is_delivered_despite_a_finding(
    mail: MailSystem, account: Account
) -> None:
    # The stand-in authentication milter passes partner.example; the display name is a
    # registered one, an impersonation finding that only a verified trusted sender lifts.
    corp = _trusted_partner(mail, account, "partner.example")
    to = [f"ann@{corp['domain']}"]
    subject = mail.unique("trusted-")
    sender = "chief@partner.example"
    sent = send(
        mail.postfix.port("authenticated"),
        sender,
        to,
        message(subject, sender, to, display_name="Chief Executive"),
    )
    assert sent.data is not None
    assert sent.data[0] == 250, sent
    delivered = mail.postfix.wait_delivered(subject)
    assert delivered.message["X-MailPolicy-Disposition"] == "NONE"
    assert "trusted_sender allow_policies/" in delivered.message["X-MailPolicy-Reasons"]
    assert delivered.message["Authentication-Results"].startswith(TRUSTED_AUTHSERV_ID)


def test_a_forged_authentication_result_is_ignored(mail: MailSystem, account: Account) -> None:
    # imposter.example is trusted only when verified; the authentication milter fails it, and
    # the message brings its own "pass" in the trusted authserv-id's name, in two places.
    corp = _trusted_partner(mail, account, "imposter.example")
    to = [f"ann@{corp['domain']}"]
    sender = "chief@imposter.example"
    # A DKIM pass alone would verify the sender, whatever SPF and DMARC said.
    forged = f"{TRUSTED_AUTHSERV_ID}; dkim=pass header.d=imposter.example; dmarc=pass"
    subject = mail.unique("forged-")
    content = message(
        subject,
        sender,
        to,
        display_name="Chief Executive",
        headers=[("Authentication-Results", forged), ("X-Mailer", "x")],  # on top
    )
    content["Authentication-Results"] = forged.upper()  # and below the others
    sent = send(mail.postfix.port("authenticated"), sender, to, content)
    assert refused(sent.data, "impersonation of a registered name"), sent
    assert not mail.postfix.was_delivered(subject)


def test_a_setting_changed_through_the_api_is_enforced_within_a_second(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("live") + ".example", "MALICIOUS")
    settle()
    to = [f"ann@{corp['domain']}"]
    sender = f"news@{mail.unique('late')}.example"
    before = mail.unique("before-")
    sent = send(mail.postfix.port(), sender, to, message(before, sender, to))
    assert sent.rcpt[to[0]][0] == 250
    mail.postfix.wait_delivered(before)
    account.create(
        "block_senders",
        {"pattern": sender.partition("@")[2], "pattern_type": "DOMAIN", "is_regex": False},
    )
    time.sleep(1.0)
    sent = send(mail.postfix.port(), sender, to, message(mail.unique("after-"), sender, to))
    assert refused(sent.rcpt[to[0]], "blocked sender"), sent


def test_quarantine_puts_the_message_in_the_hold_queue(mail: MailSystem, account: Account) -> None:
    corp = account.protect(mail.unique("hold") + ".example", "MALICIOUS")
    account.create(
        "content_policies",
        {"name": "Wire", "pattern": "wire transfer", "targets": ["BODY"], "enabled": True},
    )
    settle()
    to = [f"ann@{corp['domain']}"]
    subject = mail.unique("held-")
    sent = send(
        mail.postfix.port("quarantine"),
        "boss@vendor.example",
        to,
        message(subject, "boss@vendor.example", to, text="Please make the wire transfer today."),
    )
    assert sent.data is not None
    assert sent.data[0] == 250, sent  # accepted, and held
    deadline = time.monotonic() + 10
    while not any(q["queue_name"] == "hold" for q in mail.postfix.queued()):
        assert time.monotonic() < deadline, mail.postfix.log_tail()
        time.sleep(0.1)
    held = [q for q in mail.postfix.queued() if q["queue_name"] == "hold"]
    assert [r["address"] for q in held for r in q["recipients"]] == to  # type: ignore[index, union-attr]
    assert not mail.postfix.was_delivered(subject)
    assert "content policy" in mail.postfix.maillog.read_text()


def test_the_milter_restarted_mid_session_defers_then_mail_flows_again(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("restart") + ".example", "MALICIOUS")
    account.create(
        "block_senders", {"pattern": "bulk.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    settle()
    to = f"ann@{corp['domain']}"
    port = mail.postfix.port("restart")
    milter = mail.milters["restart"]
    import smtplib

    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        smtp.ehlo("client.example")
        assert smtp.mail("someone@ok.example")[0] == 250
        milter.kill()  # gone mid-session
        code, text = smtp.rcpt(to)
        # Postfix applies milter_default_action = tempfail (the README's line).
        assert 400 <= code < 500, (code, text)
    milter.start()
    subject = mail.unique("after-restart-")
    sent = send(port, "someone@ok.example", [to], message(subject, "someone@ok.example", [to]))
    assert sent.data is not None
    assert sent.data[0] == 250
    assert mail.postfix.wait_delivered(subject).message["X-MailPolicy-Disposition"] == "NONE"
    sent = send(port, "x@bulk.example", [to], message(mail.unique("bulk-"), "x@bulk.example", [to]))
    assert refused(sent.rcpt[to], "blocked sender")


def test_hit_counts_and_emails_processed_come_from_real_mail(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("count") + ".example", "MALICIOUS")
    blocked = account.create(
        "block_senders", {"pattern": "counted.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    unused = account.create(
        "block_senders", {"pattern": "never.example", "pattern_type": "DOMAIN", "is_regex": False}
    )
    settle()
    to = [f"ann@{corp['domain']}"]
    for n in range(3):
        sent = send(
            mail.postfix.port(), "x@counted.example", to, message(f"c{n}", "x@counted.example", to)
        )
        assert refused(sent.rcpt[to[0]], "blocked sender")
    clean = mail.unique("clean-")
    send(mail.postfix.port(), "y@fine.example", to, message(clean, "y@fine.example", to))
    mail.postfix.wait_delivered(clean)
    deadline = time.monotonic() + 10
    while True:
        report = account.api("GET", "../stats/entries", params={"resource": "block_senders"})
        hits = {e["id"]: e for e in report.json()["result"]}
        if hits[blocked["id"]]["hits"] == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert hits[blocked["id"]]["hits"] == 3
    assert hits[blocked["id"]]["last_hit_at"] is not None
    assert hits[unused["id"]]["hits"] == 0
    assert hits[unused["id"]]["last_hit_at"] is None
    domain = account.api("GET", "domains", corp["id"]).json()["result"]
    assert domain["emails_processed"]["total_emails_processed"] == 4


def test_hostile_messages_get_a_decision_never_a_hang(mail: MailSystem, account: Account) -> None:
    corp = account.protect(mail.unique("hostile") + ".example", "MALICIOUS")
    account.create(
        "content_policies",
        {"name": "Lottery", "pattern": "lottery", "targets": ["SUBJECT", "BODY"], "enabled": True},
    )
    settle()
    to = [f"ann@{corp['domain']}"]
    port = mail.postfix.port()
    sender = "odd@sender.example"

    many_headers = b"".join(b"X-Junk-%d: %s\r\n" % (n, b"v" * 40) for n in range(10_000))
    head = f"From: {sender}\r\nTo: {to[0]}\r\n".encode()
    sent = send(port, sender, to, head + many_headers + b"Subject: lottery\r\n\r\nhi\r\n")
    assert refused(sent.data, "content policy"), "10,000 headers"

    # 50 MB: the milter reads the first MAILPOLICY_MILTER_MAX_BODY_BYTES (1 MiB) and no more.
    big = b"lottery\r\n" + b"x" * 998 + b"\r\n"
    filler = (b"y" * 998 + b"\r\n") * (50 * 1024 * 1024 // 1000)
    subject = mail.unique("big-")
    started = time.monotonic()
    sent = send(
        port, sender, to, head + b"Subject: " + subject.encode() + b"\r\n\r\n" + big + filler
    )
    assert refused(sent.data, "content policy"), "the policy's text is in the first megabyte"
    late = mail.unique("late-")
    sent = send(port, sender, to, head + b"Subject: " + late.encode() + b"\r\n\r\n" + filler + big)
    assert sent.data is not None
    assert sent.data[0] == 250, "beyond the bound, the text is not read"
    assert time.monotonic() - started < 60

    broken = (
        head
        + b"Subject: broken\r\nMIME-Version: 1.0\r\n"
        + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        + b'--b\r\nContent-Type: multipart/alternative; boundary="c"\r\n\r\n' * 2000
        + b"--c\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\n!!not base64!! lottery \x00\xff\xfe\r\n"
    )
    sent = send(port, sender, to, broken)
    assert sent.data is not None
    assert sent.data[0] in {250, 550}, sent  # a decision, whatever the parser made of it
    nul = head + b"Subject: =?x-bogus?B?AAAA?= \x00 lottery\r\n\r\n\x00\x00 text\r\n"
    sent = send(port, sender, to, nul)
    assert sent.data is not None
    assert sent.data[0] in {250, 550}, sent


def test_no_milter_logged_a_failure(mail: MailSystem) -> None:
    """Run last: every message above got a decision without a callback failing."""
    for name in ("main", "quarantine", "restart"):
        log = (mail.directory / f"milter-{name}.log").read_text(errors="replace")
        assert "Traceback" not in log, log
        assert " ERROR" not in log, log
        assert "deferred" not in log, log


def test_regex_patterns_an_exempt_recipient_and_a_disabled_policy_on_real_mail(
    mail: MailSystem, account: Account
) -> None:
    corp = account.protect(mail.unique("regex") + ".example", "MALICIOUS", "MALICIOUS-BEC")
    domain = corp["domain"]
    account.create(
        "block_senders",
        {"pattern": r"^promo[0-9]+@mailer[.]example$", "pattern_type": "EMAIL", "is_regex": True},
    )
    exempt = account.create(
        "allow_policies",
        {
            "pattern": rf"^(abuse|postmaster)@{domain.replace('.', '[.]')}$",
            "pattern_type": "EMAIL",
            "is_regex": True,
            "is_exempt_recipient": True,
            "is_acceptable_sender": False,
            "is_trusted_sender": False,
            "verify_sender": False,
        },
    )
    account.create(
        "impersonation_registry",
        {
            "name": "Chief Executive",
            "email": rf"^chief(-office)?@{domain}$",
            "is_email_regex": True,
        },
    )
    account.create(
        "content_policies",
        {"name": "Off", "pattern": "lottery", "targets": ["SUBJECT"], "enabled": False},
    )
    settle()
    ann, abuse = f"ann@{domain}", f"abuse@{domain}"
    # The regex blocks promo7@ at RCPT; the exempt recipient still gets the message.
    subject = mail.unique("promo-")
    sender = "promo7@mailer.example"
    sent = send(mail.postfix.port(), sender, [ann, abuse], message(subject, sender, [ann, abuse]))
    assert refused(sent.rcpt[ann], "blocked sender"), sent
    assert sent.rcpt[abuse][0] == 250
    delivered = mail.postfix.wait_delivered(subject)
    assert delivered.recipients == [abuse]
    assert (
        f"exempt_recipient allow_policies/{exempt['id']}"
        in delivered.message["X-MailPolicy-Reasons"]
    )
    # A sender the regex does not match is not blocked.
    other = mail.unique("news-")
    sent = send(
        mail.postfix.port(), "news@mailer.example", [ann], message(other, "x@y.example", [ann])
    )
    assert sent.rcpt[ann][0] == 250
    mail.postfix.wait_delivered(other)
    # The registered name from an address its regex admits is the person; from another, not.
    genuine, forged = mail.unique("genuine-"), mail.unique("forged-")
    for subject, sender in ((genuine, f"chief-office@{domain}"), (forged, "chief@free.example")):
        sent = send(
            mail.postfix.port(),
            sender,
            [ann],
            message(subject, sender, [ann], display_name="Chief Executive"),
        )
        assert sent.data is not None
        if subject == genuine:
            assert sent.data[0] == 250, sent
        else:
            assert refused(sent.data, "impersonation of a registered name"), sent
    assert mail.postfix.wait_delivered(genuine).message["X-MailPolicy-Disposition"] == "NONE"
    assert not mail.postfix.was_delivered(forged)
    # A disabled content policy matches nothing.
    lottery = mail.unique("You won the lottery ")
    sent = send(mail.postfix.port(), "x@y.example", [ann], message(lottery, "x@y.example", [ann]))
    assert sent.data is not None
    assert sent.data[0] == 250, sent
    mail.postfix.wait_delivered(lottery)
