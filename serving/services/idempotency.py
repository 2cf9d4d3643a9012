"""Idempotency keys for state-changing requests (IETF draft "The Idempotency-Key HTTP Header Field", with
Stripe's semantics).

- Every state-changing request carries an ``Idempotency-Key``; without one it is refused (400).
- Keys are scoped to the caller (the signed-in username) and kept at least 24 hours.
- The first request with a key is executed; its answer is stored *in the same database transaction* as its
  effects, so either both exist or neither does. A replay with the same key and the same request (method, path
  and canonical JSON body) returns the stored answer without executing anything again.
- The same key with another request is refused (422); a replay while the first is still running gets 409.
- A request that fails (any error) stores nothing and frees its key, so the client may retry (Stripe does the
  same for requests that did not complete). A claim left by a crashed process is taken over after its lease.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from parcours.errors import Conflict, ParcoursError, ValidationFailed
from parcours.store.bulk import dialect_insert
from parcours.store.supporting_models import IdempotencyKey

KEY_TTL = dt.timedelta(hours=24)
CLAIM_LEASE = dt.timedelta(minutes=5)
MAX_KEY_LENGTH = 255


class IdempotencyKeyMissing(ParcoursError):
    """A state-changing request came without a usable ``Idempotency-Key`` header (400)."""


class IdempotencyKeyInUse(Conflict):
    """The first request with this key is still running (409); retry later."""


@dataclass(frozen=True)
class IdempotentResult:
    status_code: int
    body: Any
    replayed: bool


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same": method, path and the canonical JSON of the body (sorted keys, no
    body = ``{}``)."""
    canonical = json.dumps(
        {"method": method.upper(), "path": path, "body": {} if body is None else body},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise IdempotencyKeyMissing(
            "this request changes state: send an Idempotency-Key header (e.g. a UUID)"
        )
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise IdempotencyKeyMissing(
            f"the Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _claim(
    factory: sessionmaker[Session],
    *,
    caller: str,
    key: str,
    fingerprint: str,
    now: dt.datetime,
    ttl: dt.timedelta,
    lease: dt.timedelta,
) -> str | IdempotentResult:
    """Claim the key for this request (returns the claim token) or answer from the stored first response."""
    token = uuid.uuid4().hex
    fresh = {
        "fingerprint": fingerprint,
        "state": "running",
        "owner_token": token,
        "locked_at": now,
        "expires_at": now + ttl,
        "response_status": None,
        "response_body": None,
    }
    for _attempt in range(3):
        with factory() as session:
            inserted = session.execute(
                dialect_insert(session)(IdempotencyKey)
                .values(caller=caller, idempotency_key=key, created_at=now, **fresh)
                .on_conflict_do_nothing(index_elements=["caller", "idempotency_key"])
                .returning(IdempotencyKey.record_id)
            ).first()
            session.commit()
            if inserted is not None:
                return token
            record = session.scalars(
                select(IdempotencyKey).where(
                    IdempotencyKey.caller == caller, IdempotencyKey.idempotency_key == key
                )
            ).one_or_none()
            if record is None:
                continue  # freed between our insert and our read: try again
            expired = _aware(record.expires_at) <= now
            abandoned = record.state == "running" and _aware(record.locked_at) + lease <= now
            if not expired and record.fingerprint != fingerprint:
                raise ValidationFailed(
                    [{"field": "Idempotency-Key", "message": "this key was used for a different request"}],
                    message="Idempotency-Key reused with a different request",
                )
            if not expired and record.state == "done":
                return IdempotentResult(
                    int(record.response_status or 200), record.response_body, replayed=True
                )
            if not expired and not abandoned:
                raise IdempotencyKeyInUse("a request with this Idempotency-Key is still being processed")
            taken = session.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.record_id == record.record_id,
                    IdempotencyKey.owner_token == record.owner_token,
                    IdempotencyKey.state == record.state,
                )
                .values(created_at=now, **fresh)
                .returning(IdempotencyKey.record_id)
            ).first()
            session.commit()
            if taken is not None:
                return token
    raise IdempotencyKeyInUse("the Idempotency-Key is contended; retry")


def _release(factory: sessionmaker[Session], *, caller: str, key: str, token: str) -> None:
    with factory() as session:
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.caller == caller,
                IdempotencyKey.idempotency_key == key,
                IdempotencyKey.owner_token == token,
                IdempotencyKey.state == "running",
            )
        )
        session.commit()


def execute_idempotent(
    factory: sessionmaker[Session],
    *,
    caller: str,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    operation: Callable[[Session], tuple[int, Any]],
    now: dt.datetime | None = None,
    ttl: dt.timedelta = KEY_TTL,
    lease: dt.timedelta = CLAIM_LEASE,
) -> IdempotentResult:
    """Run ``operation(session) -> (status, body)`` at most once per ``(caller, key)``.

    The operation's effects and the stored answer are committed together; on any error both are rolled back,
    the key is freed and the error propagates.
    """
    key = check_key(key)
    now = now or dt.datetime.now(dt.UTC)
    fingerprint = request_fingerprint(method, path, body)
    claim = _claim(factory, caller=caller, key=key, fingerprint=fingerprint, now=now, ttl=ttl, lease=lease)
    if isinstance(claim, IdempotentResult):
        return claim
    session = factory()
    try:
        status, response = operation(session)
        response = json.loads(json.dumps(response, default=str))
        stored = session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.caller == caller,
                IdempotencyKey.idempotency_key == key,
                IdempotencyKey.owner_token == claim,
                IdempotencyKey.state == "running",
            )
            .values(state="done", response_status=status, response_body=response)
            .returning(IdempotencyKey.record_id)
        ).first()
        if stored is None:
            raise IdempotencyKeyInUse("this request's Idempotency-Key claim was taken over; nothing was done")
        session.commit()
    except BaseException:
        session.rollback()
        _release(factory, caller=caller, key=key, token=claim)
        raise
    finally:
        session.close()
    return IdempotentResult(status, response, replayed=False)


def purge_expired_keys(session: Session, now: dt.datetime | None = None) -> int:
    """Forget answers older than their time to live (at least 24 h); returns how many were deleted."""
    now = now or dt.datetime.now(dt.UTC)
    purged = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.expires_at < now).returning(IdempotencyKey.record_id)
    ).all()
    return len(purged)
