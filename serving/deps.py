"""Typed FastAPI dependencies: ``SettingsDep``, ``SessionDep``, ``CurrentUser``, the id path types (``DbId``,
``HolderIdPath``) and the per-user rate limit of the search and recommendation routes (``search_rate_limit``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from parcours.settings import Settings
from parcours.store.engine import end_session
from parcours.store.models import User
from serving.security import RateLimit, RateLimited, decode_access_token, token_matches

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")

# Ids of the database's INTEGER key columns (32 bits on PostgreSQL): a path id outside 1..MAX_DB_ID is refused
# (422) before any query, so it never reaches the database as an out-of-range value (a 500 before).
MAX_DB_ID = 2**31 - 1
DbId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="A positive id (at most 2^31 - 1)")]
# Holder ids are strings of at most the column's 64 characters.
HolderIdPath = Annotated[str, Path(min_length=1, max_length=64, description="The holder's id")]


async def get_settings_dep(request: Request) -> Settings:
    # async: it only reads app state, so it needs no trip through the thread pool that sync dependencies take
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request, committed when the route returns, rolled back when it raises.

    Scoped to the route function (``SessionDep``): the commit runs before the response is sent, so an answer
    that reached the client has its writes (audit rows included) committed; a crash before the commit sends
    nothing. With FastAPI's default request scope the commit ran after the response had gone out.

    async, with the end of the request in the thread pool: opening a session does no I/O (it connects on its
    first query), so only committing and closing go through the pool. A sync generator costs a pool round trip
    at both ends; on 2 cores each one measured about 0.7 ms of a search request's 14 (docs/search.md).
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
    except BaseException:
        await run_in_threadpool(end_session, session, commit=False)
        raise
    # Commit and close in one trip through the thread pool (a trip each cost one more per request).
    await run_in_threadpool(end_session, session, commit=True)


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_current_user(session: SessionDep, settings: SettingsDep, token: Annotated[str, Depends(oauth2_scheme)]) -> User:
    """The signed-in user: a valid token whose user id, username and version still match an active user."""
    unauthorised = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="invalid or expired token",
        headers={"WWW-Authenticate": "Bearer"},
    )
    try:
        claims = decode_access_token(token, settings)
    except jwt.PyJWTError as exc:
        raise unauthorised from exc
    user_id = int(str(claims["sub"]))
    user = session.get(User, user_id) if user_id <= MAX_DB_ID else None
    if not token_matches(claims, user) or user is None or not user.is_active:
        raise unauthorised
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    def check(user: CurrentUser) -> User:
        if user.role not in roles:
            raise HTTPException(status_code=403, detail=f"requires role {' or '.join(roles)}")
        return user

    return Depends(check)


def too_many(exc: RateLimited) -> HTTPException:
    return HTTPException(status_code=429, detail=str(exc), headers={"Retry-After": str(exc.retry_after)})


async def search_rate_limit(request: Request, user: CurrentUser) -> None:
    """A generous per-user limit on the routes that encode and rank (429 with ``Retry-After`` beyond it).
    async: an in-memory count needs no trip through the thread pool, which a sync dependency takes."""
    limit: RateLimit | None = getattr(request.app.state, "search_limit", None)
    if limit is None:
        return
    try:
        limit.hit("user", str(user.user_id))
    except RateLimited as exc:
        raise too_many(exc) from exc


SearchRateLimit = Depends(search_rate_limit)
