"""Passwords (argon2) and signed access tokens (JWT). Plain Python: no FastAPI here."""

from __future__ import annotations

import datetime as dt

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from parcours.settings import Settings, get_settings


def _hasher() -> PasswordHasher:
    settings = get_settings()
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(username: str, role: str, settings: Settings) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": username, "role": role, "iat": now, "exp": now + dt.timedelta(minutes=settings.jwt_ttl_minutes)}
    return jwt.encode(claims, settings.jwt_secret, algorithm=settings.jwt_algorithm)


def decode_access_token(token: str, settings: Settings) -> dict[str, object]:
    """The token's claims; raises ``jwt.PyJWTError`` when it is forged, malformed or expired."""
    return jwt.decode(
        token, settings.jwt_secret, algorithms=[settings.jwt_algorithm], options={"require": ["exp", "sub"]}
    )
