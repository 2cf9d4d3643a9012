"""The supporting services over HTTP (the API of the README): enrolment transitions, payment batches, top-ups, rights,
CEC and the account views, with Idempotency-Key semantics (first answer replayed, 422 for another body, 409
while running, 400 without a key) and bad input refused with a reason, leaving the ledger unchanged."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from parcours.settings import Settings
from parcours.store.models import User
from parcours.store.supporting_models import Enrolment, IdempotencyKey
from serving.app import create_app
from serving.routers.idempotent import business_date
from serving.services.idempotency import execute_idempotent, purge_expired_keys, request_fingerprint
from tests.ledger_world import START, TODAY, add_funder, add_holder, add_training
from tests.test_enrolments_db import World, ledger_snapshot
from tests.tokens import token_for

USERS = [
    ("h1", "holder", "H1", None, None),
    ("h2", "holder", "H2", None, None),
    ("p1", "provider", None, "P1", None),
    ("p2", "provider", None, "P2", None),
    ("opco", "funder", None, None, "OPCO1"),
    ("root", "admin", None, None, None),
]


class Api:
    def __init__(self, db_url: str, tmp_path) -> None:
        self.settings = Settings(db_url=db_url, data_dir=tmp_path, remittance_dir=tmp_path / "remittances")
        self.app = create_app(self.settings)
        self.today = TODAY
        self.app.dependency_overrides[business_date] = lambda: self.today
        self.client = TestClient(self.app)  # no lifespan: the database is migrated by the fixture
        self.world = World(db_url)
        self.db_url = db_url
        self.tokens: dict[str, str] = {}

    def headers(self, username: str, key: str | None = "auto") -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = token_for(self.db_url, username, self.settings)
        headers = {"Authorization": f"Bearer {self.tokens[username]}"}
        if key == "auto":
            key = str(uuid.uuid4())
        if key is not None:
            headers["Idempotency-Key"] = key
        return headers

    def post(self, username: str, path: str, body: dict | None = None, key: str | None = "auto"):
        return self.client.post(path, json=body, headers=self.headers(username, key))

    def get(self, username: str, path: str):
        return self.client.get(path, headers=self.headers(username, None))

    def snapshot(self):
        with self.world.factory() as session:
            return ledger_snapshot(session), list(
                session.execute(select(Enrolment.enrolment_id, Enrolment.state))
            )


@pytest.fixture
def api(db_url, tmp_path) -> Api:
    api = Api(db_url, tmp_path)

    def seed(session):
        add_training(session, "T1", provider_id="P1", price_cents=150_000)
        add_holder(session, "H1", cpf_cents=200_000)
        add_holder(session, "H2", cpf_cents=50_000)
        add_funder(session, "OPCO1", "opco")
        for username, role, holder_id, provider_id, funder_id in USERS:
            session.add(
                User(
                    username=username,
                    password_hash="x",
                    role=role,
                    holder_id=holder_id,
                    provider_id=provider_id,
                    funder_id=funder_id,
                )
            )

    api.world.seed(seed)
    return api


def _new_file(api: Api, holder_user: str = "h1", holder_id: str = "H1") -> int:
    answer = api.post(
        holder_user,
        "/v1/enrolments",
        {"holder_id": holder_id, "training_id": "T1", "session_start": START.isoformat()},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["enrolment_id"]


def test_enrolment_to_payment_over_http(api):
    key = str(uuid.uuid4())
    body = {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat()}
    first = api.post("h1", "/v1/enrolments", body, key=key)
    assert first.status_code == 201 and first.json()["state"] == "submitted", first.text
    replay = api.post("h1", "/v1/enrolments", body, key=key)
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert replay.headers["Idempotent-Replayed"] == "true"
    file_id = first.json()["enrolment_id"]
    path = f"/v1/enrolments/{file_id}"
    assert api.post("p1", f"{path}/accept").json()["state"] == "accepted"
    confirmed = api.post("h1", f"{path}/confirm", {"max_out_of_pocket_cents": 0})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["funding"]["reserved_cents"] == {"cpf": 150_000}
    account = api.get("h1", "/v1/holders/H1/account").json()
    assert account["cpf_balance_cents"] == 50_000  # available after the reservation
    assert account["reservations"] == [
        {
            "enrolment_id": file_id,
            "training_id": "T1",
            "state": "confirmed",
            "held_cents": {"cpf": 150_000},
            "held_total_cents": 150_000,
        }
    ]
    api.today = START
    assert api.post("p1", f"{path}/entry").json()["state"] == "in_training"
    api.today = START + dt.timedelta(days=3)
    assert api.post("p1", f"{path}/exit", {"exit_date": api.today.isoformat()}).json()["state"] == "exited"
    done = api.post("p1", f"{path}/service-done", {"completion_rate": 80})
    assert done.json()["completion_rate"] == 80.0
    batch = api.post("root", "/v1/payments/batches")
    assert batch.status_code == 201, batch.text
    assert batch.json()["amounts_by_provider_cents"] == {"P1": 120_000}
    assert batch.json()["remittances"][0]["csv"].splitlines()[1].endswith(",150000,120000")
    assert api.get("p1", f"/v1/payments/batches/{batch.json()['batch_id']}/remittances/P1").status_code == 200
    assert api.get("p2", f"/v1/payments/batches/{batch.json()['batch_id']}/remittances/P1").status_code == 403
    final = api.get("h1", path).json()
    assert final["state"] == "closed" and final["funding"]["paid_cents"] == 120_000
    assert api.get("h1", "/v1/holders/H1/account").json()["cpf_balance_cents"] == 80_000
    assert api.world.problems() == []


def test_idempotency_key_rules(api):
    body = {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat()}
    missing = api.post("h1", "/v1/enrolments", body, key=None)
    assert missing.status_code == 400 and "Idempotency-Key" in missing.json()["detail"]
    assert api.post("h1", "/v1/enrolments", body, key="").status_code == 400
    assert api.post("h1", "/v1/enrolments", body, key="x" * 300).status_code == 400
    key = str(uuid.uuid4())
    assert api.post("h1", "/v1/enrolments", body, key=key).status_code == 201
    other = api.post("h1", "/v1/enrolments", {**body, "training_id": "T2"}, key=key)
    assert other.status_code == 422 and "different request" in str(other.json()["detail"])
    # another path with the same key is another request too
    assert api.post("h1", "/v1/enrolments/1/cancel", None, key=key).status_code == 422
    # keys are scoped to the caller: h2 may use the same key for its own request
    mine = api.post("h2", "/v1/enrolments", {**body, "holder_id": "H2"}, key=key)
    assert mine.status_code == 201 and mine.json()["holder_id"] == "H2"


def test_replay_while_the_first_is_running_gets_409(api):
    body = {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat()}
    now = dt.datetime.now(dt.UTC)
    with api.world.factory() as session:
        session.add(
            IdempotencyKey(
                caller="h1",
                idempotency_key="busy",
                state="running",
                owner_token="other",
                fingerprint=request_fingerprint("POST", "/v1/enrolments", body),
                locked_at=now,
                expires_at=now + dt.timedelta(hours=24),
            )
        )
        session.add(
            IdempotencyKey(
                caller="h1",
                idempotency_key="crashed",
                state="running",
                owner_token="dead",
                fingerprint=request_fingerprint("POST", "/v1/enrolments", body),
                locked_at=now - dt.timedelta(minutes=10),
                expires_at=now + dt.timedelta(hours=24),
            )
        )
        session.commit()
    before = api.snapshot()
    busy = api.post("h1", "/v1/enrolments", body, key="busy")
    assert busy.status_code == 409 and "still being processed" in busy.json()["detail"]
    assert api.snapshot() == before
    # a claim left by a crashed process is taken over once its lease has run out
    assert api.post("h1", "/v1/enrolments", body, key="crashed").status_code == 201


def test_concurrent_requests_with_one_key_act_once(api):
    body = {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat()}
    key, statuses, barrier = str(uuid.uuid4()), [], threading.Barrier(4)

    def send():
        barrier.wait()
        statuses.append(api.post("h1", "/v1/enrolments", body, key=key).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(statuses) <= {201, 409} and 201 in statuses
    with api.world.factory() as session:
        assert session.scalar(select(func.count()).select_from(Enrolment)) == 1


def test_keys_are_kept_24_hours(api):
    factory = api.world.factory
    start = dt.datetime(2025, 3, 3, 9, tzinfo=dt.UTC)
    calls = []

    def run(body, now):
        def operation(_session):
            calls.append(body)
            return 200, {"n": len(calls)}

        return execute_idempotent(
            factory, caller="h1", key="k", method="POST", path="/x", body=body, operation=operation, now=now
        )

    assert run({"a": 1}, start).body == {"n": 1}
    assert run({"a": 1}, start + dt.timedelta(hours=23, minutes=59)).replayed
    with pytest.raises(Exception, match="different request"):
        run({"a": 2}, start + dt.timedelta(hours=23))
    assert run({"a": 2}, start + dt.timedelta(hours=24, minutes=1)).body == {"n": 2}  # expired: a new request
    assert calls == [{"a": 1}, {"a": 2}]
    with factory() as session:
        assert purge_expired_keys(session, now=start + dt.timedelta(hours=49)) == 1
        session.commit()
    assert run({"a": 1}, start + dt.timedelta(hours=50)).body == {"n": 3}


def test_a_failed_request_frees_its_key(api):
    file_id = _new_file(api, "h2", "H2")
    assert api.post("p1", f"/v1/enrolments/{file_id}/accept").status_code == 200
    key = str(uuid.uuid4())
    refused = api.post("h2", f"/v1/enrolments/{file_id}/confirm", {"max_out_of_pocket_cents": 0}, key=key)
    assert refused.status_code == 409 and "exceed max_out_of_pocket_cents" in refused.json()["detail"]
    granted = api.post("opco", "/v1/topups", {"enrolment_id": file_id, "amount_cents": 100_000})
    assert granted.status_code == 201, granted.text
    retried = api.post("h2", f"/v1/enrolments/{file_id}/confirm", {"max_out_of_pocket_cents": 0}, key=key)
    assert retried.status_code == 200 and retried.json()["funding"]["participation_cents"] == 0


def test_bad_input_is_refused_with_a_reason_and_changes_nothing(api):
    submitted = _new_file(api)
    cases = [
        ("opco", "/v1/topups", {"enrolment_id": submitted, "amount_cents": -100}, 422),
        ("opco", "/v1/topups", {"enrolment_id": submitted, "amount_cents": "100"}, 422),
        ("opco", "/v1/topups", {"enrolment_id": submitted, "amount_cents": 10.5}, 422),
        ("opco", "/v1/topups", {"enrolment_id": 424242, "amount_cents": 100}, 404),
        ("h1", f"/v1/enrolments/{submitted}/confirm", None, 409),  # illegal transition
        ("h1", "/v1/enrolments/424242/confirm", None, 404),  # unknown file
        (
            "h1",
            "/v1/enrolments",
            {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat(), "state": "paid"},
            422,
        ),  # no field sets a state
        (
            "h1",
            "/v1/enrolments",
            {"holder_id": "H1", "training_id": "T1", "session_start": START.isoformat(), "price_cents": 1},
            422,
        ),  # ... or an amount
        (
            "h1",
            "/v1/enrolments",
            {"holder_id": "H2", "training_id": "T1", "session_start": START.isoformat()},
            403,
        ),
        ("h1", "/v1/enrolments", {"holder_id": "H1", "training_id": "T1", "session_start": "someday"}, 422),
        ("p1", f"/v1/enrolments/{submitted}/service-done", {"completion_rate": 150}, 422),
        ("p1", f"/v1/enrolments/{submitted}/service-done", {"completion_rate": 33.333}, 422),
        ("p1", f"/v1/enrolments/{submitted}/service-done", {}, 422),
        ("p1", f"/v1/enrolments/{submitted}/service-done", {"completion_rate": 50}, 409),
        ("h1", f"/v1/enrolments/{submitted}/accept", None, 403),
        ("p2", f"/v1/enrolments/{submitted}/accept", None, 404),  # another provider's file: as if missing
        ("h1", f"/v1/enrolments/{submitted}/confirm", {"max_out_of_pocket_cents": -1}, 422),
        ("h1", "/v1/payments/batches", None, 403),
        (
            "root",
            "/v1/rights/annual-credits",
            {"declarations": [{"holder_id": "H1", "year": 2024, "status": "employee", "worked_hours": -1}]},
            422,
        ),
        (
            "root",
            "/v1/rights/annual-credits",
            {
                "declarations": [
                    {
                        "holder_id": "H1",
                        "year": 2024,
                        "status": "employee",
                        "worked_hours": 1607,
                        "credited_cents": 999,
                    }
                ]
            },
            422,
        ),
        (
            "root",
            "/v1/rights/annual-credits",
            {
                "declarations": [
                    {"holder_id": "nobody", "year": 2024, "status": "employee", "worked_hours": 1607}
                ]
            },
            404,
        ),
        ("root", "/v1/funders", {"funder_id": "X", "kind": "bank"}, 422),
        (
            "h1",
            "/v1/holders/H1/cec/declarations",
            {"activity_kind": "civic_service", "activity_year": 2024, "organisation_id": "ASC", "months": -6},
            422,
        ),
    ]
    for user, path, body, status in cases:
        before = api.snapshot()
        answer = api.post(user, path, body)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["detail"], (path, body)  # a reason
        assert api.snapshot() == before, (path, body)


def test_rights_topups_cec_and_cpa_over_http(api):
    funder = api.post("root", "/v1/funders", {"funder_id": "EMP1", "kind": "employer", "name": "Acme"})
    assert funder.status_code == 201
    credits = api.post(
        "root",
        "/v1/rights/annual-credits",
        {"declarations": [{"holder_id": "H2", "year": 2024, "status": "employee", "worked_hours": 803}]},
    )
    assert credits.status_code == 201 and credits.json()["total_cents"] == 24_985
    corrective = api.post(
        "root",
        "/v1/rights/corrective-topups",
        {"holder_id": "H2", "staff_count": 51, "review_due_on": "2024-06-01", "employer_id": "EMP1"},
    )
    assert corrective.json() == {"holder_id": "H2", "credited_cents": 300_000}
    offer = api.post(
        "opco",
        "/v1/topups",
        {"holder_id": "H1", "training_id": "T1", "amount_cents": 30_000, "spend_before_rights": True},
    )
    assert offer.status_code == 201 and offer.json()["funder_kind"] == "opco"
    topups = api.get("h1", "/v1/holders/H1/topups?training_id=T1").json()
    assert topups["eligible_topups_cents"] == 30_000
    assert topups["funding"]["allocation_cents"] == {"topup:1": 30_000, "cpf": 120_000}
    assert topups["funding"]["out_of_pocket_cents"] == 0
    assert api.get("h2", "/v1/holders/H1/topups").status_code == 403
    api.today = dt.date(2025, 3, 3)
    declared = api.post(
        "h2",
        "/v1/holders/H2/cec/declarations",
        {"activity_kind": "civic_service", "activity_year": 2024, "organisation_id": "OPCO1", "months": 7},
    )
    assert declared.status_code == 201, declared.text
    declaration_id = declared.json()["declaration_id"]
    assert api.post("p1", f"/v1/cec/declarations/{declaration_id}/validate").status_code == 403  # not an organisation
    assert api.post("opco", f"/v1/cec/declarations/{declaration_id}/validate").json()["state"] == "validated"
    run = api.post("root", "/v1/cec/credits", {"activity_year": 2024})
    assert run.json()["credited_cents"] == {"H2": 24_000}
    cpa = api.get("h2", "/v1/holders/H2/cpa").json()
    assert cpa["cpf"] == {
        "available_cents": 374_985,
        "rights_cents": 74_985,
        "corrective_topups_cents": 300_000,
    }
    assert cpa["cec"]["available_cents"] == 24_000
    account = api.get("h2", "/v1/holders/H2/account").json()
    assert (account["cpf_balance_cents"], account["cec_balance_cents"]) == (374_985, 24_000)
    assert api.get("h1", "/v1/holders/H2/cpa").status_code == 403
    assert api.world.problems() == []


def test_funder_sees_only_files_it_cofinances(api):
    file_id = _new_file(api)
    other = _new_file(api, "h2", "H2")
    assert api.post("opco", "/v1/topups", {"enrolment_id": file_id, "amount_cents": 1_000}).status_code == 201
    seen = api.get("opco", f"/v1/enrolments/{file_id}")
    assert seen.status_code == 200 and "holder_id" not in seen.json()
    assert api.get("opco", f"/v1/enrolments/{other}").status_code == 404  # not co-financed: as if missing
    assert [i["enrolment_id"] for i in api.get("opco", "/v1/enrolments").json()["items"]] == [file_id]
    assert api.get("opco", f"/v1/enrolments/{file_id}/messages").status_code == 403
    assert api.get("h1", "/v1/enrolments/99999").status_code == 404
    message = api.post("h1", f"/v1/enrolments/{file_id}/messages", {"body": "Hello"})
    assert message.status_code == 201
    assert [m["body"] for m in api.get("p1", f"/v1/enrolments/{file_id}/messages").json()["items"]] == [
        "Hello"
    ]
