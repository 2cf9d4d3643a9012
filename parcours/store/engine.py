"""Engine, sessions and migrations. ``migrate(url)`` runs ``alembic upgrade head``; nothing else creates tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a committed transaction survives a crash of
    # the process (SIGKILL included: the WAL is in the OS's page cache), and only an OS crash or power loss can
    # undo the last commits before a checkpoint. FULL paid an fsync on every request that writes (audit rows).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine per URL for the process. SQLite gets foreign keys, WAL (synchronous NORMAL) and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url), expire_on_commit=False)


def end_session(session: Session, *, commit: bool) -> None:
    """Commit (``commit``) or roll back, then close in every case; a failed commit is rolled back. The one ending
    of a unit of work: ``session_scope`` and the API's per-request session (one thread-pool trip) both use it."""
    try:
        if commit:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    else:
        if not commit:
            session.rollback()
    finally:
        session.close()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session committed on success and rolled back on any error: nothing is half-written."""
    session = session_factory(url)()
    try:
        yield session
    except BaseException:
        end_session(session, commit=False)
        raise
    end_session(session, commit=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the latest schema (``alembic upgrade head``).

    ``head``, not ``heads``: the history has one head (``tests/test_migrations.py`` checks it), and should a second
    branch ever appear, alembic refuses ``head`` at once rather than silently applying an unmerged history.
    """
    get_engine(url)  # creates the SQLite file's folder on a fresh machine
    command.upgrade(alembic_config(url), "head")
