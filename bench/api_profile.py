"""Where the server's time goes: py-spy's raw stacks, sorted into the costs of a request.

bench/api.py --profile DIR records the server with py-spy while wrk drives one scenario at a
time and writes, per scenario, the raw stacks (NAME.txt, for flame graphs) and NAME.md, made
here: the samples of busy threads (a worker waiting for work and the event loop waiting for
sockets are idle), each counted once under the first of these places that its stack shows,
and the share of a few request-path functions, inclusive.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

Stack = list[str]

# A thread whose innermost frame is one of these is waiting, not working.
IDLE = ("Condition.wait (threading.py", "EpollSelector.select (selectors.py")


def _has(stack: Stack, *needles: str) -> bool:
    return any(needle in frame for frame in stack for needle in needles)


def _leaf(stack: Stack, *needles: str) -> bool:
    return any(needle in stack[-1] for needle in needles)


# (place, test): a busy sample belongs to the first place whose test its stack passes.
PLACES: list[tuple[str, Callable[[Stack], bool]]] = [
    (
        "opening and closing database connections (connect, PRAGMAs, close)",
        lambda s: _has(s, "_sqlite_pragmas", "DefaultDialect.connect", "do_close", "__connect"),
    ),
    (
        "BEGIN, COMMIT and ROLLBACK",
        lambda s: _has(s, "_sqlite_begin") or _leaf(s, "do_commit", "do_rollback"),
    ),
    (
        "the database running statements and handing over rows (driver calls)",
        lambda s: _leaf(s, "do_execute", "fetchall", "fetchone", "fetchmany", "_execute_context"),
    ),
    (
        "the policy engine and its snapshot",
        lambda s: _has(s, "mailpolicy/engine/", "mailpolicy/evaluation/snapshots.py"),
    ),
    (
        "SQLAlchemy in Python (statements, ORM objects, result rows, pool, events)",
        lambda s: _has(s, "sqlalchemy/"),
    ),
    ("the access log", lambda s: _has(s, "logging/__init__.py")),
    (
        "handing work to the thread pool and back (queue, wake-ups)",
        lambda s: (
            _leaf(s, "_write_to_self", "_read_from_self", "Condition.notify", "Queue.put")
            or _has(s, "run_sync_in_worker_thread", "to_thread.py")
        ),
    ),
    (
        "socket reads and writes",
        lambda s: _leaf(s, "_SelectorSocketTransport.write", "_read_ready", "sock_recv", "send"),
    ),
    ("pydantic (request validation, models)", lambda s: _has(s, "pydantic")),
    ("JSON encoding of answers", lambda s: _has(s, "json/encoder.py", "json/__init__.py")),
    ("the HTTP protocol (h11, uvicorn)", lambda s: _has(s, "h11/", "uvicorn/protocols/")),
    (
        "FastAPI and Starlette (routing, dependencies, middleware)",
        lambda s: _has(s, "fastapi/", "starlette/"),
    ),
    ("mailpolicy's own code", lambda s: _has(s, "mailpolicy/")),
    ("the event loop and the rest", lambda _s: True),
]

# Request-path steps whose inclusive share says what each costs: a sample counts for a step
# when its stack holds every one of the step's frames.
STEPS: list[tuple[tuple[str, ...], str]] = [
    (("RequestGuard._lookup",), "authentication: the token lookup, in its own transaction"),
    (("account_access.<locals>.dependency",), "the access check against the path's account"),
    (("_transaction (mailpolicy/api/deps.py",), "the request's session dependency (open, commit)"),
    (("get_entry (mailpolicy/resources/crud.py",), "crud.get_entry"),
    (("list_entries (mailpolicy/resources/crud.py",), "crud.list_entries"),
    (
        ("list_entries (mailpolicy/resources/crud.py", "Session.scalar (sqlalchemy"),
        "... its COUNT(*) for result_info.total_count",
    ),
    (("list_entries (mailpolicy/resources/crud.py", "Session.scalars (sqlalchemy"), "... its page"),
    (("create_entry (mailpolicy/resources/crud.py",), "crud.create_entry"),
    (("_apply (mailpolicy/resources/crud.py",), "... its checks and duplicate-key query"),
    (("record_change (mailpolicy/resources/crud.py",), "... its version bump and audit event"),
    (("_sqlite_begin",), "BEGIN / BEGIN IMMEDIATE (waiting for the write lock included)"),
    (("SnapshotCache.get",), "the snapshot cache (its settings version query)"),
    (("evaluate (mailpolicy/engine",), "the policy engine's evaluate"),
    (("serialize (mailpolicy/resources",), "serializing entries"),
    (("Session.commit",), "Session.commit"),
    (("_sqlite_pragmas",), "new database connections (PRAGMAs on connect)"),
    (("solve_dependencies",), "FastAPI resolving dependencies"),
    (("Logger.handle",), "the access log"),
]


def read(raw: Path) -> list[tuple[Stack, int]]:
    stacks = []
    for line in raw.read_text(encoding="utf-8").splitlines():
        text, _, count = line.rpartition(" ")
        if text:
            stacks.append((text.split(";"), int(count)))
    return stacks


def summarise(raw: Path, title: str) -> str:
    stacks = read(raw)
    total = sum(count for _, count in stacks)
    busy = [(stack, count) for stack, count in stacks if not _leaf(stack, *IDLE)]
    working = sum(count for _, count in busy) or 1
    places: dict[str, int] = {}
    for stack, count in busy:
        place = next(name for name, test in PLACES if test(stack))
        places[place] = places.get(place, 0) + count
    lines = [
        f"# {title}",
        "",
        f"{total:,} samples, {working:,} of them of a busy thread.",
        "",
        "| share of busy samples | where |",
        "| ---: | --- |",
    ]
    for place, count in sorted(places.items(), key=lambda item: -item[1]):
        lines.append(f"| {count / working:.1%} | {place} |")
    lines += ["", "| inclusive share of busy samples | step |", "| ---: | --- |"]
    for needles, label in STEPS:
        count = sum(n for stack, n in busy if all(_has(stack, needle) for needle in needles))
        if count:
            lines.append(f"| {count / working:.1%} | {label} |")
    return "\n".join(lines) + "\n"
