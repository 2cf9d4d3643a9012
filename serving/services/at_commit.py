"""Rows a request writes as a record of what it did (audit rows, impressions), inserted when its session commits.

On SQLite a transaction takes the database's single write lock at its first INSERT and holds it until the commit.
Written where they happen, these rows held the lock through the rest of the request (its other queries, the
answer's serialisation, the hop to the commit's thread): every other writer of every worker waited behind it, in
SQLite's sleeping busy handler, which made the load benchmark's slowest answers. Inserted in the commit, they hold
it for the commit only. They still commit with the request's other writes, before the answer is sent
(``serving.deps.get_session``), and a rollback drops them with the rest.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session, SessionTransaction

_PENDING = "parcours_at_commit"
_NO_DISK_WAIT = "parcours_commit_without_disk_wait"


def at_commit(session: Session, write: Callable[[Session], object]) -> None:
    """Run ``write(session)`` at the start of the session's next commit (in its transaction); dropped if the
    transaction is rolled back first."""
    if not session.in_transaction():
        session.begin()  # no I/O yet; so that a rollback before the commit is seen and drops the write
    session.info.setdefault(_PENDING, []).append(write)


def commit_without_disk_wait(session: Session) -> None:
    """For a transaction that writes only the records of a read (its audit row, impressions): on PostgreSQL its
    commit does not wait for the write-ahead log to reach the disk (``synchronous_commit`` off for this
    transaction only; the disk flush was most of a recommendation's commit). The rows are committed
    before the answer is sent all the same, and survive a crash of the server process (the kill test): only a
    crash of PostgreSQL or of the machine within about 0.6 s (three ``wal_writer_delay``) could drop them, the
    guarantee SQLite's ``synchronous=NORMAL`` gives (``parcours.store.engine``). Never for money or state."""
    if not session.in_transaction():
        session.begin()
    session.info[_NO_DISK_WAIT] = True


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.info.pop(_NO_DISK_WAIT, False) and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    for write in session.info.pop(_PENDING, None) or ():
        write(session)  # flushed by the commit that called us


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: what it read was undone with it
        session.info.pop(_PENDING, None)
        session.info.pop(_NO_DISK_WAIT, None)
