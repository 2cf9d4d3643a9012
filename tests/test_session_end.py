"""``parcours.store.engine.end_session``: the one ending of a unit of work, shared by ``session_scope`` and the API's
per-request session (``serving.deps.get_session``, in one thread-pool trip)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import QueuePool

from parcours.store.engine import end_session, get_engine, session_factory, session_scope
from parcours.store.models import User

NAMES = ("kept", "dropped", "raised")


def _user(name: str) -> User:
    return User(username=name, password_hash="x", role="admin")


def test_a_unit_of_work_commits_or_rolls_back_and_always_gives_its_connection_back(sqlite_url: str) -> None:
    factory = session_factory(sqlite_url)
    kept = factory()
    kept.add(_user("kept"))
    end_session(kept, commit=True)
    dropped = factory()
    dropped.add(_user("dropped"))
    dropped.flush()
    end_session(dropped, commit=False)
    clash = factory()
    clash.add(_user("kept"))  # usernames are unique: the commit fails
    with pytest.raises(IntegrityError):
        end_session(clash, commit=True)
    assert not clash.in_transaction()  # the failed commit was rolled back
    with pytest.raises(RuntimeError), session_scope(sqlite_url) as session:
        session.add(_user("raised"))
        session.flush()
        raise RuntimeError("the unit of work fails")
    pool = get_engine(sqlite_url).pool
    assert isinstance(pool, QueuePool) and pool.checkedout() == 0  # every session closed, the failed commit's too
    with session_scope(sqlite_url) as session:
        assert list(session.scalars(select(User.username).where(User.username.in_(NAMES)))) == ["kept"]
