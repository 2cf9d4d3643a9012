"""The migrations: one Alembic head, and no drift between the migrated schema and the models.

The drift test migrates an empty database with the application's own ``migrate(url)`` and compares it with the
models' metadata through alembic's ``compare_metadata`` with the options autogenerate uses
(``parcours.store.schema.COMPARE_OPTIONS``: the database-only SQLite ledger guard tables left out, column types and
server defaults compared). It runs on SQLite and, with ``PARCOURS_TEST_PG_URL``, on PostgreSQL. The mutation tests
show that it would see a drift: a copy of the metadata with one throwaway change gives exactly that difference.

Not compared by alembic (so not covered here): CHECK constraints, the ``WHERE`` of partial indexes, triggers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Index, Integer, MetaData, String, Table, create_engine, inspect, text
from sqlalchemy.engine import make_url

from parcours.store.base import NAMING_CONVENTION
from parcours.store.engine import alembic_config, get_engine, migrate
from parcours.store.schema import COMPARE_OPTIONS, DATABASE_ONLY_TABLES, target_metadata

PG_URL = os.environ.get("PARCOURS_TEST_PG_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _pg_admin_url() -> str:
    return make_url(PG_URL).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """A factory of empty (never migrated) databases, ``backend -> url``; the PostgreSQL ones are dropped after."""
    created: list[tuple[str, str]] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:8]}.db'}"
        name = f"parcours_mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        created.append((name, url))
        return url

    yield make
    for name, url in created:
        get_engine(url).dispose()
        admin = create_engine(_pg_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def migrated_url(request: pytest.FixtureRequest, empty_db: Callable[[str], str]) -> Iterator[str]:
    """An empty database brought to the latest schema by the application's ``migrate``, once per backend."""
    url = empty_db(request.param)
    migrate(url)
    yield url
    get_engine(url).dispose()


def schema_diff(url: str, metadata: MetaData) -> list[Any]:
    with get_engine(url).connect() as conn:
        context = MigrationContext.configure(conn, opts=COMPARE_OPTIONS)
        return list(compare_metadata(context, metadata))


def head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revisions(url: str) -> set[str]:
    with get_engine(url).connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"several Alembic heads, add a merge revision: {script.get_heads()}"


def test_migrations_match_the_models(migrated_url: str) -> None:
    assert current_revisions(migrated_url) == {head()}
    diff = schema_diff(migrated_url, target_metadata)
    assert diff == [], "the migrated schema differs from the models; write a migration:\n" + "\n".join(map(repr, diff))


@pytest.mark.parametrize("backend", BACKENDS)
def test_database_at_both_old_heads_upgrades_to_the_merge(backend: str, empty_db: Callable[[str], str]) -> None:
    """Databases upgraded with ``upgrade heads`` before the merge revision sit at 0002 and 0004 together."""
    url = empty_db(backend)
    cfg = alembic_config(url)
    command.upgrade(cfg, "0002")
    command.upgrade(cfg, "0004")
    assert current_revisions(url) == {"0002", "0004"}
    migrate(url)
    assert current_revisions(url) == {head()}
    assert schema_diff(url, target_metadata) == []
    get_engine(url).dispose()


def _copy(metadata: MetaData) -> MetaData:
    copy = MetaData(naming_convention=NAMING_CONVENTION)
    for table in metadata.sorted_tables:
        table.to_metadata(copy)
    return copy


def _add_column(md: MetaData) -> str:
    md.tables["providers"].append_column(Column("drift_probe", Integer, nullable=True))
    return "add_column"


def _add_table(md: MetaData) -> str:
    Table("drift_probe", md, Column("probe_id", Integer, primary_key=True))
    return "add_table"


def _add_index(md: MetaData) -> str:
    Index("ix_providers_name", md.tables["providers"].c.name)
    return "add_index"


def _change_nullable(md: MetaData) -> str:
    md.tables["providers"].c.name.nullable = True
    return "modify_nullable"


def _change_type(md: MetaData) -> str:
    md.tables["providers"].c.name.type = String(301)
    return "modify_type"


def _drop_table(md: MetaData) -> str:
    md.remove(md.tables["import_runs"])  # the models lose a table the database still has
    return "remove_table"


@pytest.mark.parametrize(
    "mutate",
    [_add_column, _add_table, _add_index, _change_nullable, _change_type, _drop_table],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_drift_is_detected(migrated_url: str, mutate: Callable[[MetaData], str]) -> None:
    metadata = _copy(target_metadata)
    assert schema_diff(migrated_url, metadata) == []  # the copy itself is faithful
    expected = mutate(metadata)
    diff = schema_diff(migrated_url, metadata)
    assert diff, "a drift was not detected"
    # compare_metadata gives (op, ...) tuples, or a list of them for the column modifications of one table.
    ops = [d[0][0] if isinstance(d, list) else d[0] for d in diff]
    assert ops == [expected], diff


def test_database_only_tables_are_ignored_but_present(migrated_url: str) -> None:
    """The filter leaves out exactly the guard tables that migration 0002 creates on SQLite."""
    with get_engine(migrated_url).connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert not DATABASE_ONLY_TABLES & set(target_metadata.tables)
    if migrated_url.startswith("sqlite"):
        assert tables >= DATABASE_ONLY_TABLES
