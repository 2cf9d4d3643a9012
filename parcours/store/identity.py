"""Which database this is: the UUID of ``database_identity`` (migration 0009), created here if the row is missing."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from parcours.store.models import DatabaseIdentity


def database_identity(session: Session) -> str:
    """The database's UUID. Migration 0009 writes it; should the row be gone, the first caller writes a new one
    (concurrent first callers, e.g. several workers starting, all end up reading the same winner)."""
    found = session.scalar(select(DatabaseIdentity.database_id).where(DatabaseIdentity.singleton == 1))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(DatabaseIdentity(singleton=1, database_id=str(uuid.uuid4())))
    except IntegrityError:
        pass  # another process wrote it first
    session.commit()
    return session.scalars(select(DatabaseIdentity.database_id)).one()
