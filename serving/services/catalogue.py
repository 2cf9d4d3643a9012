"""Catalogue search hits checked against the database: what the search endpoint returns.

The index can be older than the catalogue (a training removed, its sessions gone, its price changed since the
last build). Every hit is therefore re-read here and kept only if it still exists, still has a session on or
after ``on`` and its current values still pass the request's filters. One query reads the hits' rows, their
provider's name and their next session (a correlated subquery on the sessions' primary key), so a search costs
one database round trip whatever its ``k``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parcours.store.models import Provider, Training, TrainingSession
from recommender.index import SearchFilter
from recommender.search import SearchHit


@dataclass(frozen=True)
class TrainingHit:
    """A search hit with the training's current values: what the search endpoint shows for each item (the router
    uses it as the item schema as it is, so the fields are written once)."""

    training_id: str
    title: str
    provider_id: str
    provider_name: str
    certification_code: str
    level: int | None
    price_cents: int
    hours: int
    modality: str
    region_code: str
    next_session: dt.date
    score: float
    semantic_score: float
    lexical_score: float


def checked_hits(
    session: Session, hits: Sequence[SearchHit], search_filter: SearchFilter, on: dt.date, k: int
) -> list[TrainingHit]:
    """The first ``k`` of ``hits`` (in their order) that still exist, are open on ``on`` and pass the filter."""
    ids = [h.training_id for h in hits]
    if not ids or k <= 0:
        return []
    next_session = (
        select(func.min(TrainingSession.start_date))
        .where(TrainingSession.training_id == Training.training_id, TrainingSession.start_date >= on)
        .correlate(Training)
        .scalar_subquery()
    )
    current = {
        row.training_id: row
        for row in session.execute(
            select(
                Training.training_id,
                Training.title,
                Training.provider_id,
                Provider.name.label("provider_name"),
                Training.certification_code,
                Training.level,
                Training.price_cents,
                Training.hours,
                Training.modality,
                Training.region_code,
                next_session.label("next_session"),
            )
            .join(Provider, Provider.provider_id == Training.provider_id)
            .where(Training.training_id.in_(ids))
        )
    }
    out: list[TrainingHit] = []
    for hit in hits:
        row = current.get(hit.training_id)
        if row is None or row.next_session is None:
            continue  # removed or expired since the index was built
        if not search_filter.accepts(
            region_code=row.region_code, modality=row.modality, price_cents=row.price_cents, level=row.level
        ):
            continue  # its current values no longer match
        out.append(
            TrainingHit(
                training_id=row.training_id,
                title=row.title,
                provider_id=row.provider_id,
                provider_name=row.provider_name,
                certification_code=row.certification_code,
                level=row.level,
                price_cents=row.price_cents,
                hours=row.hours,
                modality=row.modality,
                region_code=row.region_code,
                next_session=row.next_session,
                score=round(hit.score, 6),
                semantic_score=round(hit.semantic, 6),
                lexical_score=round(hit.lexical, 6),
            )
        )
        if len(out) == k:
            break
    return out


def training_titles(session: Session, training_ids: Sequence[str]) -> dict[str, str]:
    """The title of each of ``training_ids`` that exists (one query), for pages that name a training to a person."""
    wanted = sorted(set(training_ids))
    if not wanted:
        return {}
    rows = session.execute(select(Training.training_id, Training.title).where(Training.training_id.in_(wanted)))
    return {training_id: title for training_id, title in rows}
