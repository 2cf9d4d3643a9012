"""Passwords (argon2), signed access tokens (JWT) and the login guard. Plain Python: no FastAPI here.

- Tokens are signed with ``Settings.resolved_jwt_secret()`` (``PARCOURS_JWT_SECRET`` or a random secret kept in
  the data folder; there is no built-in one). They carry the user's id (``sub``), username (``usr``) and token
  version (``ver``); the server accepts a token only while all three still match the user's row, so a change of
  password, role or status (which bumps the version) ends every older token, and a user re-created under an old
  name never inherits the tokens of the one before (docs/security.md).
- ``LoginGuard``: rate limits per client address and per username (failed attempts), with the ``limits``
  library's moving windows kept in memory, and a bounded number of argon2 verifications at once. An unknown
  username costs the same argon2 verification as a known one (against a dummy hash), so the time of an answer
  does not tell whether a username exists.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Protocol

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from limits import RateLimitItem, parse, storage, strategies

from parcours.settings import Settings, get_settings

# Usernames are at most 150 characters: longer ones are counted under their first 200 (bounded memory).
USERNAME_KEY_CHARS = 200
# Claims every token must have; a token without one of them (an older format) is refused.
REQUIRED_CLAIMS = ["exp", "iat", "sub", "usr", "ver"]


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


class TokenSubject(Protocol):
    user_id: int
    username: str
    role: str
    token_version: int


def create_access_token(user: TokenSubject, settings: Settings) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(user.user_id),
        "usr": user.username,
        "role": user.role,
        "ver": user.token_version,
        "iat": now,
        "exp": now + dt.timedelta(minutes=settings.jwt_ttl_minutes),
    }
    return jwt.encode(claims, settings.resolved_jwt_secret(), algorithm=settings.jwt_algorithm)


def decode_access_token(token: str, settings: Settings) -> dict[str, object]:
    """The token's claims; raises ``jwt.PyJWTError`` when it is forged, malformed, expired or of an old format.

    A token's signature and format are checked once per process (``_verified_claims``, a bounded cache of tokens
    that passed); its expiry at every use, as ``jwt.decode`` checks it. Whether its user still matches (version,
    active: revocation) is for the caller, at every request (``token_matches``)."""
    claims = _verified_claims(token, settings.resolved_jwt_secret(), settings.jwt_algorithm)
    if int(claims["exp"]) <= dt.datetime.now(tz=dt.UTC).timestamp():  # type: ignore[call-overload]
        raise jwt.ExpiredSignatureError("Signature has expired")
    return dict(claims)


@lru_cache(maxsize=4096)
def _verified_claims(token: str, secret: str, algorithm: str) -> MappingProxyType[str, object]:
    """The claims of a token whose signature, required claims and format check out (read-only: shared by every
    request carrying the token); a refused token raises and is not kept. The signature check and the claims'
    parsing were two fifths of authenticating a request."""
    claims: dict[str, object] = jwt.decode(token, secret, algorithms=[algorithm],
                                           options={"require": REQUIRED_CLAIMS})
    if not isinstance(claims["sub"], str) or not claims["sub"].isdigit() or type(claims["ver"]) is not int:
        raise jwt.InvalidTokenError("malformed subject or version")
    return MappingProxyType(claims)


def token_matches(claims: dict[str, object], user: TokenSubject | None) -> bool:
    """True while the token's user id, username and version are still those of ``user``."""
    return (
        user is not None
        and str(user.user_id) == claims["sub"]
        and user.username == claims["usr"]
        and user.token_version == claims["ver"]
    )


# --- login guard -----------------------------------------------------------------------------------------------


class RateLimited(Exception):
    """Too many requests: retry after ``retry_after`` seconds (HTTP 429 with ``Retry-After``)."""

    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(f"too many {what}; retry in {retry_after} s")
        self.retry_after = retry_after


class HashingBusy(Exception):
    """Every password-hashing slot stayed busy for the whole wait (HTTP 503 with ``Retry-After``)."""


