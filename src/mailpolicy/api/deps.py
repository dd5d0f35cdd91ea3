"""Request dependencies: the session (one transaction per request), operator rules, access.

Only work that blocks leaves the event loop. Access and rules are read from memory on the
loop; an endpoint's database work runs in one transaction in one trip to the thread pool
(`ReadUnit`, `WriteUnit`), its commit done before the answer is sent. On SQLite, reads of a
few rows by key (an entry by id, a page near the start of a list) run on the loop itself
(`LookupUnit`, Database.lookup), and so does a write of one entry when the write lock is
free (`SmallWriteUnit`, Database.write_here).
(`SessionDep` and `WriteSessionDep` give a sync endpoint its session instead, at the cost of
a trip for the session's start and end besides the endpoint's own.)"""

# No `from __future__ import annotations`: the dependency built in account_access closes over
# `needed`, and FastAPI must read its signature as objects.

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mailpolicy.access.authenticate import AccountContext, Principal
from mailpolicy.access.credentials import PERMISSION_NAMES, Permission
from mailpolicy.api.guard import principal_of
from mailpolicy.config import Rules
from mailpolicy.db import Busy, Database
from mailpolicy.errors import Forbidden


def _transaction(request: Request, *, write: bool) -> Iterator[Session]:
    database: Database = request.app.state.db
    with database.transaction(write=write) as session:
        yield session


def read_session(request: Request) -> Iterator[Session]:
    """A read-only transaction: every query in it sees the same snapshot."""
    yield from _transaction(request, write=False)


def write_session(request: Request) -> Iterator[Session]:
    """A write transaction, holding the write lock from its first statement."""
    yield from _transaction(request, write=True)


async def get_rules(request: Request) -> Rules:
    rules: Rules = request.app.state.rules
    return rules


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Unit:
    """An endpoint's database work: `await unit(work)` runs `work(session)` in one transaction
    and hands back what it returned, once committed: on a worker thread, or (`lookup`, on
    SQLite) on the event loop when that costs no wait."""

    database: Database
    write: bool
    # A read of a few rows by key (Database.lookup), or a write of one entry
    # (Database.write_here): on SQLite, run on the event loop when that costs no wait.
    lookup: bool = False

    async def __call__(self, work: Callable[[Session], T]) -> T:
        if self.lookup and self.database.inline_lookups:
            if not self.write:
                with self.database.lookup() as session:
                    return work(session)
            done = self.database.write_here(work)
            if not isinstance(done, Busy):
                return done
        return await run_in_threadpool(self._run, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.database.transaction(write=self.write) as session:
            return work(session)


async def read_unit(request: Request) -> Unit:
    return Unit(request.app.state.db, write=False)


async def write_unit(request: Request) -> Unit:
    return Unit(request.app.state.db, write=True)


async def lookup_unit(request: Request) -> Unit:
    return Unit(request.app.state.db, write=False, lookup=True)


async def small_write_unit(request: Request) -> Unit:
    return Unit(request.app.state.db, write=True, lookup=True)


# scope="function": the commit runs before the response is sent, so a client that has its 2xx
# can rely on the write being durable, and a failed commit becomes an error, not a lost write.
SessionDep = Annotated[Session, Depends(read_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(write_session, scope="function")]
RulesDep = Annotated[Rules, Depends(get_rules)]
ReadUnit = Annotated[Unit, Depends(read_unit)]
WriteUnit = Annotated[Unit, Depends(write_unit)]
LookupUnit = Annotated[Unit, Depends(lookup_unit)]
SmallWriteUnit = Annotated[Unit, Depends(small_write_unit)]


def account_access(needed: Permission) -> Callable[..., Awaitable[AccountContext]]:
    """A dependency that admits the caller to the path's account with at least `needed`."""

    async def dependency(
        request: Request,
        account_id: Annotated[str, Path(max_length=32, description="Identifier.")],
    ) -> AccountContext:
        principal: Principal = principal_of(request.scope)
        granted = principal.grants.get(account_id)
        if granted is None:
            # The same answer whether or not the account exists: nothing about other accounts leaks.
            raise Forbidden(f"This credential has no access to account {account_id}.")
        if needed is Permission.WRITE and granted is not Permission.WRITE:
            raise Forbidden(
                f"This credential can only read; this request needs '{PERMISSION_NAMES[needed]}'."
            )
        return AccountContext(account_id, granted, principal.actor)

    return dependency


ReadAccess = Annotated[AccountContext, Depends(account_access(Permission.READ))]
WriteAccess = Annotated[AccountContext, Depends(account_access(Permission.WRITE))]
