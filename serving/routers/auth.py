from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from parcours.store.models import User
from serving.deps import CurrentUser, SessionDep, SettingsDep, too_many
from serving.schemas.errors import responses
from serving.security import HashingBusy, LoginGuard, RateLimited, create_access_token

router = APIRouter(prefix="/v1/auth", tags=["auth"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class UserPublic(BaseModel):
    username: str
    role: str
    holder_id: str | None
    provider_id: str | None
    funder_id: str | None


@router.post(
    "/token",
    response_model=Token,
    summary="OAuth2 password flow: a signed bearer token",
    responses=responses(400, 413, 422, _401="wrong username or password",
                        _429="too many attempts from this address or failures for this username; see Retry-After",
                        _503="every password check is busy; see Retry-After"),
)
def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> Token:
    guard: LoginGuard = request.app.state.login_guard
    client = request.client.host if request.client else "unknown"
    try:
        guard.before(client, form.username)
    except RateLimited as exc:
        raise too_many(exc) from exc
    user = session.scalars(select(User).where(User.username == form.username)).one_or_none()
    try:
        # The same argon2 cost whether the username exists or not (a dummy hash for an unknown one).
        verified = guard.verify(form.password, user.password_hash if user is not None else None)
    except HashingBusy as exc:
        raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "1"}) from exc
    if user is None or not user.is_active or not verified:
        guard.failed(form.username)
        raise HTTPException(status_code=401, detail="wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=create_access_token(user, settings))


@router.get("/me", response_model=UserPublic, responses=responses(401), summary="Who the token belongs to")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic(username=user.username, role=user.role, holder_id=user.holder_id,
                      provider_id=user.provider_id, funder_id=user.funder_id)
