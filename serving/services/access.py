"""Who may see what (docs/domain.md): the access rules for holder data, and the audit log of every read.

- A holder sees only their own data.
- An adviser sees a holder's data only while that holder's consent is active.
- An admin sees everything. Providers, funders and analysts see no holder's personal data here
  (their own feeds filter by provider / funder and pseudonymise).
- Only the holder themself (or an admin) manages the holder's consents and preferences
  (``authorise_holder_manage``).

Consent is looked up on every request (never cached): a revoked or expired consent closes the adviser's access
at their next request. An adviser's read is audited with the consent that allowed it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from parcours.errors import Forbidden, NotFound
from parcours.store.models import AuditLog, Consent, Holder, User
from serving.services.at_commit import at_commit


def consent_is_active(consent: Consent, now: dt.datetime) -> bool:
    """Granted at or before ``now``, not revoked, and not expired (an expiry at ``now`` has passed)."""
    expires = aware(consent.expires_at)
    granted = aware(consent.granted_at) or now
    return consent.revoked_at is None and (expires is None or expires > now) and granted <= now


def find_active_consent(
    session: Session, holder_id: str, adviser_username: str, now: dt.datetime | None = None
) -> Consent | None:
    """The newest consent of the holder for this adviser that is active at ``now``, if any."""
    now = now or dt.datetime.now(dt.UTC)
    consents = session.scalars(
        select(Consent)
        .where(Consent.holder_id == holder_id, Consent.adviser_username == adviser_username)
        .order_by(Consent.granted_at.desc(), Consent.consent_id.desc())
    )
    return next((c for c in consents if consent_is_active(c, now)), None)


def active_consent(session: Session, holder_id: str, adviser_username: str, now: dt.datetime | None = None) -> bool:
    return find_active_consent(session, holder_id, adviser_username, now) is not None


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives back naive datetimes; every datetime Parcours stores is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _audit_row(user: User, action: str, holder_id: str | None, resource: str) -> AuditLog:
    return AuditLog(actor=user.username, role=user.role, action=action, holder_id=holder_id, resource=resource[:300])


def audit(session: Session, user: User, action: str, holder_id: str | None, resource: str) -> None:
    """Append one row to the audit log (``resource`` cut to the column's 300 characters)."""
    session.add(_audit_row(user, action, holder_id, resource))


def audit_at_commit(session: Session, user: User, action: str, holder_id: str | None, resource: str) -> None:
    """Append one row to the audit log in the same transaction, inserted when the session commits
    (``serving.services.at_commit``: a read then holds no write lock while it computes). A plain insert on the
    transaction's connection: the ORM's flush of one object cost more than the insert itself."""
    values = {"actor": user.username, "role": user.role, "action": action, "holder_id": holder_id,
              "resource": resource[:300]}
    at_commit(session, lambda s: s.connection().execute(_INSERT_AUDIT_ROW, values))


_INSERT_AUDIT_ROW = insert(AuditLog)  # ``occurred_at`` from the column's default, when it runs


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
        consent = find_active_consent(session, holder_id, user.username)
        if consent is None:
            raise Forbidden("no active consent of this holder for this adviser")
        resource = f"{resource} (consent {consent.consent_id})"  # the audit row says under which consent
    elif user.role != "admin":
        raise Forbidden(f"role {user.role} may not read holder data")
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"holder {holder_id} not found")
    audit_at_commit(session, user, action, holder_id, resource)
    return holder


def authorise_holder_manage(session: Session, user: User, holder_id: str) -> Holder:
    """Return the holder if ``user`` may manage their consents and preferences: the holder themself or an admin.

    Raises ``Forbidden`` (403) for anyone else (another holder, an adviser even with consent, other roles) and
    ``NotFound`` (404) when the holder does not exist (only for callers who pass the role check, as for reads).
    Writes nothing to the audit log: the caller records what it did (grant, revoke, update…).
    """
    if user.role == "holder":
        if user.holder_id != holder_id:
            raise Forbidden("a holder may manage only their own consents and preferences")
    elif user.role != "admin":
        raise Forbidden(f"only the holder (or an admin) manages a holder's consents and preferences, not role "
                        f"{user.role}")
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"holder {holder_id} not found")
    return holder
