"""The pymilter glue, driven by pymilter's own test context instead of an MTA: what each
stage answers, and how a failure turns into a deferral rather than a crash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import Milter
import pytest
from fastapi import FastAPI
from Milter import testctx

from mailpolicy.db import Database
from mailpolicy.milter.policies import Policies
from mailpolicy.milter.service import LocalPolicyMilter, PolicyMilter
from mailpolicy.stats.hits import HitRecorder
from tests.support.milter import AccountSettings


@pytest.fixture(params=[PolicyMilter, LocalPolicyMilter], ids=["tcp", "local"])
def factory(request: pytest.FixtureRequest, app: FastAPI) -> Iterator[type[PolicyMilter]]:
    chosen: type[PolicyMilter] = request.param
    database: Database = app.state.db
    chosen.policies = Policies(database, interval=60)
    chosen.recorder = HitRecorder(database, interval=60)
    chosen.drop_action = "reject"
    chosen.trusted_id = None
    Milter.factory = chosen
    yield chosen
    Milter.factory = Milter.Milter


def connected(factory: type[PolicyMilter]) -> testctx.TestCtx:
    ctx = testctx.TestCtx()
    assert ctx._connect(host="mx.sender.example", helo="mx.sender.example", ip="203.0.113.9") in {
        Milter.CONTINUE,
        Milter.TEMPFAIL,
    }
    return ctx


def test_nothing_passes_before_settings_are_loaded(factory: type[PolicyMilter]) -> None:
    ctx = testctx.TestCtx()
    answers = [ctx._connect(ip="203.0.113.9")]
    if answers[0] == Milter.CONTINUE:  # over a local socket the MTA does not wait at connect
        answers.append(ctx._envfrom("<a@sender.example>"))
        answers.append(ctx._envrcpt("<ann@corp.example>"))
    assert answers[-1] == Milter.TEMPFAIL
    assert ctx._reply[0] == "451"


def test_a_blocked_sender_is_refused_and_counted(
    factory: type[PolicyMilter], settings_: AccountSettings, app: FastAPI
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    blocked = settings_.block("spam.example")
    assert factory.policies.refresh()
    ctx = connected(factory)
    assert ctx._envfrom("<promo@spam.example>") == Milter.CONTINUE
    assert ctx._envrcpt("<ann@corp.example>") == Milter.REJECT
    assert ctx._reply == ("550", "5.7.1", "Message refused by mailpolicy: blocked sender")
    ctx._close()
    assert factory.recorder.flush()
    with app.state.db.transaction() as session:
        from mailpolicy.resources import REGISTRY
        from mailpolicy.stats.report import entry_report

        rows, _ = entry_report(
            session, [s for s, _ in REGISTRY], settings_.tenant.id, resource="block_senders"
        )
    assert [(r.id, r.hits) for r in rows] == [(blocked["id"], 1)]


def test_a_failing_stage_defers_the_message(
    factory: type[PolicyMilter], settings_: AccountSettings
) -> None:
    settings_.protect("corp.example", "MALICIOUS")
    assert factory.policies.refresh()
    ctx = connected(factory)
    milter: Any = ctx.getpriv()
    # A header before any MAIL FROM: the stage fails, the milter does not.
    answer = milter.header("Subject", b"hello")
    assert answer in {Milter.TEMPFAIL, Milter.CONTINUE, Milter.NOREPLY}
    assert milter.failed
    assert ctx._envfrom("<a@sender.example>") == Milter.CONTINUE
    milter.failed = True  # as if a header of this message had failed
    assert milter.eom() == Milter.TEMPFAIL
    assert ctx._reply[0] == "451"
