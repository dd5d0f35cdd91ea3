"""Lists with more matches than the few-matches path takes: both query paths agree."""

from __future__ import annotations

import threading

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Connection

from mailpolicy.resources.crud import FEW_MATCHES
from tests.support.api import Api


def _blocked(index: int, pattern_type: str) -> dict[str, object]:
    pattern = f"sender{index}.example" if pattern_type == "DOMAIN" else f"s{index}@mail.example"
    return {"pattern": pattern, "pattern_type": pattern_type, "is_regex": False}


def test_filtered_lists_page_the_same_above_and_below_the_threshold(api: Api) -> None:
    many = FEW_MATCHES + 5
    posts = [_blocked(i, "DOMAIN") for i in range(many)]
    for start in range(0, many, 1000):
        chunk = posts[start : start + 1000]
        body = {"deletes": [], "patches": [], "puts": [], "posts": chunk}
        assert api.post("block_senders", "batch", json=body).status_code == 200
    for i in range(7):
        api.create("block_senders", _blocked(i, "EMAIL"))

    for pattern_type, expected in (("DOMAIN", many), ("EMAIL", 7)):
        seen: list[str] = []
        page = 1
        while True:
            response = api.get(
                "block_senders",
                params={
                    "pattern_type": pattern_type,
                    "order": "pattern",
                    "direction": "desc",
                    "per_page": 400,
                    "page": page,
                },
            )
            body = response.json()
            assert body["result_info"]["total_count"] == expected
            if not body["result"]:
                break
            assert {r["pattern_type"] for r in body["result"]} == {pattern_type}
            seen.extend(r["pattern"] for r in body["result"])
            page += 1
        assert len(seen) == expected
        assert len(set(seen)) == expected
        assert seen == sorted(seen, reverse=True)


def test_a_total_is_counted_off_the_event_loop_and_once_per_change(app: FastAPI, api: Api) -> None:
    """Counting a list's total walks every match: it runs once per settings version, never on
    the event loop, where every other request would wait for it, and (on SQLite) always on the
    one thread that counts. Pages whose total is known are read where they were asked (on
    SQLite, the loop)."""
    for i in range(3):
        api.create("block_senders", _blocked(i, "DOMAIN"))
    counted: list[int] = []
    counters: set[str] = set()
    paged: list[int] = []

    def record(_conn: Connection, _cursor: object, statement: str, *_: object) -> None:
        if "block_senders" not in statement:
            return
        if "count(" in statement.lower():
            counted.append(threading.get_ident())
            counters.add(threading.current_thread().name)
        elif "LIMIT" in statement:
            paged.append(threading.get_ident())

    engine = app.state.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        totals = [api.get("block_senders").json()["result_info"]["total_count"] for _ in range(3)]
        api.create("block_senders", _blocked(3, "DOMAIN"))
        totals += [api.get("block_senders").json()["result_info"]["total_count"] for _ in range(2)]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert totals == [3, 3, 3, 4, 4]
    assert len(counted) == 2  # once for each settings version
    assert len(paged) == 5
    if app.state.db.inline_lookups:
        # The lists whose total was known (the 2nd, 3rd and 5th) were read on the loop's thread.
        loop_thread = paged[1]
        assert paged[2] == paged[4] == loop_thread
        assert loop_thread not in counted
        assert len(counters) == 1
        assert counters.pop().startswith("mailpolicy-counts")
