"""The funder feed (L6353-10, purpose 10): entry, exit and completion events of the files a funder co-finances,
pseudonymised per funder, incremental by an opaque cursor (docs/data_sharing.md).

A funder sees a file exactly when ``enrolment_views.cofunded_files`` says so (a top-up of its own on the file,
waiting or reserved); holders appear only as ``parcours.domain.pseudonyms.holder_pseudonym`` under a key that
lives in settings or in a 0600 key file of the data folder, never in the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.domain.pseudonyms import BadCursor, holder_pseudonym, make_cursor, read_cursor
from parcours.errors import Forbidden, NotFound, ValidationFailed
from parcours.settings import Settings, kept_secret
from parcours.store.models import AuditLog
from parcours.store.supporting_models import Enrolment, EnrolmentEvent, Funder
from serving.services.actors import Actor
from serving.services.enrolment_views import cofunded_files

# The transitions a funder is told about, by the name the feed gives them.
FEED_EVENTS = {"entry": "entry", "exit": "exit", "service_done": "completion"}
FEED_COLUMNS = (
    "event_id", "event", "on", "enrolment_id", "holder_pseudonym", "training_id", "provider_id",
    "session_start", "entry_date", "exit_date", "completion_rate", "no_show",
)
KEY_FILE = "pseudonym_key"


def pseudonym_key(settings: Settings) -> bytes:
    """``PARCOURS_PSEUDONYM_KEY``, or the key kept in ``<data_dir>/pseudonym_key`` (created at first use)."""
    return _key(settings.pseudonym_key, settings.data_dir.resolve())


def _key(configured: str, data_dir: Path) -> bytes:
    return kept_secret(configured, data_dir / KEY_FILE, "PARCOURS_PSEUDONYM_KEY").encode()


def _authorise(session: Session, actor: Actor, funder_id: str) -> None:
    """A funder reads its own feed, an admin any; another funder's id is answered like a missing one."""
    missing = NotFound(f"funder {funder_id} not found")
    if actor.role == "funder":
        if actor.funder_id != funder_id:
            raise missing
    elif actor.role != "admin":
        raise Forbidden(f"role {actor.role} has no funder feed")
    if session.get(Funder, funder_id) is None:
        raise missing


def funder_events(
    session: Session, actor: Actor, funder_id: str, *, key: bytes, cursor: str | None, limit: int
) -> dict[str, Any]:
    """Up to ``limit`` events after ``cursor``, oldest first, with the cursor to ask for the next ones
    (``next_cursor``: the same as given when nothing new happened) and whether more wait (``has_more``)."""
    _authorise(session, actor, funder_id)
    after = 0
    if cursor:
        try:
            after = read_cursor(key, funder_id, cursor)
        except BadCursor as exc:
            raise ValidationFailed([{"field": "cursor", "message": str(exc)}], message=f"cursor: {exc}") from exc
    rows = session.execute(
        select(EnrolmentEvent, Enrolment)
        .join(Enrolment, Enrolment.enrolment_id == EnrolmentEvent.enrolment_id)
        .where(
            EnrolmentEvent.event_id > after,
            EnrolmentEvent.action.in_(tuple(FEED_EVENTS)),
            EnrolmentEvent.enrolment_id.in_(cofunded_files(funder_id)),
        )
        .order_by(EnrolmentEvent.event_id)
        .limit(limit + 1)
    ).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    events = [_event(key, funder_id, event, enrolment) for event, enrolment in rows]
    last = rows[-1][0].event_id if rows else after
    session.add(AuditLog(actor=actor.username, role=actor.role, action="funder_feed", holder_id=None,
                         resource=f"/funders/{funder_id}/events after {after}: {len(events)} event(s)"[:300]))
    return {
        "funder_id": funder_id,
        "events": events,
        "next_cursor": make_cursor(key, funder_id, last) if last else None,
        "has_more": has_more,
    }


def _event(key: bytes, funder_id: str, event: EnrolmentEvent, enrolment: Enrolment) -> dict[str, Any]:
    detail = event.detail or {}
    return {
        "event_id": event.event_id,
        "event": FEED_EVENTS[event.action],
        "on": event.on_date.isoformat(),
        "enrolment_id": enrolment.enrolment_id,
        "holder_pseudonym": holder_pseudonym(key, funder_id, enrolment.holder_id),
        "training_id": enrolment.training_id,
        "provider_id": enrolment.provider_id,
        "session_start": enrolment.session_start.isoformat(),
        "entry_date": detail.get("entry_date"),
        "exit_date": detail.get("exit_date"),
        "completion_rate": detail.get("completion_rate") if event.action == "service_done" else None,
        "no_show": bool(detail.get("no_show", False)) if event.action == "service_done" else None,
    }
