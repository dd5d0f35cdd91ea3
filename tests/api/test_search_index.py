"""The `search` of settings lists through its index: the answers (ids, totals, order, pages) are
those of the literal-substring test, computed here from the entries themselves, whichever way
the database finds them, and stay so through edits, replacements, deletes, batches and an
account's deletion.

What a search means: a substring of any of the resource's search fields, `%`, `_`, `\\` and
quotes matched as themselves, case ignored as the database's LIKE ignores it: on SQLite for
ASCII letters only (so `ä` does not find `Ä`, though the trigram index folds both), on
PostgreSQL as its lower() does (the test cluster's locale, C.UTF-8, folds all of Unicode).

On SQLite a search of three characters or more reads the FTS5 trigram index's candidates when
that costs less than reading the account (mailpolicy.resources.search_index), which a test
account of a few dozen entries never does: the `forced` route lowers the bounds of that choice
so that every such search takes the index, the `chosen` route keeps them, and a test with more
entries than the bound shows the index taken as it is. On PostgreSQL the planner picks the
pg_trgm indexes itself: there is only the `chosen` route.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from mailpolicy.resources import REGISTRY, search_index
from mailpolicy.resources.spec import ResourceSpec
from tests.support.api import Api, make_tenant
from tests.support.databases import kind
from tests.support.resources import BY_PATH, Entry, Resource, batch, params, put_item

SQLITE = kind() == "sqlite"
SEARCHABLE = tuple(r for r in BY_PATH.values() if r.search)
SPECS: dict[str, ResourceSpec[Any]] = {spec.path: spec for spec, _ in REGISTRY}

# Free text put in the entries' comments (names, notes): letters with and without an ASCII
# case, the LIKE wildcards and its escape, quotes, words to span.
TEXTS = (
    "Grüße aus Köln",
    "GRÜSSE AUS KÖLN",
    "Ärger mit Ämtern",
    "ärger im Büro",
    "Straße und STRASSE",
    "100% sicher",
    "snake_case_name",
    "C:\\Users\\Mail",
    'say "hello" now',
    "it's O'Brien's",
    "MiXeD CaSe Words",
    "mixed case words",
    "ab",
    "x",
    "a long comment about the quarterly invoice run from the billing team",
    'quote"" doubled',
    "percent%%signs and under__scores",
    "ends with a backslash\\",
)
# Regular expressions for the pattern fields that take one: the same kinds of characters.
REGEXES = (
    "Grüße_100%\\.Köln",
    "C:\\\\Users\\\\Ärger",
    'say "hi" ÄÖ',
    "O'Brien_\\d+ß",
    "STRASSE\\.straße",
)
NEEDLES = (
    # One character, two: under the trigram index's reach.
    *("x", "a", "s", "ä", "Ä", "ß", "%", "_", "\\", '"', "'", "ab", "AB", "%%", "__", "0%"),
    # Letters outside ASCII, in either case.
    *("grü", "GRÜ", "grüße", "GRÜSSE", "ärger", "Ärger", "ÄRGER", "büro", "BÜRO", "köln"),
    *("strasse", "straße", "STRASSE", "Straße und", "ÄÖ"),
    # The LIKE wildcards and escape, and quotes, as characters.
    *("100%", "0% s", "%si", "e_c", "_na", "r__s", "%%s", "\\Us", "C:\\", "sh\\", "\\\\"),
    *('"hello"', 'y "h', '""', 'e"" d', "O'B", "'s", "n's O"),
    # Words, spanned words, case.
    *("mixed", "MIXED CASE", "ed ca", "Se Wo", "quarterly invoice", "INVOICE RUN FROM"),
    *("run from the", "team", "ends with", "no such text anywhere", "100", "xyz"),
    # What the generated fields hold (patterns, domains, names, addresses, transports).
    *("example", ".EXAMPLE", "partner", "PARTNER1", "@", "spam", "203.0.113", "corp", "relay"),
    *("smtp://", "person", "Policy 1", "invoice +#", "tls1", "patched", "Patched by"),
)


def _folded(value: str) -> str:
    if SQLITE:
        return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in value)
    return value.lower()


def holds(resource: Resource, entry: Entry, needle: str) -> bool:
    """The search's test, in Python."""
    return any(_folded(needle) in _folded(entry[name] or "") for name in resource.search)


def ordered(entries: list[Entry], *, descending: bool = False) -> list[Entry]:
    """A list's default order: by creation time, then id, in one direction."""
    return sorted(entries, key=lambda e: (e["created_at"], e["id"]), reverse=descending)


def _regex(n: int) -> str:
    return f"{REGEXES[n % len(REGEXES)]}{n}"


def tricky(resource: Resource, n: int) -> Entry:
    """A valid create body for `resource` whose search fields hold some of the text above."""
    body = resource.make(n)
    if resource.note is not None:
        body[resource.note] = TEXTS[n % len(TEXTS)]
    path = resource.path
    if path in {"allow_policies", "block_senders", "trusted_domains"} and n % 3 == 1:
        body |= {"pattern": _regex(n), "is_regex": True}
    elif path == "content_policies":
        body |= {"name": f"{TEXTS[(n + 5) % len(TEXTS)]} {n}", "pattern": _regex(n)}
    elif path == "impersonation_registry":
        body["name"] = TEXTS[(n + 5) % len(TEXTS)]
        if n % 3 == 1:
            body |= {"email": _regex(n), "is_email_regex": True}
    elif path == "domains":
        body["transport"] = f"smtp://Relay{n}.MX-Corp.example:25"
    return body


COUNT = len(TEXTS) + 4


def populate(api: Api, resource: Resource, start: int = 0, count: int = COUNT) -> list[Entry]:
    return [api.create(resource.path, tricky(resource, n)) for n in range(start, start + count)]


def everything(api: Api, resource: Resource) -> list[Entry]:
    response = api.get(resource.path, params={"per_page": 1000})
    assert response.status_code == 200, response.text
    entries: list[Entry] = response.json()["result"]
    return entries


@pytest.fixture(params=["chosen", "forced"] if SQLITE else ["chosen"])
def route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """How a search is read: as the database and search_index choose (a test account is
    scanned on SQLite), or, on SQLite, `forced` through the index: an account of any size and
    a needle of any number of candidates."""
    if request.param == "forced":
        monkeypatch.setattr(search_index, "FIRST_PROBE", 2)
        monkeypatch.setattr(search_index, "SCAN_RATIO", 0)
    route: str = request.param
    return route


@contextmanager
def statements(app: FastAPI) -> Iterator[list[str]]:
    """The SQL the database is sent while the block runs."""
    seen: list[str] = []

    def grab(*args: Any) -> None:
        seen.append(args[2])

    engine = app.state.db.engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", grab)


def through_index(sent: list[str]) -> bool:
    """Whether a list's count or page read the search index's candidates (not just asked how
    many there are)."""
    return any(".rowid IN" in sql for sql in sent)


def searched(api: Api, resource: Resource, needle: str, **query: Any) -> tuple[list[str], int]:
    response = api.get(resource.path, params={"search": needle, **query})
    assert response.status_code == 200, response.text
    body = response.json()
    return [e["id"] for e in body["result"]], body["result_info"]["total_count"]


def derived(resource: Resource, entries: list[Entry]) -> list[str]:
    """Needles cut from the entries' own fields, in the other case: 3, 5 and all characters."""
    cut = []
    for entry in entries[:4]:
        for name in resource.search:
            value = entry[name] or ""
            cut += [value[1:4].swapcase(), value[2:7].swapcase(), value]
    return [needle for needle in cut if needle]


def assert_searches(
    app: FastAPI, api: Api, resource: Resource, entries: list[Entry], route: str
) -> None:
    """Every needle's answer is the reference's: ids in order, and the total."""
    # Each needle once: a total counted at this settings version would be taken as known.
    for needle in dict.fromkeys((*NEEDLES, *derived(resource, entries))):
        expected = [e["id"] for e in ordered(entries) if holds(resource, e, needle)]
        with statements(app) as sent:
            ids, total = searched(api, resource, needle, per_page=1000)
        assert (ids, total) == (expected, len(expected)), (resource.path, needle)
        if SQLITE:
            expected_route = route == "forced" and len(needle) >= search_index.MIN_NEEDLE
            assert through_index(sent) == expected_route, needle


def commonest(resource: Resource, entries: list[Entry]) -> str:
    """The three characters of the entries' search fields that the most entries hold."""
    grams = {
        value[i : i + 3]
        for e in entries
        for f in resource.search
        for value in [e[f] or ""]
        for i in range(len(value) - 2)
    }
    return max(sorted(grams), key=lambda gram: sum(holds(resource, e, gram) for e in entries))


