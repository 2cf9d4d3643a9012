"""A file is refused at its request when its session can no longer be confirmed (the confirmation deadline, 11
working days before the start, has passed): 422 naming the deadline and offering the training's next sessions
that can still be confirmed (issue 18). Before, the request and the acceptance went through and only the
confirmation failed."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from parcours.domain import rules
from parcours.store.models import User
from parcours.store.supporting_models import Enrolment
from serving.services.enrolment_states import latest_confirmation_date
from tests.ledger_world import TODAY, add_holder, add_training
from tests.test_api_supporting import Api

D = dt.date
TOO_LATE = D(2025, 3, 10)  # a week after TODAY: its confirmation deadline has passed
LAST_CONFIRMABLE = D(2025, 3, 18)  # exactly 11 working days after TODAY (Monday 2025-03-03)
LATER = D(2025, 4, 7)


@pytest.fixture
def api(db_url, tmp_path) -> Api:
    api = Api(db_url, tmp_path)

    def seed(session):
        add_training(session, "T1", price_cents=150_000, starts=(D(2025, 2, 24), TOO_LATE, LAST_CONFIRMABLE, LATER))
        add_training(session, "T2", price_cents=150_000, starts=(TOO_LATE,))
        add_holder(session, "H1", cpf_cents=400_000)
        session.add(User(username="h1", password_hash="x", role="holder", holder_id="H1"))
        session.add(User(username="p1", password_hash="x", role="provider", provider_id="P1"))

    api.world.seed(seed)
    return api


def _request(api: Api, training_id: str, start: dt.date):
    return api.post("h1", "/v1/enrolments",
                    {"holder_id": "H1", "training_id": training_id, "session_start": start.isoformat()})


def _files(api: Api) -> int:
    with api.world.factory() as session:
        return session.scalar(select(func.count()).select_from(Enrolment))


def test_a_session_past_its_confirmation_deadline_is_refused_with_the_next_sessions(api):
    assert rules.earliest_session_start(TODAY) == LAST_CONFIRMABLE
    confirm_by = latest_confirmation_date(TOO_LATE)
    assert confirm_by < TODAY
    answer = _request(api, "T1", TOO_LATE)
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["detail"]  # the one 422 shape: the deadline and the offer in the problem's ctx
    assert problem["loc"] == ["session_start"] and confirm_by.isoformat() in problem["msg"]
    detail = problem["ctx"]
    assert detail["confirm_by"] == confirm_by.isoformat()
    assert detail["next_sessions"] == [
        {"session_start": "2025-03-18", "confirm_by": "2025-03-03"},
        {"session_start": "2025-04-07", "confirm_by": latest_confirmation_date(LATER).isoformat()},
    ]
    assert _files(api) == 0  # nothing written
    # a training without a later session says so with an empty offer
    none_left = _request(api, "T2", TOO_LATE)
    assert none_left.status_code == 422 and none_left.json()["detail"][0]["ctx"]["next_sessions"] == []


def test_the_last_confirmable_session_is_still_accepted_and_confirmed(api):
    created = _request(api, "T1", LAST_CONFIRMABLE)
    assert created.status_code == 201, created.text
    path = f"/v1/enrolments/{created.json()['enrolment_id']}"
    assert created.json()["deadlines"]["confirm_by"] == TODAY.isoformat()
    assert api.post("p1", f"{path}/accept").status_code == 200
    confirmed = api.post("h1", f"{path}/confirm", {"max_out_of_pocket_cents": 0})
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    # the next day the same session is refused at the request, the later one offered
    api.today = TODAY + dt.timedelta(days=1)
    late = _request(api, "T1", LAST_CONFIRMABLE)
    assert late.status_code == 422
    assert [s["session_start"] for s in late.json()["detail"][0]["ctx"]["next_sessions"]] == ["2025-04-07"]


def test_a_started_session_is_still_refused_as_started(api):
    answer = _request(api, "T1", D(2025, 2, 24))
    assert answer.status_code == 422 and "already started" in str(answer.json()["detail"])
