"""Access tokens for tests that sign users in without the password flow: the token of a user as it stands in the
database (its id, username and token version), signed with the app's settings."""

from __future__ import annotations

from sqlalchemy import select

from parcours.settings import Settings
from parcours.store.engine import session_scope
from parcours.store.models import User
from serving.security import create_access_token


def token_for(db_url: str, username: str, settings: Settings) -> str:
    with session_scope(db_url) as session:
        user = session.scalars(select(User).where(User.username == username)).one()
        return create_access_token(user, settings)


def bearer(db_url: str, username: str, settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(db_url, username, settings)}"}
