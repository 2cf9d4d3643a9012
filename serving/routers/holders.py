from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from serving.deps import CurrentUser, HolderIdPath, SearchRateLimit, SessionDep
from serving.schemas.errors import responses
from serving.schemas.rights import AccountPublic
from serving.services.access import authorise_holder_read
from serving.services.at_commit import commit_without_disk_wait
from serving.services.holders import account_view
from serving.services.recommendations import RecommenderState, recommendations_for
from serving.services.statistics import log_impressions

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/holders", tags=["holders"])


class RecommendationItem(BaseModel):
    training_id: str
    title: str
    score: float = Field(description="Calibrated probability of enrolment (learned model) or similarity")
    price_cents: int
    out_of_pocket_cents: int = Field(description="What the holder pays: the cheaper of using rights (CPF, CEC, "
                                     "top-ups, flat participation) and paying the provider directly")
    reasons: list[str]
    skills_closed: list[str] = Field(default_factory=list, description="Missing skills of the goal it teaches")
    completion_probability: float | None = None
    risk: str | None = Field(default=None, description="Why abandonment is likely, when it is")
    with_rights_cents: int = Field(description="Out of pocket when the file uses the holder's rights")
    direct_cents: int = Field(description="The price paid directly, without a CPF file")
    cheaper: str = Field(description="rights or direct: which of the two the holder should choose; direct when "
                         "both cost the same (no rights spent for nothing)", examples=["rights"])
    participation_exceeds_rights: bool = Field(
        description="The flat participation is more than the rights the file would use")
    rights_used_cents: int = Field(description="CPF and CEC rights the file would spend (0: none available)",
                                   examples=[150_000])
    participation_cents: int = Field(description="The flat participation a CPF file for it would carry, included "
                                                 "in with_rights_cents (0: exempt)", examples=[10_223])


class RecommendationsPublic(BaseModel):
    model_version: str
    personalised: bool = Field(description="False: neutral suggestions, the same for every holder")
    degraded: bool = Field(description="True when the content-similarity fallback answers")
    max_out_of_pocket_cents: int | None = Field(
        default=None, examples=[50_000],
        description="The holder's most out of pocket (their preferences) when it shaped this list: every item's "
                    "out_of_pocket_cents is within it, and the list may be shorter than k. Null: no ceiling (none "
                    "set, or neutral suggestions)")
    notice: str | None = Field(
        default=None,
        examples=["Aucune formation suggérée ne tient dans votre reste à charge maximal de 0,00 € : la moins chère "
                  "vous coûterait 102,23 €, dont 102,23 € de participation forfaitaire, due sur tout dossier financé "
                  "par vos droits. Vous pouvez relever ce montant dans vos préférences."],
        description="In French, for the holder: why the list holds fewer than k items when their most out of "
                    "pocket set trainings aside, with what the cheapest of them would cost. Null otherwise")
    items: list[RecommendationItem]


@router.get("/{holder_id}/account", response_model=AccountPublic, responses=responses(401, 403, 404, 422),
            summary="Balances after reservations, top-ups and ledger history")
def get_account(holder_id: HolderIdPath, user: CurrentUser, session: SessionDep) -> dict[str, object]:
    holder = authorise_holder_read(session, user, holder_id, "read", f"/holders/{holder_id}/account")
    return account_view(session, holder)


@router.get("/{holder_id}/recommendations", response_model=RecommendationsPublic, dependencies=[SearchRateLimit],
            responses=responses(401, 403, 404, 422, 429),
            summary="Personalised training suggestions with their cost to the holder")
def get_recommendations(
    holder_id: HolderIdPath, user: CurrentUser, session: SessionDep, request: Request,
    k: Annotated[int, Query(ge=1, le=100, description="How many items")] = 10,
    personalised: Annotated[bool | None, Query(
        description="false: neutral suggestions for this request (a holder who switched personalisation off "
                    "always gets them)")] = None,
) -> Response:
    holder = authorise_holder_read(session, user, holder_id, "recommend", f"/holders/{holder_id}/recommendations")
    state: RecommenderState = request.app.state.recommender
    if state.recommender is None:
        return _json(RecommendationsPublic(model_version="none", personalised=False, degraded=True, items=[]))
    answer = recommendations_for(session, state.recommender, holder, k, personalised=personalised)
    log_impressions(session, holder.holder_id, [item.training_id for item in answer.items],
                    state.recommender.model_version)
    commit_without_disk_wait(session)  # it writes only the audit row and the impressions
    return _json(RecommendationsPublic(
        model_version=state.recommender.model_version, personalised=answer.personalised, degraded=state.degraded,
        max_out_of_pocket_cents=answer.max_out_of_pocket_cents, notice=answer.notice,
        items=[RecommendationItem(**vars(item)) for item in answer.items]))


def _json(answer: BaseModel) -> Response:
    """The answer serialised here, in the route's thread, as FastAPI serialises a ``response_model`` (pydantic's
    JSON): returned as a model, FastAPI validated it once more, from a second trip through the thread pool."""
    return Response(content=answer.model_dump_json(), media_type="application/json")
