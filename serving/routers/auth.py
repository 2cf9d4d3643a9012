from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from parcours.store.models import User
from serving.deps import CurrentUser, SessionDep, SettingsDep
from serving.security import create_access_token, verify_password

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


@router.post("/token", response_model=Token, summary="OAuth2 password flow: a signed bearer token")
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep) -> Token:
    user = session.scalars(select(User).where(User.username == form.username)).one_or_none()
    if user is None or not user.is_active or not verify_password(form.password, user.password_hash):
        raise HTTPException(status_code=401, detail="wrong username or password",
                            headers={"WWW-Authenticate": "Bearer"})
    return Token(access_token=create_access_token(user.username, user.role, settings))


@router.get("/me", response_model=UserPublic, summary="Who the token belongs to")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic(username=user.username, role=user.role, holder_id=user.holder_id,
                      provider_id=user.provider_id, funder_id=user.funder_id)
