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

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_PENDING = "parcours_at_commit"


def at_commit(session: Session, write: Callable[[Session], object]) -> None:
    """Run ``write(session)`` at the start of the session's next commit (in its transaction); dropped if the
    transaction is rolled back first."""
    if not session.in_transaction():
        session.begin()  # no I/O yet; so that a rollback before the commit is seen and drops the write
    session.info.setdefault(_PENDING, []).append(write)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    for write in session.info.pop(_PENDING, None) or ():
        write(session)  # flushed by the commit that called us


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: what it read was undone with it
        session.info.pop(_PENDING, None)
