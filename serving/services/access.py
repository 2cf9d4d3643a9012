"""Who may see what (DOMAIN.md): the access rules for holder data, and the audit log of every read.

- A holder sees only their own data.
- An adviser sees a holder's data only while that holder's consent is active.
- An admin sees everything. Providers, funders and analysts see no holder's personal data here
  (their own feeds filter by provider / funder and pseudonymise).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.errors import Forbidden, NotFound
from parcours.store.models import AuditLog, Consent, Holder, User


def active_consent(session: Session, holder_id: str, adviser_username: str, now: dt.datetime | None = None) -> bool:
    now = now or dt.datetime.now(dt.UTC)
    consents = session.scalars(
        select(Consent).where(Consent.holder_id == holder_id, Consent.adviser_username == adviser_username)
    )
    for consent in consents:
        expires = _aware(consent.expires_at)
        granted = _aware(consent.granted_at) or now
        if consent.revoked_at is None and (expires is None or expires > now) and granted <= now:
            return True
    return False


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def authorise_holder_read(session: Session, user: User, holder_id: str, action: str, resource: str) -> Holder:
    """Return the holder if ``user`` may read their data, and write the read to the audit log.

    Raises ``Forbidden`` (403) for another holder's data or an adviser without consent, ``NotFound`` (404)
    when the holder does not exist (checked only for callers who may see holders at all, so that a holder
    cannot probe which ids exist).
    """
    if user.role == "holder":
        if user.holder_id != holder_id:
            raise Forbidden("a holder may read only their own data")
    elif user.role == "adviser":
        if not active_consent(session, holder_id, user.username):
            raise Forbidden("no active consent of this holder for this adviser")
    elif user.role != "admin":
        raise Forbidden(f"role {user.role} may not read holder data")
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"holder {holder_id} not found")
    session.add(AuditLog(actor=user.username, role=user.role, action=action, holder_id=holder_id, resource=resource))
    return holder
