"""Messages on an enrolment file between the holder and the provider (funders do not see them)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from parcours.errors import Forbidden
from parcours.store.supporting_models import Enrolment, EnrolmentMessage
from serving.services.actors import Actor
from serving.services.enrolment_states import field_problem
from serving.services.enrolment_views import get_enrolment, require_visible

MAX_MESSAGE_LENGTH = 5_000


def post_message(session: Session, enrolment_id: int, *, actor: Actor, body: str) -> EnrolmentMessage:
    """A message from the holder to the provider of the file, or back."""
    body = (body or "").strip()
    if not body or len(body) > MAX_MESSAGE_LENGTH:
        raise field_problem("body", f"must be 1–{MAX_MESSAGE_LENGTH} characters")
    enrolment = session.get(Enrolment, enrolment_id)
    require_visible(session, actor, enrolment, enrolment_id)  # someone else's file: 404, as for a missing one
    assert enrolment is not None
    if not (actor.is_holder(enrolment.holder_id) or actor.is_provider(enrolment.provider_id)):
        raise Forbidden("only the holder and the provider of a file exchange messages on it")
    message = EnrolmentMessage(
        enrolment_id=enrolment_id, author=actor.username, author_role=actor.role, body=body
    )
    session.add(message)
    session.flush()
    return message


def list_messages(session: Session, enrolment_id: int, *, actor: Actor) -> list[dict[str, object]]:
    enrolment = get_enrolment(session, enrolment_id, actor)
    if actor.role == "funder":
        raise Forbidden("funders do not see the messages of a file")
    return [
        message_view(m)
        for m in session.scalars(
            select(EnrolmentMessage)
            .where(EnrolmentMessage.enrolment_id == enrolment.enrolment_id)
            .order_by(EnrolmentMessage.message_id)
        )
    ]


def message_view(message: EnrolmentMessage) -> dict[str, object]:
    return {
        "message_id": message.message_id,
        "enrolment_id": message.enrolment_id,
        "author": message.author,
        "author_role": message.author_role,
        "body": message.body,
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }
