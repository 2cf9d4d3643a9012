from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from features.catalogue import load_catalogue
from parcours.settings import Settings
from recommender.base import Recommender
from recommender.content import ContentRecommender
from serving.db.models import Training
from serving.deps import CurrentUser, SessionDep
from serving.services.access import authorise_holder_read
from serving.services.enrolments import estimate_funding
from serving.services.holders import account_view, holder_context, today

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/holders", tags=["holders"])


class RecommendationItem(BaseModel):
    training_id: str
    title: str
    score: float
    price_cents: int
    out_of_pocket_cents: int
    reasons: list[str]


class RecommendationsPublic(BaseModel):
    model_version: str
    items: list[RecommendationItem]


def load_recommender(factory: sessionmaker[Session], settings: Settings) -> Recommender | None:
    """The recommender served at start: content similarity over the open catalogue (None if it is empty)."""
    with factory() as session:
        catalogue = load_catalogue(session)
    if catalogue.empty:
        log.warning("empty catalogue: recommendations unavailable until a world is imported")
        return None
    return ContentRecommender(degraded=False).fit(catalogue)


@router.get("/{holder_id}/account", summary="Balances after reservations, top-ups and ledger history")
def get_account(holder_id: str, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    holder = authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/account")
    return account_view(session, holder)


@router.get("/{holder_id}/recommendations", response_model=RecommendationsPublic,
            summary="Personalised training suggestions with their cost to the holder")
def get_recommendations(
    holder_id: str, user: CurrentUser, session: SessionDep, request: Request,
    k: Annotated[int, Query(ge=1, le=100, description="How many items")] = 10,
) -> RecommendationsPublic:
    holder = authorise_holder_read(session, user, holder_id, "recommend", f"/holders/{holder_id}/recommendations")
    recommender: Recommender | None = request.app.state.recommender
    if recommender is None:
        return RecommendationsPublic(model_version="none", items=[])
    context = holder_context(session, holder)
    items = []
    for rec in recommender.recommend(context, k=k):
        training = session.get(Training, rec.training_id)
        if training is None:
            continue
        # The same funding rule and balances (top-ups included) as a confirmation today would use.
        plan = estimate_funding(session, holder_id, training.training_id, today(),
                                price_cents=training.price_cents)
        items.append(RecommendationItem(training_id=rec.training_id, title=training.title, score=rec.score,
                                        price_cents=training.price_cents,
                                        out_of_pocket_cents=plan.out_of_pocket_cents, reasons=list(rec.reasons)))
    return RecommendationsPublic(model_version=recommender.model_version, items=items)
