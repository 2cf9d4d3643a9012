"""The funder feed (L6353-10): ``GET /v1/funders/{funder_id}/events``, pseudonymised events of the files the
funder co-finances, incremental by cursor, JSON or CSV (``serving.services.funder_feed``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from parcours.store.csv_safety import safe_csv
from serving.deps import CurrentUser, SessionDep, SettingsDep
from serving.routers.idempotent import actor_of
from serving.schemas.errors import responses
from serving.services.funder_feed import FEED_COLUMNS, funder_events, pseudonym_key

router = APIRouter(prefix="/v1/funders", tags=["funders"])


class FeedEventPublic(BaseModel):
    event_id: int
    event: Literal["entry", "exit", "completion"]
    on: str = Field(description="Business date of the declaration")
    enrolment_id: int
    holder_pseudonym: str = Field(description="Stable for this funder, different for every other funder")
    training_id: str
    provider_id: str
    session_start: str
    entry_date: str | None
    exit_date: str | None
    completion_rate: float | None = Field(description="Completion in %, on completion events")
    no_show: bool | None


class FeedPublic(BaseModel):
    funder_id: str
    events: list[FeedEventPublic]
    next_cursor: str | None = Field(description="Give it back as ?cursor= to get the events after these")
    has_more: bool


@router.get(
    "/{funder_id}/events",
    response_model=FeedPublic,
    summary="Entry, exit and completion events of the files the funder co-finances, pseudonymised (the funder "
    "itself, admin)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                     "description": "JSON, or CSV with format=csv (the next cursor in the Next-Cursor header)"},
               **responses(401, 403, _404="No such funder (or another funder's feed)",
                           _422="A cursor this feed did not give, or an invalid parameter")},
)
def get_funder_events(
    funder_id: Annotated[str, Path(min_length=1, max_length=64)],
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    cursor: Annotated[str | None, Query(max_length=64, description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",  # noqa: A002
) -> Any:
    feed = funder_events(session, actor_of(user), funder_id, key=pseudonym_key(settings), cursor=cursor,
                         limit=limit)
    if format == "csv":
        headers = {"Content-Disposition": 'attachment; filename="funder_events.csv"',
                   "Has-More": "true" if feed["has_more"] else "false"}
        if feed["next_cursor"]:
            headers["Next-Cursor"] = feed["next_cursor"]
        return Response(safe_csv(FEED_COLUMNS, feed["events"]), media_type="text/csv; charset=utf-8",
                        headers=headers)
    return feed
