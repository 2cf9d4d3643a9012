"""Fast bulk INSERT / upsert of many rows on SQLite and PostgreSQL, inside the caller's transaction, and fast
reads of many rows (``read_rows``).

SQLAlchemy builds the statement (the dialect's ``INSERT … ON CONFLICT``); the rows skip SQLAlchemy's per-row
parameter processing, which costs as much as the insert itself at a million rows:

- SQLite: the compiled statement is run by the driver's ``executemany`` on plain tuples (dates, timestamps and
  JSON converted the way SQLAlchemy stores them, so the ORM reads them back unchanged);
- PostgreSQL: the rows are streamed with psycopg 3 ``COPY`` into a temporary table, then moved by one
  ``INSERT … SELECT … ON CONFLICT`` (COPY alone cannot skip or update existing rows).

Callers pass rows as tuples of Python values (str, int, bool, None, date, aware UTC datetime, list or dict
for JSON) in the order of ``columns``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal, TypeVar

from sqlalchemy import JSON, Column, Date, DateTime, MetaData, Select, Table, any_, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

T = TypeVar("T")

OnConflict = Literal["update", "nothing", "error"]
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DateTime on SQLite


def write_rows(
    session: Session,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    key: Sequence[str] = (),
    on_conflict: OnConflict = "error",
    update: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``; where ``key`` exists already, update the other given columns or skip the row.

    ``on_conflict="update"`` updates the columns in ``update`` (default: every column not in ``key``);
    ``"nothing"`` leaves the existing row; ``"error"`` lets the database refuse duplicates.
    """
    if not rows:
        return
    if on_conflict != "error" and not key:
        raise ValueError("on_conflict needs the key columns of a unique constraint")
    dialect = session.get_bind().dialect.name
    conflict = _Conflict(
        on_conflict, list(key), list(update) if update is not None else [c for c in columns if c not in key]
    )
    if dialect == "sqlite":
        _sqlite_executemany(session, table, list(columns), rows, conflict)
    elif dialect == "postgresql":
        _postgres_copy(session, table, list(columns), rows, conflict)
    else:
        raise NotImplementedError(f"bulk writes support SQLite and PostgreSQL, not {dialect}")


@dataclass(frozen=True)
class _Conflict:
    action: OnConflict
    key: list[str]
    update: list[str]

    def apply(self, statement: Any) -> Any:
        """The dialect's ``ON CONFLICT`` clause on ``statement``."""
        if self.action == "update":
            return statement.on_conflict_do_update(
                index_elements=self.key, set_={c: statement.excluded[c] for c in self.update}
            )
        if self.action == "nothing":
            return statement.on_conflict_do_nothing(index_elements=self.key)
        return statement


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.strftime(SQLITE_DATETIME)


def _sqlite_date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _sqlite_converter(column: Column[Any]) -> Callable[[Any], Any] | None:
    """How SQLAlchemy would store a value of this column on SQLite (None: as is)."""
    if isinstance(column.type, DateTime):
        return _sqlite_datetime
    if isinstance(column.type, Date):
        return _sqlite_date
    if isinstance(column.type, JSON):
        return _json
    return None


def _sqlite_executemany(
    session: Session, table: Table, columns: list[str], rows: Sequence[tuple[Any, ...]], conflict: _Conflict
) -> None:
    from sqlalchemy.dialects.sqlite import insert

    connection = session.connection()
    statement = conflict.apply(insert(table))
    compiled = statement.compile(dialect=connection.dialect, column_keys=columns)
    if list(compiled.positiontup or []) != columns:
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup} for {columns}")
    converters = [(i, f) for i, c in enumerate(columns) if (f := _sqlite_converter(table.c[c])) is not None]
    if converters:
        converted = []
        for row in rows:
            values = list(row)
            for i, convert in converters:
                values[i] = convert(values[i])
            converted.append(tuple(values))
        rows = converted
    connection.exec_driver_sql(str(compiled), list(rows))


def _postgres_copy(
    session: Session, table: Table, columns: list[str], rows: Sequence[tuple[Any, ...]], conflict: _Conflict
) -> None:
    from sqlalchemy.dialects.postgresql import insert

    staging = f"staging_{table.name}_{len(columns)}"
    quoted = ", ".join(f'"{c}"' for c in columns)
    # Same column types as the target, no constraints or defaults; dropped at the end of the transaction.
    session.execute(
        text(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{staging}" ON COMMIT DROP AS '
            f'SELECT {quoted} FROM "{table.name}" WITH NO DATA'
        )
    )
    session.execute(text(f'TRUNCATE "{staging}"'))
    json_columns = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, JSON)]
    driver: Any = session.connection().connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(f'COPY "{staging}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            if json_columns:
                values = list(row)
                for i in json_columns:
                    values[i] = _json(values[i])
                row = tuple(values)
            copy.write_row(row)
    staged = Table(staging, MetaData(), *(Column(c, table.c[c].type) for c in columns))
    statement = insert(table).from_select(columns, select(*(staged.c[c] for c in columns)))
    session.execute(conflict.apply(statement))


BATCH = 900  # ids per IN (...) list: below SQLite's historical limit of 999 bound parameters


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``itertools.batched`` of Python 3.12, for 3.11."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def dialect_insert(session: Session) -> Callable[[Any], postgresql.Insert] | Callable[[Any], sqlite.Insert]:
    """The session's dialect's ``insert`` (PostgreSQL or SQLite), whose statements take ``on_conflict_do_*``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"upserts support SQLite and PostgreSQL, not {dialect}")


def is_in(session: Session, column: Any, values: Sequence[Any]) -> Any:
    """``column IN values`` with one array parameter on PostgreSQL (``= ANY(:values)``) instead of one
    parameter per value, which psycopg would otherwise parse for every batch of a big import."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def read_rows(
    session: Session, statement: Select[*tuple[Any, ...]], *, chunk_rows: int = 500_000
) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows of a SELECT straight from the DB-API cursor, ``chunk_rows`` at a time, as plain tuples.

    At millions of rows SQLAlchemy's per-row result processing (and a DataFrame built from its ``Row`` objects)
    costs more than the query itself. Values are the driver's own: on SQLite dates and timestamps come back as
    ISO text (timestamps naive, in UTC) and JSON as text; on PostgreSQL as Python objects. Literal values of the
    statement are inlined (it must not need bound parameters).
    """
    session.flush()
    connection = session.connection()
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk_rows):
            yield rows
    finally:
        cursor.close()
