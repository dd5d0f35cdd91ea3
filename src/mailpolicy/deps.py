"""Request dependencies: the session (one transaction per request), operator rules, access."""

# No `from __future__ import annotations`: the dependency built in account_access closes over
# `needed`, and FastAPI must read its signature as objects.

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from mailpolicy.auth import PERMISSION_NAMES, AccountContext, Permission, Principal
from mailpolicy.db import Database
from mailpolicy.errors import Forbidden
from mailpolicy.guard import principal_of
from mailpolicy.validation import Rules


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


def get_rules(request: Request) -> Rules:
    rules: Rules = request.app.state.rules
    return rules


# scope="function": the commit runs before the response is sent, so a client that has its 2xx
# can rely on the write being durable, and a failed commit becomes an error, not a lost write.
SessionDep = Annotated[Session, Depends(read_session, scope="function")]
WriteSessionDep = Annotated[Session, Depends(write_session, scope="function")]
RulesDep = Annotated[Rules, Depends(get_rules)]


def account_access(needed: Permission) -> Callable[..., AccountContext]:
    """A dependency that admits the caller to the path's account with at least `needed`."""

    def dependency(
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