class MemoryStore(storage.MemoryStorage):
    """``limits``' in-memory storage, dropping expired entries at most once a second, in the calling thread.

    The library starts a new 10 ms timer thread at the first hit after the previous timer ended: at one request
    at a time, one thread start per request, and the start waits for the new thread to run (about 1.4 ms of a
    recommendation request in the profile of issue 17). Dropping expired entries only frees memory: the limits
    read the entries' own times, so when they are dropped changes no answer."""

    PRUNE_EVERY_S = 1.0
    _pruned_at = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the library's per-hit timer thread
        now = time.monotonic()
        if now - self._pruned_at >= self.PRUNE_EVERY_S:
            self._pruned_at = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


@dataclass
class RateLimit:
    """One moving-window limit (``"30/minute"``) over keys, in memory (one process: each server process keeps its
    own counts, so N processes allow N times the limit)."""

    item: RateLimitItem
    limiter: strategies.MovingWindowRateLimiter
    what: str

    @classmethod
    def parse(cls, spec: str, what: str, store: storage.MemoryStorage) -> RateLimit:
        return cls(parse(spec), strategies.MovingWindowRateLimiter(store), what)

    def retry_after(self, *key: str) -> int:
        reset = self.limiter.get_window_stats(self.item, *key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def hit(self, *key: str) -> None:
        """Count one request; ``RateLimited`` when the window is already full."""
        if not self.count(*key):
            raise RateLimited(self.retry_after(*key), self.what)

    def count(self, *key: str) -> bool:
        """Count one request; False when the window was already full."""
        return bool(self.limiter.hit(self.item, *key))

    def check(self, *key: str) -> None:
        """``RateLimited`` when the window is full, without counting."""
        if not self.limiter.test(self.item, *key):
            raise RateLimited(self.retry_after(*key), self.what)


class LoginGuard:
    """Rate limits and bounded, constant-cost password checks for ``POST /v1/auth/token``."""

    def __init__(self, settings: Settings, hasher: Callable[[], PasswordHasher] = _hasher) -> None:
        store = MemoryStore()
        self.per_client = RateLimit.parse(settings.login_rate_per_client, "login attempts from this address", store)
        self.per_username = RateLimit.parse(
            settings.login_failures_per_username, "failed logins for this username", store
        )
        self.slots = threading.BoundedSemaphore(max(1, settings.password_hash_concurrency))
        self.wait_seconds = settings.password_hash_wait_seconds
        self.hasher = hasher
        # Verified when the username is unknown or has no usable hash: the same argon2 cost as a real check.
        self.dummy_hash = hasher().hash(secrets.token_urlsafe(16))

    def before(self, client: str, username: str) -> None:
        """Count the attempt for the client; refuse while either window is full."""
        self.per_username.check("username", username[:USERNAME_KEY_CHARS])
        self.per_client.hit("client", client)

    def failed(self, username: str) -> None:
        """Count a failed attempt for the username (once the window is full, ``before`` refuses the next)."""
        self.per_username.count("username", username[:USERNAME_KEY_CHARS])

    def verify(self, password: str, password_hash: str | None) -> bool:
        """argon2 verification of ``password``, at most ``password_hash_concurrency`` at once (each takes
        ``argon2_memory_kib``); an absent hash costs the same and fails."""
        if not self.slots.acquire(timeout=self.wait_seconds):
            raise HashingBusy("every password check slot is busy; retry")
        try:
            ok: bool
            try:
                ok = self.hasher().verify(password_hash or self.dummy_hash, password)
            except (VerificationError, InvalidHashError):
                if password_hash is not None and not password_hash.startswith("$argon2"):
                    # An unusable stored hash: still spend a real verification, then fail.
                    with contextlib.suppress(VerificationError, InvalidHashError):
                        self.hasher().verify(self.dummy_hash, password)
                ok = False
            return ok and password_hash is not None
        finally:
            self.slots.release()
