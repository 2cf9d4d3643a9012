"""Catalogue search and training details.

The search is neutral (R6323-33 purpose 2, informing holders of eligible trainings): it ranks by the query and
objective criteria only, the same for every caller; personalised suggestions are the recommendations endpoint.
Every hit is checked against the database before it is returned (it still exists, has a session to come, and
its current values pass the filters), so an index older than the catalogue never shows a removed, expired or
no-longer-matching training.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from features.esco_fr import display_label
from parcours.errors import IndexMismatch, NotFound, ValidationFailed
from parcours.settings import Settings
from parcours.store.models import Provider, Training
from recommender.index import SearchFilter
from serving.deps import CurrentUser, SearchRateLimit, SessionDep
from serving.schemas.errors import responses
from serving.schemas.types import NonBlank
from serving.services.catalogue import TrainingHit, checked_hits
from serving.services.holders import today

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/trainings", tags=["trainings"])

Modality = Literal["onsite", "remote", "hybrid"]


class SearchResults(BaseModel):
    query: str
    k: int
    model_id: str
    items: list[TrainingHit]


class SkillRef(BaseModel):
    uri: str
    label: str


class TrainingDetail(BaseModel):
    training_id: str
    title: str
    description: str
    certification_code: str
    provider_id: str
    provider_name: str
    price_cents: int
    hours: int
    modality: str
    region_code: str
    level: int | None
    skills: list[SkillRef]
    prerequisites: list[SkillRef]
    target_occupations: list[SkillRef]
    upcoming_sessions: list[dt.date]
    open: bool


def load_catalogue_search(app: FastAPI, settings: Settings) -> None:
    """Load the index into ``app.state.catalogue_search`` (at start and on reload); on failure keep the reason.

    A mismatched index (another model or dimension, or another database: ``recommender.provenance``) is refused,
    logged and reported by ``/health`` and ``/ready``; the search then answers 503 with the reason and how to
    rebuild rather than serving wrong neighbours. An index of this database whose catalogue changed since is
    served and said stale. On reload an unchanged index folder keeps the loaded search (no encoder reload); the
    new state is built aside and swapped in, so requests in flight keep the search they started with.
    """
    from recommender.index import IndexMetadata
    from recommender.provenance import Verdict, check_index_provenance, current_provenance
    from recommender.search import CatalogueSearch

    previous = getattr(app.state, "catalogue_search", None)
    search: CatalogueSearch | None = None
    error: str | None = None
    mismatch = False
    freshness = Verdict("unknown", "no index")
    folder = settings.resolved_index_dir()
    try:
        if not (folder / "meta.json").exists():
            raise FileNotFoundError(f"no catalogue index in {folder}: run `parcours index build`")
        meta = IndexMetadata.read(folder)
        with app.state.session_factory() as session:
            current = current_provenance(session)
        # Refuse another database's index before paying for the encoder.
        freshness = check_index_provenance(meta.database_id, meta.catalogue_fingerprint, meta.catalogue_trainings,
                                           current, where=folder)
        if freshness.state != "ok":
            log.warning("catalogue index: %s", freshness.detail)
        unchanged = previous is not None and (previous.index.meta.built_at, previous.index.meta.updated_at) == (
            meta.built_at, meta.updated_at)
        search = previous if unchanged else CatalogueSearch.load(settings)
    except IndexMismatch as exc:
        log.error("catalogue index refused: %s", exc)
        error, mismatch = str(exc), True
    except FileNotFoundError as exc:
        log.warning("catalogue search unavailable: %s", exc)
        error = str(exc)
    app.state.catalogue_search_error = error
    app.state.catalogue_search_mismatch = mismatch
    app.state.catalogue_search_freshness = freshness
    app.state.catalogue_search = search


def index_health(app: FastAPI) -> dict[str, object]:
    """The index part of ``/health``: state, model and size; ``degraded`` when the index was refused;
    ``freshness`` says whether it was built on the current catalogue (``stale`` after an import)."""
    search = getattr(app.state, "catalogue_search", None)
    freshness = getattr(app.state, "catalogue_search_freshness", None)
    fresh = freshness.as_dict() if freshness is not None else None
    if search is not None:
        return {"state": "ok", "model_id": search.model_id, "trainings": len(search.index), "degraded": False,
                "freshness": fresh}
    error = getattr(app.state, "catalogue_search_error", None)
    mismatch = bool(getattr(app.state, "catalogue_search_mismatch", False))
    return {"state": "mismatch" if mismatch else "missing", "detail": error, "degraded": mismatch}


@router.get(
    "/search",
    response_model=SearchResults,
    dependencies=[SearchRateLimit],
    responses=responses(401, 422, 429, _503="The catalogue index is not loaded or was refused; the detail says why"),
    summary="Search the catalogue (neutral, hybrid semantic + BM25)",
)
def search_trainings(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=500, pattern=NonBlank, description="What to look for, in words")],
    k: Annotated[int, Query(ge=1, le=100, description="How many trainings")] = 10,
    region: Annotated[list[str] | None, Query(max_length=20, description="Region codes (repeatable)")] = None,
    modality: Annotated[
        list[Modality] | None, Query(description="onsite, remote or hybrid (repeatable)")
    ] = None,
    max_price_cents: Annotated[int | None, Query(ge=0, le=2**62, description="Highest price, in cents")] = None,
    level: Annotated[list[Annotated[int, Field(ge=3, le=8)]] | None,
                     Query(description="Certification levels 3–8 (repeatable)")] = None,
) -> SearchResults:
    del user  # any authenticated role may search; the answer does not depend on who asks
    if not q.strip():
        raise ValidationFailed([{"field": "q", "message": "the query is blank"}], "the query is blank")
    bad_levels = [v for v in level or [] if not 3 <= v <= 8]
    if bad_levels:
        raise ValidationFailed([{"field": "level", "message": f"levels are 3 to 8, not {bad_levels}"}])
    search = request.app.state.catalogue_search
    if search is None:
        raise HTTPException(
            status_code=503,
            detail=request.app.state.catalogue_search_error or "the catalogue index is not loaded",
        )
    on = today()
    search_filter = SearchFilter(
        regions=tuple(region or ()),
        modalities=tuple(modality or ()),
        max_price_cents=max_price_cents,
        levels=tuple(level or ()),
        today=on,
    )
    # A few more hits than asked for: some may have closed or changed since the index was built.
    hits = search.search(q, k + min(k, 20), search_filter)
    items = checked_hits(session, hits, search_filter, on, k)
    return SearchResults(query=q, k=k, model_id=search.model_id, items=items)


@router.get(
    "/{training_id}", response_model=TrainingDetail, responses=responses(401, 404, 422),
    summary="One training with its skills and sessions",
)
def get_training(
    training_id: Annotated[str, Path(min_length=1, max_length=64)],
    user: CurrentUser,
    session: SessionDep,
) -> TrainingDetail:
    del user
    row = session.execute(
        select(Training, Provider.name)
        .join(Provider, Provider.provider_id == Training.provider_id)
        .where(Training.training_id == training_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"training {training_id} does not exist")
    training, provider_name = row
    on = today()
    upcoming = sorted(s.start_date for s in training.sessions if s.start_date >= on)

    def skills(uris: list[str]) -> list[SkillRef]:
        return [SkillRef(uri=u, label=display_label(u, "skill")) for u in uris]

    occupations = [SkillRef(uri=u, label=display_label(u, "occupation")) for u in training.target_occupations]
    return TrainingDetail(
        training_id=training.training_id,
        title=training.title,
        description=training.description,
        certification_code=training.certification_code,
        provider_id=training.provider_id,
        provider_name=provider_name,
        price_cents=training.price_cents,
        hours=training.hours,
        modality=training.modality,
        region_code=training.region_code,
        level=training.level,
        skills=skills(training.skills),
        prerequisites=skills(training.prerequisites),
        target_occupations=occupations,
        upcoming_sessions=upcoming,
        open=bool(upcoming),
    )