def assert_pages(api: Api, resource: Resource, entries: list[Entry], needle: str) -> None:
    """Page by page, both ways: every match once, in order, each page with the full total."""
    for direction in ("asc", "desc"):
        expected = [
            e["id"]
            for e in ordered(entries, descending=direction == "desc")
            if holds(resource, e, needle)
        ]
        assert len(expected) > 3, needle
        seen: list[str] = []
        for page in range(1, len(expected) // 3 + 3):
            ids, total = searched(api, resource, needle, per_page=3, page=page, direction=direction)
            assert total == len(expected)
            seen += ids
        assert seen == expected, (resource.path, needle, direction)


def assert_index_exact(app: FastAPI) -> None:
    """SQLite: every search index holds exactly its table's rows (FTS5 compares them itself)."""
    if not SQLITE:
        return
    with app.state.db.transaction() as session:
        for spec in SPECS.values():
            if spec.search:
                name = search_index.index_table(spec.model.__tablename__)
                session.execute(
                    text(f"INSERT INTO {name} ({name}, rank) VALUES ('integrity-check', 1)")  # noqa: S608  # a table's own name
                )


def rewrite(api: Api, resource: Resource, entries: list[Entry]) -> None:
    """Edits (of search fields and of others), deletes and a batch, moving text in and out.
    The entries picked are make(n)'s for n that every resource lets be edited (make(2) is a
    synced impersonation entry) and, for a replacement (which leaves is_regex false), holds no
    regex (make(9))."""
    path, note = resource.path, resource.note
    first, second, fourth, fifth, sixth, seventh, eighth, tenth = (
        entries[n] for n in (0, 1, 3, 4, 5, 6, 7, 9)
    )
    # The contract suite's edit of make(0)'s entry: search fields and others.
    assert api.patch(path, first["id"], json=resource.patch).status_code == 200
    if note is not None:
        assert api.patch(path, second["id"], json={note: "patched Grüße 100%_x"}).status_code == 200
        assert api.patch(path, fourth["id"], json={note: None}).status_code == 200
    others = {k: v for k, v in resource.patch.items() if k not in resource.search}
    if others and resource.path != "sending_domain_restrictions":  # its exclude fits make(0)
        assert api.patch(path, fifth["id"], json=others).status_code == 200
    assert api.delete(path, sixth["id"]).status_code == 200
    if resource.batch == "full":
        edit = {note: 'batch Ärger "q" 100%'} if note else {"transport": "smtp://Batch.Relay.ex"}
        body = batch(
            deletes=[{"id": seventh["id"]}],
            patches=[{"id": eighth["id"], **edit}],
            puts=[put_item(resource, tenth)],
            posts=[tricky(resource, n) for n in (100, 101, 102)],
        )
        response = api.post(path, "batch", json=body)
    elif resource.batch == "deletes":
        response = api.post(path, "batch", json={"deletes": [{"id": seventh["id"]}]})
    else:
        assert api.delete(path, seventh["id"]).status_code == 200
        response = api.post(path, json=tricky(resource, 100))
    assert response.status_code in {200, 201}, response.text


@pytest.mark.parametrize("resource", params(SEARCHABLE))
def test_search_answers_as_the_substring_test_through_every_write(
    app: FastAPI, api: Api, resource: Resource, route: str
) -> None:
    entries = populate(api, resource)
    assert_searches(app, api, resource, entries, route)
    for needle in (commonest(resource, entries), "s"):
        assert_pages(api, resource, entries, needle)
    assert_index_exact(app)

    rewrite(api, resource, entries)
    entries = everything(api, resource)
    assert_searches(app, api, resource, entries, route)
    assert_pages(api, resource, entries, commonest(resource, entries))
    assert_index_exact(app)


@pytest.mark.parametrize("resource", params(SEARCHABLE))
def test_an_accounts_entries_leave_the_index_with_it(
    app: FastAPI, client: TestClient, resource: Resource, route: str
) -> None:
    """Deleting an account deletes its entries by the foreign keys' cascade (there is no API for
    it): they leave the index too, and the other account's searches are unchanged."""
    leaving, staying = (
        make_tenant(app.state.db, f"cascade{route}{resource.path}{side}") for side in "ab"
    )
    marker = marked(resource)
    populate(Api(client, leaving), resource)
    Api(client, leaving).create(resource.path, marker)
    kept = populate(Api(client, staying), resource, start=200)
    with app.state.db.transaction() as session:
        session.execute(text("DELETE FROM accounts WHERE id = :id"), {"id": leaving.id})
    assert_index_exact(app)
    if SQLITE:
        name = search_index.index_table(SPECS[resource.path].model.__tablename__)
        with app.state.db.transaction(write=False) as session:
            found = session.execute(
                text(f"SELECT count(*) FROM {name} WHERE {name} MATCH :phrase"),  # noqa: S608  # a table's own name
                {"phrase": f'"{MARKER}"'},
            )
            assert found.scalar_one() == 0
    api = Api(client, staying)
    assert everything(api, resource) == kept
    assert searched(api, resource, MARKER) == ([], 0)
    assert_searches(app, api, resource, kept, route)


MARKER = "leaving-marker-q7z"


def marked(resource: Resource) -> Entry:
    """An entry whose search fields hold MARKER, and no other entry's."""
    body = tricky(resource, 300)
    if resource.note is not None:
        body[resource.note] = f"the {MARKER}"
    else:
        body["transport"] = f"smtp://{MARKER}.example"
    return body


def test_every_searchable_table_has_its_index(app: FastAPI) -> None:
    """At head, every searchable resource's search columns are indexed, kept by triggers on
    SQLite: a migration that rebuilt one of these tables without making its index again, or a
    search column the index lacks, shows here."""
    with app.state.db.engine.connect() as conn:
        for spec in SPECS.values():
            if not spec.search:
                continue
            table = spec.model.__tablename__
            columns = [attribute.key for attribute in spec.search]
            if SQLITE:
                index = search_index.index_table(table)
                info = conn.exec_driver_sql(f"PRAGMA table_info({index})").all()
                assert [row[1] for row in info] == columns, table
                triggers = dict(
                    conn.exec_driver_sql(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                        " AND tbl_name = ?",
                        (table,),
                    ).all()
                )
                assert set(triggers) == {f"{index}_{e}" for e in ("insert", "delete", "update")}
                for sql in triggers.values():
                    assert all(f".{column}" in sql for column in columns), sql
            else:
                made = dict(
                    conn.execute(
                        text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t"),
                        {"t": table},
                    ).all()
                )
                for column in columns:
                    definition = made[search_index.pg_index(table, column)]
                    assert f"USING gin ({column} gin_trgm_ops)" in definition, definition


def all_pages(api: Api, resource: Resource) -> list[Entry]:
    entries: list[Entry] = []
    page = 1
    while True:
        response = api.get(resource.path, params={"per_page": 1000, "page": page})
        assert response.status_code == 200, response.text
        if not response.json()["result"]:
            return entries
        entries += response.json()["result"]
        page += 1


def test_a_large_account_takes_the_index_as_it_is(app: FastAPI, api: Api) -> None:
    """More entries than the bound under which an account is read whole: a rare needle is read
    through the index, one in every entry by a scan, and both answer as the reference does,
    above the few-matches threshold too."""
    resource = BY_PATH["block_senders"]
    many = search_index.FIRST_PROBE + 100
    posts = [
        {
            "pattern": f"bulk{n}.Example.net",
            "pattern_type": "DOMAIN",
            "is_regex": False,
            "comments": f"Bulk Grüße {n}",
        }
        for n in range(many)
    ]
    for start in range(0, many, 1000):
        response = api.post(resource.path, "batch", json=batch(posts=posts[start : start + 1000]))
        assert response.status_code == 200, response.text
    entries = all_pages(api, resource)
    assert len(entries) == many
    cases = (("Grüße 1042", True), ("BULK GRÜ", False), ("bulk1", True), ("k1", False))
    for needle, indexed in cases:
        expected = [e["id"] for e in ordered(entries) if holds(resource, e, needle)]
        with statements(app) as sent:
            first, total = searched(api, resource, needle, per_page=1000)
        assert total == len(expected), needle
        assert first == expected[:1000], needle
        second, _ = searched(api, resource, needle, per_page=1000, page=2)
        assert second == expected[1000:2000], needle
        if SQLITE:
            assert through_index(sent) == indexed, needle
    assert_index_exact(app)
