"""Entries read as plain rows: an entry by id and a page of a list, without the ORM.

The ORM turns every row it reads into an object it tracks (instance state, the identity map),
through a statement it builds and keys anew for each request. The reads every dashboard makes
need none of that: they answer with the entry's columns. A `RowReader`, one per resource
(`ResourceSpec.rows`), reads them as plain rows, named tuples of the table's columns under the
names of the model's attributes, so a resource's `serialize`, which reads an entry's columns
by attribute, takes a plain row as it takes an entry (`ResourceSpec.serialize_row`).

Its fixed statements (an entry by id, a page of the whole account in one order) are built
once and compiled once per dialect, and run on the DB-API connection of the session's own
transaction; each value goes through its column type's result processor, as SQLAlchemy would
hand it over (aware UTC datetimes, booleans, JSON lists). A page with filters has a statement
of its own each time: SQLAlchemy Core runs it (its compiled cache, its type processing), still
with no ORM object made. Driver errors are raised as SQLAlchemy raises them, so a database
that cannot serve is a 503 here as everywhere.
"""

from __future__ import annotations

import collections
import threading
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from sqlalchemy import ColumnElement, Integer, Select, bindparam, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import InstrumentedAttribute, Session

from mailpolicy.resources.spec import PlainRow, R, ResourceSpec

# Called through a variable: mypy reads a direct call of collections.namedtuple as a class
# definition, which needs literal field names.
_named_tuple: Callable[[str, Sequence[str]], type[tuple[Any, ...]]] = collections.namedtuple


def order_by(
    model: type[R], column: InstrumentedAttribute[Any], descending: bool
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """A list's order: `column`, ties broken by id in the same direction, so pages never repeat
    or skip an entry."""
    if descending:
        return column.desc(), model.id.desc()
    return column.asc(), model.id.asc()


@dataclass
class _Compiled:
    """A statement as one dialect's driver takes it, and how its rows' values are converted."""

    sql: str
    # The parameters' names in the order a positional driver takes them; None for a driver
    # that takes them by name (psycopg's pyformat).
    positions: tuple[str, ...] | None
    dbapi_error: type[Exception]
    # (index, processor) of every column whose values need converting; set by the first
    # execution, from what the driver says of each column.
    processors: list[tuple[int, Callable[[Any], Any]]] | None = None

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | Mapping[str, Any]:
        if self.positions is None:
            return values
        return tuple(values[name] for name in self.positions)


class RowReader(Generic[R]):
    """A resource's entries as plain rows (see the module's description)."""

    def __init__(self, spec: ResourceSpec[R]) -> None:
        model = spec.model
        attributes = inspect(model).column_attrs
        # The table's columns in the mapper's order, each under its attribute's name.
        self.columns = tuple(attribute.columns[0] for attribute in attributes)
        self.row_type = _named_tuple(f"{model.__name__}Row", [a.key for a in attributes])
        self._make: Callable[[Sequence[Any]], PlainRow] = self.row_type._make  # type: ignore[attr-defined]  # every named tuple class has _make
        self.model = model
        self._by_id = self.select().where(
            model.account_id == bindparam("account_id"), model.id == bindparam("entry_id")
        )
        self._statements: dict[Hashable, Select[Any]] = {}
        self._compiled: weakref.WeakKeyDictionary[Dialect, dict[Hashable, _Compiled]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()

    def select(self) -> Select[Any]:
        """A select of every column, in the order a plain row holds them."""
        return select(*self.columns)

    def by_id(self, session: Session, account_id: str, entry_id: str) -> PlainRow | None:
        """One entry of the account, or None."""
        found = self._run(
            session, "by_id", self._by_id, {"account_id": account_id, "entry_id": entry_id}
        )
        return found[0] if found else None

    def account_page(
        self,
        session: Session,
        account_id: str,
        column: InstrumentedAttribute[Any],
        descending: bool,
        offset: int,
        limit: int,
    ) -> list[PlainRow]:
        """A page of all the account's entries in the order `order_by` gives: one statement per
        ordering, built and compiled once."""
        key = ("page", column.key, descending)
        statement = self._statements.get(key)
        if statement is None:
            statement = (
                self.select()
                .where(self.model.account_id == bindparam("account_id"))
                .order_by(*order_by(self.model, column, descending))
                .offset(bindparam("offset", type_=Integer))
                .limit(bindparam("limit", type_=Integer))
            )
            self._statements[key] = statement
        values = {"account_id": account_id, "offset": offset, "limit": limit}
        return self._run(session, key, statement, values)

    def rows(self, session: Session, statement: Select[Any]) -> list[PlainRow]:
        """The rows of a statement made from `select()`, run by SQLAlchemy Core (its compiled
        cache and type processing), without the ORM's session machinery or objects."""
        make = self._make
        return [make(row) for row in session.connection().execute(statement)]

    def _run(
        self,
        session: Session,
        key: Hashable,
        statement: Select[Any],
        values: Mapping[str, Any],
    ) -> list[PlainRow]:
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._compile(dialect, key, statement)
        parameters = compiled.parameters(values)
        watched = connection.dispatch
        if watched.before_cursor_execute or watched.after_cursor_execute:
            # Someone listens for statements (a test, tracing): through SQLAlchemy, which
            # tells them, the values still as the driver gives them.
            result = connection.exec_driver_sql(compiled.sql, parameters)
            description = result.cursor.description
            found: Sequence[Sequence[Any]] = result.fetchall()
        else:
            found, description = self._execute(connection, compiled, parameters)
        processors = compiled.processors
        if processors is None:
            processors = compiled.processors = self._processors(dialect, description)
        make = self._make
        if not processors:
            return [make(row) for row in found]
        rows = []
        for row in found:
            converted = list(row)
            for index, process in processors:
                converted[index] = process(converted[index])
            rows.append(make(converted))
        return rows

    @staticmethod
    def _execute(
        connection: Connection, compiled: _Compiled, parameters: Sequence[Any] | Mapping[str, Any]
    ) -> tuple[Sequence[Sequence[Any]], Sequence[Any]]:
        """The statement's rows and the driver's description of their columns, asked of the
        driver directly; its errors raised as SQLAlchemy raises them."""
        raw = connection.connection.dbapi_connection
        assert raw is not None  # a connection in use holds its DBAPI connection
        cursor = raw.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            return cursor.fetchall(), cursor.description
        except compiled.dbapi_error as error:
            raise sa_exc.DBAPIError.instance(
                compiled.sql, parameters, error, compiled.dbapi_error, dialect=connection.dialect
            ) from error
        finally:
            cursor.close()

    def _compile(self, dialect: Dialect, key: Hashable, statement: Select[Any]) -> _Compiled:
        known = self._compiled.get(dialect)
        compiled = known.get(key) if known is not None else None
        if compiled is not None:
            return compiled
        with self._lock:
            known = self._compiled.setdefault(dialect, {})
            if key not in known:
                done = statement.compile(dialect=dialect)
                positions = tuple(done.positiontup or ()) if done.positional else None
                dbapi = dialect.loaded_dbapi
                known[key] = _Compiled(done.string, positions, dbapi.Error)
            return known[key]

    def _processors(
        self, dialect: Dialect, description: Sequence[Any]
    ) -> list[tuple[int, Callable[[Any], Any]]]:
        """Each column type's result processor for this dialect, given the type the driver
        reports for the column, as SQLAlchemy finds them for a result of its own."""
        found: list[tuple[int, Callable[[Any], Any]]] = []
        for index, (column, described) in enumerate(zip(self.columns, description, strict=True)):
            process = column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            if process is not None:
                found.append((index, process))
        return found
