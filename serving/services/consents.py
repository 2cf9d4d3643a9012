"""A holder's consents to advisers (who may see what, docs/domain.md): grant, list, revoke, and an adviser's view.

Plain Python (no FastAPI): the router calls these. Rules:

- only the holder themself (or an admin) grants, lists and revokes (``access.authorise_holder_manage``);
- the adviser must be an active user with role ``adviser``; an expiry, when given, must be in the future
  (a datetime without offset is read as UTC);
- one active consent per holder and adviser: granting again while one is active is a conflict (409) that names
  it (revoke it first to change its expiry);
- revoking is immediate — consent is looked up on every request, so the adviser's next request gets 403 — and
  revoking a consent already revoked changes nothing;
- every grant and revocation, and every listing, is written to the audit log with the consent id; an adviser's
  reads are audited by ``access.authorise_holder_read`` with the consent that allowed them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.errors import Conflict, Forbidden, NotFound, ValidationFailed
from parcours.store.models import Consent, User
from serving.services.access import audit, authorise_holder_manage, aware, consent_is_active, find_active_consent


@dataclass(frozen=True)
class ConsentView:
    consent_id: int
    holder_id: str
    adviser: str
    granted_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    active: bool


@dataclass(frozen=True)
class ConsentingHolder:
    """A holder who currently consents to the adviser, and until when."""

    holder_id: str
    consent_id: int
    granted_at: dt.datetime
    expires_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _view(consent: Consent, now: dt.datetime) -> ConsentView:
    granted = aware(consent.granted_at)
    assert granted is not None  # NOT NULL column
    return ConsentView(
        consent_id=consent.consent_id,
        holder_id=consent.holder_id,
        adviser=consent.adviser_username,
        granted_at=granted,
        expires_at=aware(consent.expires_at),
        revoked_at=aware(consent.revoked_at),
        active=consent_is_active(consent, now),
    )


def _resource(holder_id: str, consent_id: int | None = None) -> str:
    base = f"/holders/{holder_id}/consents"
    return base if consent_id is None else f"{base}/{consent_id}"


def _check_adviser(session: Session, username: str) -> str:
    username = (username or "").strip()
    if not username:
        raise ValidationFailed([{"field": "adviser", "message": "the adviser's username is required"}])
    adviser = session.scalars(select(User).where(User.username == username)).one_or_none()
    if adviser is None:
        raise ValidationFailed([{"field": "adviser", "message": f"no user named {username!r}"}])
    if adviser.role != "adviser":
        raise ValidationFailed(
            [{"field": "adviser", "message": f"user {username!r} is not an adviser (role {adviser.role})"}]
        )
    if not adviser.is_active:
        raise ValidationFailed([{"field": "adviser", "message": f"adviser {username!r} is deactivated"}])
    return username


def _check_expiry(expires_at: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    if expires_at is None:
        return None
    expires = aware(expires_at)
    assert expires is not None
    if expires <= now:
        raise ValidationFailed(
            [{"field": "expires_at", "message": f"must be in the future (now is {now.isoformat()})"}]
        )
    return expires.astimezone(dt.UTC)


def grant_consent(
    session: Session, user: User, holder_id: str, adviser: str, expires_at: dt.datetime | None = None
) -> ConsentView:
    """The holder (or an admin) lets ``adviser`` see the holder's data from now until revoked or ``expires_at``."""
    authorise_holder_manage(session, user, holder_id)
    now = _now()
    username = _check_adviser(session, adviser)
    expires = _check_expiry(expires_at, now)
    existing = find_active_consent(session, holder_id, username, now)
    if existing is not None:
        raise Conflict(
            f"consent {existing.consent_id} of holder {holder_id} to adviser {username} is already active; "
            "revoke it first to grant a new one"
        )
    consent = Consent(holder_id=holder_id, adviser_username=username, granted_at=now, expires_at=expires)
    session.add(consent)
    session.flush()
    audit(session, user, "consent-grant", holder_id, f"{_resource(holder_id, consent.consent_id)} to {username}")
    return _view(consent, now)


def list_consents(session: Session, user: User, holder_id: str) -> list[ConsentView]:
    """Every consent the holder ever gave, newest first, each with whether it is active now."""
    authorise_holder_manage(session, user, holder_id)
    now = _now()
    consents = session.scalars(
        select(Consent)
        .where(Consent.holder_id == holder_id)
        .order_by(Consent.granted_at.desc(), Consent.consent_id.desc())
    )
    views = [_view(c, now) for c in consents]
    audit(session, user, "read", holder_id, _resource(holder_id))
    return views


def revoke_consent(session: Session, user: User, holder_id: str, consent_id: int) -> ConsentView:
    """End a consent now. A consent of another holder is not found (404); revoking twice changes nothing."""
    authorise_holder_manage(session, user, holder_id)
    now = _now()
    consent = session.get(Consent, consent_id, with_for_update=True)
    if consent is None or consent.holder_id != holder_id:
        raise NotFound(f"consent {consent_id} not found for holder {holder_id}")
    if consent.revoked_at is None:
        consent.revoked_at = now
        session.flush()
        audit(session, user, "consent-revoke", holder_id,
              f"{_resource(holder_id, consent_id)} to {consent.adviser_username}")
    return _view(consent, now)


def consenting_holders(session: Session, user: User) -> list[ConsentingHolder]:
    """The holders whose consent to ``user`` (an adviser) is active now, soonest expiry first (none: last).

    Each listed holder gets an audit row: the list says who consulted whom.
    """
    if user.role != "adviser":
        raise Forbidden("only an adviser has holders who consent to them")
    now = _now()
    consents = session.scalars(
        select(Consent)
        .where(Consent.adviser_username == user.username, Consent.revoked_at.is_(None))
        .order_by(Consent.holder_id, Consent.granted_at.desc(), Consent.consent_id.desc())
    )
    found: dict[str, ConsentingHolder] = {}
    for consent in consents:
        if consent.holder_id in found or not consent_is_active(consent, now):
            continue
        granted = aware(consent.granted_at)
        assert granted is not None
        found[consent.holder_id] = ConsentingHolder(
            consent.holder_id, consent.consent_id, granted, aware(consent.expires_at)
        )
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    holders = sorted(found.values(), key=lambda h: (h.expires_at or far, h.holder_id))
    for holder in holders:
        audit(session, user, "consent-list", holder.holder_id,
              f"/advisers/me/holders (consent {holder.consent_id})")
    return holders
